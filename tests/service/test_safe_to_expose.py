"""A server safe to put on a network: a batch has a budget as a whole and stops when its client
goes, limits hold per client identity, preflights pass before authentication, and no reply
shows a path of the server's machine."""

from __future__ import annotations

import http.client
import json
import re
import socket
import time
import urllib.parse

import pytest
import service_fixtures
from service_fixtures import indexes, running_server, settings_for  # noqa: F401 (fixtures)
from fastapi.testclient import TestClient

from infgram.service.http import GuardedIndex
from infgram.service.server import create_app

SEARCH_LINE = '{"op": "search", "cnf": [["e"], ["a"], ["t"]], "within": 1000, "seed": %d}'


def _batch(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"


# -- 1. a batch has a budget as a whole, and stops when its client goes ---------------------------
def test_a_batch_past_its_whole_budget_gets_the_lines_left_refused_by_name(indexes):
    with TestClient(create_app(settings_for(indexes, "golden", max_batch_work=2_000))) as c:
        reply = c.post("/v1/batch", content=_batch([SEARCH_LINE % seed for seed in range(200)]))
        assert reply.status_code == 200
        replies = [json.loads(line) for line in reply.text.splitlines()]
        assert len(replies) == 200
        answered = [r for r in replies if "error" not in r]
        refused = [r["error"] for r in replies if "error" in r]
        assert answered and refused, "some lines fit the batch's budget, the others do not"
        assert all(e["type"] == "LimitError" and e["option"] == "max_batch_work" and e["limit"] == 2_000
                   for e in refused)
        assert "--max-batch-work" in refused[0]["message"]
        first_refused = next(n for n, r in enumerate(replies) if "error" in r)
        assert all("error" in r for r in replies[first_refused:]), "once spent, every line left is refused"
        # Counts cost no work units: a batch of them is never refused.
        counts = c.post("/v1/batch", content=_batch(['{"op": "count", "text": "the"}'] * 500))
        assert all("error" not in json.loads(line) for line in counts.text.splitlines())


class _SlowIndex:
    """An index whose searches take a little while each, so a batch of them outlives its client."""

    def __init__(self, index):
        self.index = index

    def __getattr__(self, name):
        return getattr(self.index, name)

    searches = 0

    def search(self, *args, **kwargs):
        _SlowIndex.searches += 1  # one thread answers them: no lock needed
        time.sleep(0.005)
        return self.index.search(*args, **kwargs)


def _batch_lines_taken(url: str) -> int:
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode("utf-8")
    finally:
        connection.close()
    return int(re.search(r"^infgram_batch_lines_total (\d+)$", text, re.MULTILINE).group(1))


def _slow_app(settings):
    app = create_app(settings)
    service = app.state.service
    service.indexes["golden"] = GuardedIndex(_SlowIndex(service.indexes["golden"].index), settings.limits)
    return app


def test_a_batch_in_flight_is_cancelled_when_the_server_stops(indexes, monkeypatch):
    monkeypatch.setattr(service_fixtures, "create_app", _slow_app)
    total = 3_000  # one chunk of the batch (it reads lines 4,096 at a time)
    body = _batch(['{"op": "search", "cnf": "the"}'] * total).encode()
    with running_server(settings_for(indexes, "golden", max_batch_work=10**12)) as url:  # 5 s to finish in flight
        parts = urllib.parse.urlsplit(url)
        raw = socket.create_connection((parts.hostname, parts.port), timeout=30)
        raw.sendall(b"POST /v1/batch HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        assert raw.recv(1).startswith(b"H")  # the batch is running; its client stays
    try:
        stopped_at = _SlowIndex.searches
        time.sleep(1)
        assert _SlowIndex.searches == stopped_at < total, "the batch went on after the server stopped"
    finally:
        raw.close()


def test_a_batch_whose_client_has_gone_stops_and_another_client_is_answered(indexes, monkeypatch):
    monkeypatch.setattr(service_fixtures, "create_app", _slow_app)
    total = 3_000  # one chunk of the batch (it reads lines 4,096 at a time)
    body = _batch(['{"op": "search", "cnf": "the"}'] * total).encode()
    with running_server(settings_for(indexes, "golden", max_batch_work=10**12)) as url:
        parts = urllib.parse.urlsplit(url)
        with socket.create_connection((parts.hostname, parts.port), timeout=30) as raw:
            raw.sendall(b"POST /v1/batch HTTP/1.1\r\nHost: test\r\nContent-Type: application/x-ndjson\r\n"
                        b"Content-Length: %d\r\n\r\n" % len(body) + body)
            assert raw.recv(1).startswith(b"H")  # the response has begun
            for _ in range(400):  # the head may come before any line is taken: wait until the batch runs
                if _batch_lines_taken(url) > 0:
                    break
                time.sleep(0.025)
        # The client has gone: the batch takes at most the lines already on their way.
        taken, previous = _batch_lines_taken(url), -1
        for _ in range(200):
            if taken == previous:
                break
            time.sleep(0.25)
            taken, previous = _batch_lines_taken(url), taken
        assert taken == previous, "the dropped batch went on taking lines"
        assert 0 < taken < total
        # The one thread for expensive work is free again: another client's search is answered.
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        connection.request("POST", "/v1/search", body=b'{"cnf": "the", "limit": 0}')
        response = connection.getresponse()
        assert response.status == 200 and json.loads(response.read())["num_documents"] > 0
        connection.close()
        assert _batch_lines_taken(url) == taken


# -- 2. the rate limit counts clients, not headers --------------------------------------------------
def _statuses(c, headers_of_each: list[dict]) -> list[int]:
    return [c.post("/v1/count", json={"text": "a"}, headers=headers).status_code for headers in headers_of_each]


def test_a_random_bearer_value_without_keys_gets_no_fresh_bucket(indexes):
    with TestClient(create_app(settings_for(indexes, "golden", rate_limit=2))) as c:
        statuses = _statuses(c, [{"Authorization": f"Bearer random-{n}"} for n in range(20)])
        assert statuses[:2] == [200, 200] and statuses.count(429) >= 15


@pytest.mark.parametrize("spelling", ["Bearer sesame", "Bearer      sesame", "bearer sesame", "  BEARER\tsesame  ",
                                      "Bearer sesame   "])
def test_the_spellings_of_one_key_share_its_bucket(indexes, spelling):
    with TestClient(create_app(settings_for(indexes, "golden", rate_limit=2, api_keys=["sesame", "other"]))) as c:
        statuses = _statuses(c, [{"Authorization": "Bearer sesame"}] * 2 + [{"Authorization": spelling}] * 10)
        assert statuses[:2] == [200, 200] and statuses[2:].count(429) >= 8, statuses
        # Another key is another client.
        assert _statuses(c, [{"Authorization": "Bearer other"}]) == [200]


def test_forwarded_addresses_count_only_from_a_trusted_proxy(indexes):
    forwarded = [{"X-Forwarded-For": f"203.0.113.{n}"} for n in range(20)]
    with TestClient(create_app(settings_for(indexes, "golden", rate_limit=2))) as c:
        assert _statuses(c, forwarded).count(429) >= 15  # anyone may send the header: it is not read
    # TestClient's requests come from "testclient": as a trusted proxy, it names each client.
    with TestClient(create_app(settings_for(indexes, "golden", rate_limit=2, trusted_proxies=["testclient"]))) as c:
        assert _statuses(c, forwarded) == [200] * 20
        spoofed = [{"X-Forwarded-For": f"198.51.100.{n}, 192.0.2.1"} for n in range(10)]
        assert _statuses(c, spoofed).count(429) >= 7  # the proxy's own entry is the last: the client's spoofs are left of it


# -- 3. a preflight is answered before the key is asked for ----------------------------------------
def test_a_preflight_from_the_allowed_origin_passes_before_authentication(indexes):
    origin = "http://ok.example"
    with TestClient(create_app(settings_for(indexes, "golden", cors=[origin], api_keys=["sesame"]))) as c:
        preflight = c.options("/v1/count", headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                                                    "Access-Control-Request-Headers": "authorization, content-type"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == origin
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        # The request itself still needs the key; the browser can read either answer.
        refused = c.post("/v1/count", json={"text": "the"}, headers={"Origin": origin})
        assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == origin
        answered = c.post("/v1/count", json={"text": "the"}, headers={"Origin": origin, "Authorization": "Bearer sesame"})
        assert answered.status_code == 200 and answered.headers["access-control-allow-origin"] == origin
        other = c.options("/v1/count", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in other.headers


# -- 4. no reply shows a path of the server's machine ----------------------------------------------
def test_indexes_and_health_show_names_and_file_names_only(tmp_path):
    import infgram

    infgram.build_from_documents(["a rose is a rose"], tmp_path / "served", progress=False)
    data = tmp_path / "private-inputs"
    data.mkdir()
    (data / "more.jsonl").write_text('{"text": "a tulip"}\n', encoding="utf-8")
    infgram.add(tmp_path / "served", [str(data / "more.jsonl")], progress=False)
    settings = settings_for({"served": tmp_path / "served"}, "served")
    with TestClient(create_app(settings)) as c:
        for path in ("/v1/indexes", "/v1/health"):
            reply = c.get(path)
            assert reply.status_code == 200 and str(tmp_path) not in reply.text, reply.text
        info = c.get("/v1/indexes").json()["indexes"][0]["info"]
        assert "directory" not in info and info["changes"][-1]["inputs"] == ["more.jsonl"]


def test_a_damaged_file_is_named_within_its_index(indexes, tmp_path):
    import shutil

    damaged = tmp_path / "secret-place" / "damaged"
    shutil.copytree(indexes["golden"], damaged)
    target = next(damaged.rglob("suffix_array.bin"))
    with open(target, "r+b") as file:
        file.truncate(target.stat().st_size - 3)
    settings = settings_for(indexes, "golden")
    settings.indexes.append(("damaged", str(damaged)))
    with TestClient(create_app(settings)) as c:
        replies = [c.get("/v1/health"), c.get("/v1/indexes"), c.post("/v1/count?index=damaged", json={"text": "a"}),
                   c.post("/v1/batch?index=damaged", content='{"op": "count", "text": "a"}\n')]
        for reply in replies:
            assert "secret-place" not in reply.text and str(tmp_path) not in reply.text, reply.text
        health = replies[0].json()
        assert replies[0].status_code == 503 and health["error"]["type"] == "IndexFormatError"
        assert health["index"] == "damaged"
        assert f"damaged/{target.relative_to(damaged)}" in health["error"]["message"], health
        assert replies[2].status_code == 503


# -- 5. smaller things -----------------------------------------------------------------------------
def test_a_wrong_method_is_answered_405_naming_the_right_one(indexes):
    with TestClient(create_app(settings_for(indexes, "golden"))) as c:
        reply = c.post("/v1/health")
        assert reply.status_code == 405
        message = reply.json()["error"]["message"]
        assert message.startswith("expected GET for /v1/health, found POST"), message
        assert c.post("/v1/indexes").json()["error"]["message"].startswith("expected GET for /v1/indexes")
        assert c.get("/v1/count").json()["error"]["message"].startswith("expected POST for /v1/count, found GET")


def test_a_limit_error_over_http_does_not_suggest_what_the_ceiling_forbids(indexes):
    with TestClient(create_app(settings_for(indexes, "golden", max_work=5))) as c:
        single = c.post("/v1/search", json={"cnf": "the OR a"}).json()["error"]
        lines = c.post("/v1/batch", content='{"op": "search", "cnf": "the OR a"}\n').text
        for error in (single, json.loads(lines)["error"]):
            assert error["type"] == "LimitError" and error["option"] == "max_work"
            assert "--exact" not in error["message"] and "exact=True" not in error["message"]
            assert "narrow the query" in error["message"] and "operator" in error["message"]


def _live_server(indexes, parser: str, header_timeout: float):
    """A live server with the connection options ``infgram serve`` uses, on one HTTP parser,
    with ``header_timeout`` seconds for a request's headers; yields its (host, port)."""
    import threading

    import uvicorn

    from infgram.service import server as server_module

    protocol = server_module.HeaderTimeoutProtocol if parser == "h11" else server_module.FastHeaderTimeoutProtocol
    if protocol is None:
        pytest.skip("httptools is not installed")
    timed = type("TimedHeaders", (protocol,), {"header_timeout": header_timeout})
    options = {**server_module.connection_options(), "http": timed}
    config = uvicorn.Config(create_app(settings_for(indexes, "golden")), host="127.0.0.1", port=0, log_level="warning",
                            access_log=False, **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive()
        time.sleep(0.02)
    yield server.servers[0].sockets[0].getsockname()[:2]
    server.should_exit = True
    thread.join(timeout=15)


@pytest.fixture(params=["h11", "httptools"])
def guarded_server(indexes, request):
    """A live server with a short header timeout (half a second), on each HTTP parser."""
    yield from _live_server(indexes, request.param, 0.5)


@pytest.fixture(params=["h11", "httptools"])
def patient_server(indexes, request):
    """A live server with the header timeout ``infgram serve`` uses, on each HTTP parser."""
    from infgram.service import server as server_module

    yield from _live_server(indexes, request.param, server_module.HeaderTimeoutProtocol.header_timeout)


def _closed_by_server(raw: socket.socket) -> bool:
    """Read until the server closes the connection (True) or 30 s pass without it (False)."""
    raw.settimeout(30)
    try:
        while raw.recv(65536):
            pass
    except socket.timeout:
        return False
    return True


def test_a_connection_that_never_finishes_its_headers_is_closed(guarded_server):
    with socket.create_connection(guarded_server) as raw:
        raw.sendall(b"GET /v1/health HTTP/1.1\r\nHost: test\r\nX-Slow: ")  # and nothing more
        assert _closed_by_server(raw)
    # The same after a reply on a kept-alive connection: the next headers have as long.
    with socket.create_connection(guarded_server) as raw:
        raw.sendall(b"GET /v1/health HTTP/1.1\r\nHost: test\r\n\r\nGET /v1/health HTTP/1.1\r\nHost: te")
        assert _closed_by_server(raw)


def test_64_kept_alive_connections_from_one_address_are_all_answered(patient_server):
    # The header timeout of ``infgram serve``: a connection idle between its two requests (while
    # the other 63 are read) must not be closed for it on a loaded machine.
    host, port = patient_server
    connections = [http.client.HTTPConnection(host, port, timeout=30) for _ in range(64)]
    try:
        for _ in range(2):
            for connection in connections:
                connection.request("POST", "/v1/count", body=b'{"text": "the"}')
            for connection in connections:
                response = connection.getresponse()
                assert response.status == 200 and json.loads(response.read())["count"] == 18
    finally:
        for connection in connections:
            connection.close()


def test_an_oversized_header_is_refused(guarded_server):
    with socket.create_connection(guarded_server) as raw:
        # Headers past the limit, still unfinished: refused as they arrive, not buffered on.
        raw.sendall(b"GET /v1/health HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * (64 * 1024))
        raw.settimeout(30)
        assert raw.recv(65536).startswith(b"HTTP/1.1 400")
