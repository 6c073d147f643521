"""The HTTP API answers exactly as the JSON Lines batch, and every error has its status and body."""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse

import pytest
from service_fixtures import SCRIPT_DOCUMENT, golden_index, indexes, query_lines, running_server, server, settings_for  # noqa: F401 (fixtures)
from fastapi.testclient import TestClient

from infgram.service import server as server_module
from infgram.service.batch import run_batch
from infgram.service.http import status_of_type
from infgram.service.protocol import OPERATIONS
from infgram.service.server import REPLY_MODELS, REQUEST_MODELS, ErrorReply, create_app


def post(url: str, path: str, body: bytes | str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    """One POST on a fresh connection: (status, headers, body)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("POST", path, body=body.encode() if isinstance(body, str) else body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def get(url: str, path: str) -> str:
    """One GET on a fresh connection: the body as text."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("GET", path)
        return connection.getresponse().read().decode("utf-8")
    finally:
        connection.close()


def assert_error_body(content: bytes, kind: str | None = None) -> dict:
    body = json.loads(content)
    ErrorReply.model_validate(body)
    assert isinstance(body["error"]["type"], str) and isinstance(body["error"]["message"], str)
    if kind is not None:
        assert body["error"]["type"] == kind, body
    return body["error"]


@pytest.fixture(scope="module")
def client(indexes):
    with TestClient(create_app(settings_for(indexes, "golden", "fm", max_work=100_000))) as test_client:
        yield test_client


def test_every_operation_is_documented(client):
    assert set(REQUEST_MODELS) == set(REPLY_MODELS) <= set(OPERATIONS)
    paths = client.get("/openapi.json").json()["paths"]
    for op in OPERATIONS:
        assert "requestBody" in paths[f"/v1/{op}"]["post"], op


def test_the_api_description_needs_nothing_from_another_origin(client):
    import re

    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]  # the page's own policy, no exception
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(source.startswith("/") and not source.startswith("//") for source in sources), sources
    for source in sources:  # every asset is the server's own: from the package installed with it, or static/
        assert client.get(source).status_code == 200, source
    script = client.get("/static/docs.js").text
    assert "http" not in script and "/openapi.json" in script
    assert client.get("/redoc").status_code == 404  # it would load its script from a CDN


def test_every_golden_query_over_http_equals_the_batch_reply(server, golden_index):
    seen = set()
    for line in query_lines():
        expected = json.loads(next(run_batch(golden_index, [line])))
        try:
            request = json.loads(line)
        except ValueError:
            continue  # not JSON: only the batch can carry it (see the streaming test)
        if not isinstance(request, dict) or request.get("op") not in OPERATIONS:
            continue
        op = request.pop("op")
        status, headers, content = post(server, f"/v1/{op}", json.dumps(request))
        assert json.loads(content) == expected, line
        if "error" in expected:
            assert status == status_of_type(expected["error"]["type"]) != 200, line
            assert_error_body(content)
        else:
            assert status == 200, line
            REPLY_MODELS[op].model_validate(json.loads(content))
            seen.add(op)
        assert headers["content-type"].startswith("application/json")
    assert seen >= set(REPLY_MODELS)


def test_batch_streams_every_reply_in_order_with_bad_lines(server, golden_index):
    lines = query_lines()
    body = "\n".join(lines) + "\n\n"
    status, headers, content = post(server, "/v1/batch", body)
    assert status == 200 and headers["content-type"].startswith("application/x-ndjson")
    assert content.decode("utf-8").splitlines() == list(run_batch(golden_index, lines))
    # invalid UTF-8 on one line: that line's error reply, the others answered
    status, _, content = post(server, "/v1/batch", b'{"op": "count", "text": "the"}\n\xff\xfe\n{"op": "count", "text": "cat"}\n')
    replies = [json.loads(line) for line in content.decode("utf-8").splitlines()]
    assert status == 200 and replies[0] == {"op": "count", "count": 18} and "error" in replies[1]
    assert replies[2]["count"] == 4


def test_body_is_json_whatever_the_content_type(client):
    for content_type in ("application/x-www-form-urlencoded", "text/plain", None):
        headers = {"Content-Type": content_type} if content_type else {}
        reply = client.post("/v1/count", content='{"text": "the"}', headers=headers)
        assert reply.status_code == 200 and reply.json() == {"op": "count", "count": 18}


