"""Cheap requests first: the plain route of the cheap operations, the bounded queues, the
per-request deadline, the server-wide cap on expensive queries, Retry-After, and HEAD /."""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from typing import Any

import pytest
from service_fixtures import indexes, running_server, settings_for  # noqa: F401 (fixtures)
from fastapi.testclient import TestClient
from test_http_api import assert_error_body, post

from infgram.cli import main
from infgram.service import server as server_module
from infgram.service.server import ServerSlots, create_app


@pytest.fixture()
def held(monkeypatch):
    """A request whose text is "hold" runs until the returned event is set (set at the end)."""
    release, holding = threading.Event(), threading.Event()
    original = server_module.run_request

    def slow(index, request):
        if request.get("text") == "hold":
            holding.set()
            release.wait(timeout=60)
        return original(index, request)

    monkeypatch.setattr(server_module, "run_request", slow)
    yield holding, release
    release.set()


def _in_background(url: str, path: str, body: str) -> tuple[threading.Thread, list]:
    answers: list = []
    thread = threading.Thread(target=lambda: answers.append(post(url, path, body)))
    thread.start()
    return thread, answers


def test_head_of_the_page_answers_like_get(indexes):
    with TestClient(create_app(settings_for(indexes, "golden"))) as c:
        page, head = c.get("/"), c.head("/")
        assert head.status_code == page.status_code == 200 and head.content == b""
        for name in ("content-type", "content-length", "content-security-policy"):
            assert head.headers[name] == page.headers[name]


def test_the_cheap_route_answers_as_the_application_does(indexes):
    with TestClient(create_app(settings_for(indexes, "golden", cors=["http://ok.example"]))) as c:
        reply = c.post("/v1/count", json={"text": "the"}, headers={"Origin": "http://ok.example"})
        assert reply.json() == {"op": "count", "count": 18}
        assert reply.headers["access-control-allow-origin"] == "http://ok.example"
        assert reply.headers["x-content-type-options"] == "nosniff" and "default-src" in reply.headers[
            "content-security-policy"]
        long_name = c.post("/v1/count?index=" + "x" * 201, json={"text": "the"})
        assert long_name.status_code == 400 and "index" in assert_error_body(long_name.content, "QueryError")["message"]
        missing = c.post("/v1/count?index=nothing", json={"text": "the"})
        assert missing.status_code == 404 and assert_error_body(missing.content, "NotFoundError")
        malformed = c.post("/v1/probability", content=b"{not json")
        assert malformed.status_code == 400 and assert_error_body(malformed.content, "QueryError")
        assert c.get("/v1/count").status_code == 405  # other methods go on to the application
        metrics = c.get("/metrics").text
        assert 'infgram_requests_total{operation="count",status="200"} 1' in metrics
        assert 'infgram_requests_total{operation="count",status="404"} 1' in metrics


def test_a_full_cheap_queue_answers_503_with_retry_after_and_plain_counts_still_answer(indexes, held):
    holding, release = held
    with running_server(settings_for(indexes, "golden", queue=0)) as url:
        # whole_words grows with the occurrences: such a count runs on the cheap pool's one thread
        thread, answers = _in_background(url, "/v1/count", '{"text": "hold", "whole_words": true}')
        try:
            assert holding.wait(timeout=60)
            status, headers, content = post(url, "/v1/count", '{"text": "the", "whole_words": true}')
            assert status == 503 and headers["retry-after"] == "1"
            assert "cheap workers busy" in assert_error_body(content, "OverCapacityError")["message"]
            plain = json.loads(post(url, "/v1/count", '{"text": "the"}')[2])  # answered on the event loop
            assert plain == {"op": "count", "count": 18}
            health = json.loads(urllib_get(url, "/v1/health"))
            assert health["queues"]["cheap"]["running"] == 1 and health["queues"]["expensive"]["running"] == 0
        finally:
            release.set()
            thread.join(timeout=60)
        assert answers[0][0] == 200


def _answered(url: str, path: str, body: str) -> tuple[int, Any, bytes]:
    """The reply once it is not a 503: on a loaded machine a query may outrun a short deadline."""
    for _ in range(600):
        reply = post(url, path, body)
        if reply[0] != 503:
            break
        time.sleep(0.05)
    return reply


def urllib_get(url: str, path: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url + path, timeout=30) as response:
        return response.read().decode("utf-8")


def test_requests_past_their_deadline_are_dropped_naming_it(indexes, held):
    holding, release = held
    with running_server(settings_for(indexes, "golden", deadline_seconds=0.5)) as url:
        thread, answers = _in_background(url, "/v1/documents", '{"text": "hold"}')
        try:
            assert holding.wait(timeout=60)
            status, headers, content = post(url, "/v1/search", '{"cnf": "the"}')  # waits behind it, then gives up
            assert status == 503 and headers["retry-after"] == "1"
            error = assert_error_body(content, "DeadlineExceededError")
            assert error["option"] == "deadline_seconds" and error["limit_seconds"] == 0.5
            assert "waiting for an expensive worker" in error["message"] and "--deadline-seconds" in error["message"]
            thread.join(timeout=60)
            status, headers, content = answers[0]  # the one running was dropped too
            assert status == 503 and headers["retry-after"] == "1"
            assert "still running" in assert_error_body(content, "DeadlineExceededError")["message"]
            assert _answered(url, "/v1/count", '{"text": "the"}')[0] == 200
        finally:
            release.set()
        for _ in range(600):  # the thread gives its place back once its query has finished
            if json.loads(urllib_get(url, "/v1/health"))["queues"]["expensive"]["running"] == 0:
                break
            time.sleep(0.05)
        status, _, content = _answered(url, "/v1/documents", '{"text": "the", "limit": 1}')
        assert status == 200 and json.loads(content)["op"] == "documents"
        metrics = urllib_get(url, "/metrics")
        assert 'infgram_rejections_total{operation="search",reason="over_capacity"} 1' in metrics