@pytest.mark.parametrize("path, body, status, kind", [
    ("/v1/fly", "{}", 404, "NotFoundError"),
    ("/v1/count?index=nowhere", '{"text": "a"}', 404, "NotFoundError"),
    ("/v2/count", "{}", 404, "NotFoundError"),
    ("/v1/count?index=" + "x" * 300, "{}", 400, "QueryError"),  # FastAPI's validation, mapped
    ("/v1/count", "not json", 400, "QueryError"),
    ("/v1/count", "", 400, "QueryError"),
    ("/v1/count", b"\xff\xfe", 400, "QueryError"),
    ("/v1/count", "[1, 2]", 400, "QueryError"),
    ("/v1/count", '{"text": 5}', 400, "QueryError"),
    ("/v1/count", '{"text": "a", "ids": [1]}', 400, "QueryError"),
    ("/v1/count", '{"ids": [300]}', 400, "QueryError"),
    ("/v1/count", '{"op": "search", "text": "a"}', 400, "QueryError"),
    ("/v1/count", "[" * 100_000 + "]" * 100_000, 400, "QueryError"),
    ("/v1/documents", '{"text": "a", "limit": ' + "9" * 5000 + "}", 400, "QueryError"),
    ("/v1/documents", '{"text": "a", "limit": 1e999}', 400, "QueryError"),
    ("/v1/next_tokens", '{"text": "the", "top_k": -1}', 400, "QueryError"),
    ("/v1/probability", '{"prompt": "The", "next": "cat sat"}', 400, "QueryError"),
    ("/v1/search", '{"cnf": []}', 400, "QueryError"),
    ("/v1/search", '{"cnf": "cat dog"}', 400, "QueryError"),
    ("/v1/next_tokens?index=fm", '{"text": "the"}', 400, "UnsupportedOperationError"),
    ("/v1/search", '{"cnf": "the", "max_work": 1}', 400, "LimitError"),
])
def test_error_status_and_body(client, path, body, status, kind):
    reply = client.post(path, content=body)
    assert reply.status_code == status, reply.text
    assert_error_body(reply.content, kind)


def test_search_syntax_error_has_its_position(client):
    reply = client.post("/v1/search", json={"cnf": '"cat" AND (dog OR'})
    assert reply.status_code == 400
    error = assert_error_body(reply.content, "QueryError")
    assert error["position"] == 17 and "at character 17" in error["message"]


def test_limit_error_has_typed_fields_and_no_request_lifts_the_server_ceiling(indexes):
    with TestClient(create_app(settings_for(indexes, "golden", max_work=5))) as c:
        reply = c.post("/v1/search", json={"cnf": "the OR a", "max_work": 10**15})
        error = assert_error_body(reply.content, "LimitError")
        assert reply.status_code == 400 and error["option"] == "max_work" and error["limit"] == 5 and error["needed"] > 5
        reply = c.post("/v1/documents", json={"text": "the", "max_work": 10**15}).json()
        assert reply["num_documents_exact"] is False


def test_wrong_method_and_unknown_paths(client):
    assert client.get("/v1/count").status_code == 405
    assert_error_body(client.get("/v1/count").content, "QueryError")
    reply = client.get("/etc/passwd")
    assert reply.status_code == 404
    assert_error_body(reply.content, "NotFoundError")
    reply = client.get("/static/../../server.py")
    assert reply.status_code == 404


def test_body_over_the_size_limit_is_413(indexes):
    limits = server_module.Limits(max_body_bytes=1000, max_batch_body_bytes=2000)
    with TestClient(create_app(settings_for(indexes, "golden", limits=limits))) as c:
        reply = c.post("/v1/count", content=json.dumps({"text": "a" * 5000}))
        assert reply.status_code == 413
        error = assert_error_body(reply.content, "RequestTooLargeError")
        assert error["option"] == "max_body_bytes" and error["limit"] == 1000
        chunked = c.post("/v1/batch", content=iter([b'{"op": "count", "text": "a"}\n'] * 100))  # no Content-Length
        assert chunked.status_code == 413
        error = assert_error_body(chunked.content, "RequestTooLargeError")
        assert error["option"] == "max_batch_body_bytes" and error["limit"] == 2000
        assert "--max-batch-body-bytes" in error["message"]
        # A batch has its own limit: a body over max_body_bytes but within it is answered.
        batch = c.post("/v1/batch", content=b'{"op": "count", "text": "a"}\n' * 50)
        assert batch.status_code == 200 and len(batch.text.splitlines()) == 50
        assert c.post("/v1/count", content='{"text": "a"}').status_code == 200


def test_a_batch_of_100_000_plain_counts_fits_the_default_limits(indexes, golden_index):
    queries = [f"the {n % 97} and a few words"[: 8 + n % 17] for n in range(100_000)]
    body = "".join(json.dumps({"op": "count", "text": query}) + "\n" for query in queries).encode("utf-8")
    assert len(body) > server_module.Limits().max_body_bytes  # larger than any other request may be
    with TestClient(create_app(settings_for(indexes, "golden"))) as c:
        reply = c.post("/v1/batch", content=body)
        assert reply.status_code == 200
        counts = [json.loads(line)["count"] for line in reply.text.splitlines()]
    assert counts == golden_index.count_batch(queries).tolist()


def test_api_key_is_required_when_configured(indexes):
    with TestClient(create_app(settings_for(indexes, "golden", api_keys=["sesame"]))) as c:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic sesame"}):
            reply = c.post("/v1/count", json={"text": "a"}, headers=headers)
            assert reply.status_code == 401 and reply.headers["WWW-Authenticate"] == "Bearer"
            assert_error_body(reply.content, "UnauthorizedError")
        assert c.get("/metrics").status_code == 401
        assert c.get("/v1/health").status_code == 200
        assert c.post("/v1/count", json={"text": "the"}, headers={"Authorization": "Bearer sesame"}).json()["count"] == 18


def test_rate_limit_answers_429(indexes):
    with TestClient(create_app(settings_for(indexes, "golden", rate_limit=3))) as c:
        statuses = [c.post("/v1/count", json={"text": "a"}).status_code for _ in range(20)]
        assert statuses[:3] == [200, 200, 200] and 429 in statuses
        reply = c.post("/v1/count", json={"text": "a"})
        if reply.status_code == 429:
            assert_error_body(reply.content, "RateLimitedError")
            assert reply.headers["Retry-After"] == "1"


def test_damaged_index_answers_503(indexes, tmp_path):
    import shutil

    damaged = tmp_path / "damaged"
    shutil.copytree(indexes["golden"], damaged)
    (damaged / "manifest.json").write_text("{ not json", encoding="utf-8")
    settings = settings_for(indexes, "golden")
    settings.indexes.append(("damaged", str(damaged)))
    with TestClient(create_app(settings)) as c:
        reply = c.post("/v1/count?index=damaged", json={"text": "a"})
        assert reply.status_code == 503
        assert_error_body(reply.content, "IndexFormatError")
        assert c.get("/v1/health").status_code == 503
        listed = c.get("/v1/indexes").json()["indexes"]
        assert listed[0]["info"]["num_documents"] == 12 and listed[1]["error"]["type"] == "IndexFormatError"
        assert c.post("/v1/count", json={"text": "the"}).json()["count"] == 18  # the others still answer


def test_over_capacity_answers_503_at_once_and_in_flight_requests_finish(indexes, monkeypatch):
    release, holding = threading.Event(), threading.Event()
    original = server_module.run_request

    def slow(index, request):
        if request.get("text") == "hold":
            holding.set()
            release.wait(timeout=30)
        return original(index, request)

    monkeypatch.setattr(server_module, "run_request", slow)
    with running_server(settings_for(indexes, "golden", queue=0)) as url:
        held: list = []
        thread = threading.Thread(target=lambda: held.append(post(url, "/v1/documents", '{"text": "hold"}')))
        thread.start()
        try:
            assert holding.wait(timeout=60)  # the held request runs: the expensive pool is full
            status, headers, content = post(url, "/v1/search", '{"cnf": "the"}')
            assert status == 503 and headers["retry-after"] == "1"
            assert_error_body(content, "OverCapacityError")
            assert post(url, "/v1/count", '{"text": "the"}')[0] == 200  # cheap operations have their own pool
        finally:
            release.set()
            thread.join(timeout=30)
        assert held[0][0] == 200 and json.loads(held[0][2])["op"] == "documents"
        assert 'infgram_rejections_total{operation="search",reason="over_capacity"} 1' in get(url, "/metrics")