def test_server_slots_cap_expensive_queries_across_processes(tmp_path):
    first, second = ServerSlots(str(tmp_path), 1), ServerSlots(str(tmp_path), 1)
    taken = first.acquire(None)
    assert taken is not None and second.acquire(time.monotonic()) is None
    first.release(taken)
    again = second.acquire(time.monotonic())
    assert again is not None
    second.release(again)


def test_a_worker_that_gives_a_slot_back_cannot_take_it_ahead_of_one_waiting(tmp_path):
    first, second = ServerSlots(str(tmp_path), 1), ServerSlots(str(tmp_path), 1)
    held = first.acquire(None)
    taken: list = []
    waiting = threading.Thread(target=lambda: taken.append(second.acquire(time.monotonic() + 60)))
    waiting.start()
    probe = os.open(tmp_path / "turnstile.lock", os.O_RDWR | os.O_CREAT)
    try:
        for _ in range(6000):  # until the second holds the turnstile, looking for a slot
            try:
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(probe, fcntl.LOCK_UN)
                time.sleep(0.005)
            except OSError:
                break
    finally:
        os.close(probe)
    first.release(held)
    assert first.acquire(time.monotonic() + 0.2) is None  # the one waiting has it
    waiting.join(timeout=60)
    assert taken[0] is not None
    second.release(taken[0])


def test_an_expensive_query_waits_for_a_slot_another_worker_holds(indexes, tmp_path):
    settings = settings_for(indexes, "golden", deadline_seconds=0.3, expensive_slots=1, slot_directory=str(tmp_path))

    with running_server(settings) as url:
        assert _answered(url, "/v1/search", '{"cnf": "the"}')[0] == 200  # the slot is free
        other_worker = os.open(tmp_path / "expensive-0.lock", os.O_RDWR | os.O_CREAT)
        fcntl.flock(other_worker, fcntl.LOCK_EX)
        try:
            status, headers, content = post(url, "/v1/search", '{"cnf": "the"}')
            assert status == 503 and headers["retry-after"] == "1"
            error = assert_error_body(content, "DeadlineExceededError")
            assert "expensive worker of the server" in error["message"] or "still running" in error["message"]
            assert post(url, "/v1/count", '{"text": "the"}')[0] == 200  # cheap ones need no slot
        finally:
            os.close(other_worker)
        assert _answered(url, "/v1/search", '{"cnf": "the"}')[0] == 200


@pytest.mark.parametrize("option, value, expected", [("--expensive-slots", "0", "--expensive-slots of at least 1"),
                                                    ("--deadline-seconds", "-1", "--deadline-seconds of 0")])
def test_serve_refuses_bad_priority_options(indexes, capsys, option, value, expected):
    assert main(["serve", str(indexes["golden"]), option, value]) == 1
    assert expected in capsys.readouterr().err


@pytest.mark.parametrize("protocol", ["h11", "httptools"])
def test_pipelined_requests_and_head_over_the_served_protocols(indexes, protocol):
    import socket
    import uvicorn

    chosen = server_module.HeaderTimeoutProtocol if protocol == "h11" else server_module.FastHeaderTimeoutProtocol
    if chosen is None:
        pytest.skip("httptools is not installed")
    config = uvicorn.Config(create_app(settings_for(indexes, "golden")), host="127.0.0.1", port=0, log_level="warning",
                            access_log=False, **{**server_module.connection_options(), "http": chosen})
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive()
            time.sleep(0.02)
        address = server.servers[0].sockets[0].getsockname()[:2]
        with socket.create_connection(address, timeout=30) as raw:
            body = b'{"text": "the"}'
            one = b"POST /v1/count HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
            raw.sendall(one + one + b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n")  # three requests before any reply
            received = b""
            while received.count(b"HTTP/1.1 200") < 3 or not received.endswith(b"\r\n\r\n"):
                chunk = raw.recv(65536)
                assert chunk, received
                received += chunk
        assert received.count(b'{"op": "count", "count": 18}') == 2
        head = received[received.rindex(b"HTTP/1.1 200"):]
        assert b"content-type: text/html" in head.lower() and head.endswith(b"\r\n\r\n")  # a head, no body
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def test_a_count_by_a_field_or_within_a_filter_waits_with_the_expensive_queries(indexes, monkeypatch):
    """A plain count is cheap; with ``by`` or ``where`` it visits every occurrence's document, so
    it is answered on the expensive pool (never on the event loop)."""
    pools_asked: list[bool] = []
    with TestClient(create_app(settings_for(indexes, "golden"))) as c:
        service = c.app.state.service
        original = service.pools.run

        async def recording(expensive, *args, **kwargs):
            pools_asked.append(expensive)
            return await original(expensive, *args, **kwargs)

        monkeypatch.setattr(service.pools, "run", recording)
        plain = c.post("/v1/count", json={"text": "the"})
        by_title = c.post("/v1/count", json={"text": "the", "by": "lang"})
        within = c.post("/v1/count", json={"text": "the", "where": {"lang": {"not": "xx"}}})
    assert plain.status_code == 200 and by_title.status_code == 200 and within.status_code == 200, within.text
    assert by_title.json()["count"] == plain.json()["count"] == sum(by_title.json()["by"].values()) + \
        by_title.json()["missing"]
    assert pools_asked[-2:] == [True, True] and True not in pools_asked[:-2]