@pytest.mark.parametrize("body", [
    {"cnf": " OR ".join(f'"{letter}"' for letter in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .,")},
    {"cnf": [[chr(c) for c in range(32, 127) if chr(c) not in '"']], "within": 1},
])
def test_the_most_expensive_searches_are_refused_or_answered(client, body):
    reply = client.post("/v1/search", json=body)
    assert reply.status_code in (200, 400)
    if reply.status_code == 400:
        assert assert_error_body(reply.content)["type"] == "LimitError"


def test_large_cooccurrence_and_attribution_are_refused(client):
    phrases = [f"phrase {number}" for number in range(1000)]
    reply = client.post("/v1/cooccurrence", json={"phrases": phrases})
    error = assert_error_body(reply.content, "LimitError")
    assert reply.status_code == 400 and error["option"] == "max_cooccurrence_pairs" and error["needed"] == 499_500
    reply = client.post("/v1/cooccurrence", json={"phrases": phrases * 2, "pairs": [[0, 1]]})
    assert assert_error_body(reply.content, "LimitError")["option"] == "max_cooccurrence_phrases"
    reply = client.post("/v1/attribute", json={"text": "the cat sat " * 2000})
    assert assert_error_body(reply.content, "LimitError")["option"] == "max_attribute_tokens"
    reply = client.post("/v1/contamination", json={"text": " ".join(f"w{number}" for number in range(150_000))})
    assert assert_error_body(reply.content, "LimitError")["option"] == "max_batch_queries"
    assert client.post("/v1/cooccurrence", json={"phrases": phrases[:50], "document_counts": True}).status_code == 200


def test_indexes_health_metrics_and_headers(client):
    listed = client.get("/v1/indexes").json()
    assert listed["default"] == "golden" and [i["name"] for i in listed["indexes"]] == ["golden", "fm"]
    assert listed["indexes"][1]["info"]["index_kind"] == "fm"
    assert client.get("/v1/health").json()["status"] == "ok"
    client.post("/v1/count", json={"text": "a"})
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'infgram_requests_total{operation="count",status="200"}' in metrics.text
    assert 'infgram_request_seconds_bucket{operation="count",le="+Inf"}' in metrics.text
    assert 'infgram_queue_depth{queue="cheap"} 0' in metrics.text
    assert 'infgram_queue_depth{queue="expensive"} 0' in metrics.text
    page = client.get("/")
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script src=\"/static/page.js\"" in page.text and "unsafe-inline" not in page.headers["content-security-policy"]
    assert client.get("/static/page.js").status_code == 200
    assert client.get("/openapi.json").json()["components"]["schemas"]["CountRequest"]["properties"]["text"]
    assert "access-control-allow-origin" not in client.post("/v1/count", json={"text": "a"},
                                                            headers={"Origin": "http://evil.example"}).headers


def test_cors_only_for_the_given_origin(indexes):
    with TestClient(create_app(settings_for(indexes, "golden", cors=["http://ok.example"]))) as c:
        good = c.post("/v1/count", json={"text": "a"}, headers={"Origin": "http://ok.example"})
        bad = c.post("/v1/count", json={"text": "a"}, headers={"Origin": "http://evil.example"})
        assert good.headers["access-control-allow-origin"] == "http://ok.example"
        assert "access-control-allow-origin" not in bad.headers


def test_reply_cache_gives_the_same_replies(indexes):
    with TestClient(create_app(settings_for(indexes, "html", cache=2))) as c:
        first = [c.post("/v1/documents", json={"text": text}).content for text in ("script", "the", "script", "zz")]
        again = [c.post("/v1/documents", json={"text": text}).content for text in ("script", "the", "script", "zz")]
        assert first == again and SCRIPT_DOCUMENT.encode()[:20] in first[0]
        assert c.post("/v1/count", json={"text": 5}).status_code == 400  # errors are cached with their status
        assert c.post("/v1/count", json={"text": 5}).status_code == 400


def test_an_index_served_from_disk_answers_alike_and_counts_its_reads(indexes, golden_index):
    """``load="disk"`` in the settings (``serve --load disk``): the same answers, and /metrics
    counts the bytes each operation read from storage."""
    with TestClient(create_app(settings_for(indexes, "golden", load="disk", query_memory="4K"))) as c:
        for text in ("a", "the", "zzz"):
            assert c.post("/v1/count", json={"text": text}).json()["count"] == golden_index.count(text)
        info = c.get("/v1/indexes").json()["indexes"][0]["info"]
        assert info["memory"]["load"] == "disk" and info["memory"]["tier_bytes"] <= 4096
        metrics = c.get("/metrics").text
        assert 'infgram_disk_requests_total{operation="count"} 3' in metrics
        assert 'infgram_disk_read_bytes_total{operation="count"}' in metrics
