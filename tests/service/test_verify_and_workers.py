"""`serve --verify` verifies the served indexes in the background, and the worker processes of
`serve --workers N` share one state: rate-limit buckets, /metrics, and generations that never
go backwards."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import infgram
from infgram.change.remove import remove
from infgram.service import verification
from service_fixtures import running_server, settings_for  # noqa: F401

DOCUMENTS = [{"text": f"document {i}: the cat sat on the mat, the dog ran far", "metadata": {"n": i}}
             for i in range(40)]


@pytest.fixture()
def index(tmp_path) -> Path:
    infgram.build_from_documents(DOCUMENTS, tmp_path / "index", shard_tokens=600, progress=False)
    return tmp_path / "index"


def _wait(condition, what: str, seconds: float = 60.0):
    """Poll until ``condition()`` is true (a value), failing with ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        found = condition()
        if found:
            return found
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _damage_tokens(directory: Path) -> None:
    """Change one "cat" into "cow" where the checks at open do not look: answers change, but
    the index still opens."""
    path = directory / "shard-00000" / "tokens.bin"
    original = path.read_bytes()
    at = original.find(b"cat", 64)
    while at >= 0:
        path.write_bytes(original[:at] + b"cow" + original[at + 3:])
        try:
            infgram.Index.open(directory)
            return
        except infgram.IndexFormatError:
            at = original.find(b"cat", at + 1)
    raise AssertionError("no damage that opens")


# -- serve --verify --------------------------------------------------------------------------------

def test_a_damaged_index_is_found_in_the_background_and_answers_503_from_then_on(index):
    _damage_tokens(index)
    infgram.Index.open(index).verify_bytes()  # it opens: only reading every byte finds the damage
    with running_server(settings_for({"main": index}, "main")) as url:
        def damaged():
            reply = httpx.get(url + "/v1/health", timeout=10)
            return reply if reply.status_code == 503 else None
        health = _wait(damaged, "the damage was never found")
        assert health.json()["error"]["type"] == "IndexFormatError" and "tokens.bin" in health.json()["error"]["message"]
        assert str(index) not in health.text  # no server path
        for _ in range(3):  # from then on
            reply = httpx.post(url + "/v1/count", json={"text": "cow"}, timeout=10)
            assert reply.status_code == 503 and reply.json()["error"]["type"] == "IndexFormatError"


def test_the_server_answers_and_stays_healthy_while_it_verifies(index, monkeypatch, tmp_path):
    release = tmp_path / "release"  # the verifying child starts once this file exists
    hold = ("import os, runpy, sys, time\n"
            "while not os.path.exists(sys.argv[1]): time.sleep(0.02)\n"
            "runpy.run_module('infgram.service.verification', run_name='__main__')")
    monkeypatch.setattr(verification, "CHILD_COMMAND", [sys.executable, "-c", hold, str(release)])
    with running_server(settings_for({"main": index}, "main")) as url:
        health = httpx.get(url + "/v1/health", timeout=10)
        assert health.status_code == 200
        progress = health.json()["verification"]["main"]
        assert progress == {"state": "verifying", "verified_bytes": 0,
                            "total_bytes": infgram.Index.open(index).verify_bytes()}
        assert httpx.post(url + "/v1/count", json={"text": "cat"}, timeout=10).json()["count"] == 40
        release.write_text("go")
        _wait(lambda: httpx.get(url + "/v1/health", timeout=10).json()["verification"]["main"]["state"] == "verified",
              "the verification did not finish")
        finished = httpx.get(url + "/v1/health", timeout=10).json()["verification"]["main"]
        assert finished["verified_bytes"] == finished["total_bytes"] == progress["total_bytes"]


def test_no_verify_leaves_the_index_unverified(index):
    _damage_tokens(index)
    with running_server(settings_for({"main": index}, "main", verify=False)) as url:
        health = httpx.get(url + "/v1/health", timeout=10).json()
        assert {key: health[key] for key in ("status", "indexes")} == {"status": "ok", "indexes": ["main"]}
        assert "verification" not in health


# -- several workers: one state ---------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _worker_pids(server: subprocess.Popen) -> list[int]:
    """The worker processes of a server started with --workers (not multiprocessing's helpers)."""
    found = []
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    for pid in map(int, children):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"resource_tracker" not in command:
            found.append(pid)
    return found


@pytest.fixture()
def two_workers(index):
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "infgram.cli", "serve", str(index), "--port", str(port),
                               "--workers", "2", "--reload-seconds", "0", "--rate-limit", "2", "--no-access-log"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        def up():
            try:
                return httpx.get(url + "/v1/health", timeout=2).status_code == 200 and len(_worker_pids(server)) == 2
            except httpx.HTTPError:
                assert server.poll() is None, server.stderr.read().decode()
                return False
        _wait(up, "the server did not start", 600)
        yield url, server
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _one_connection_each(url: str, count: int, path: str = "/v1/count", body=None) -> list[httpx.Response]:
    """``count`` requests, each on a new connection (so that either worker may take it)."""
    replies = []
    for _ in range(count):
        with httpx.Client(timeout=10) as client:
            replies.append(client.post(url + path, json=body or {"text": "cat"}))
    return replies


def test_the_rate_limit_holds_across_workers(two_workers):
    url, _ = two_workers
    started = time.monotonic()
    replies = _one_connection_each(url, 40)
    elapsed = time.monotonic() - started
    allowed = sum(reply.status_code == 200 for reply in replies)
    # One bucket for the server: a burst of 2, then 2 a second (each worker's own bucket would allow twice that).
    assert 1 <= allowed <= 2 + 2 * elapsed + 1, (allowed, elapsed)
    assert {reply.status_code for reply in replies} <= {200, 429}


def test_metrics_add_up_every_workers_requests(two_workers):
    url, _ = two_workers
    _one_connection_each(url, 40)

    def counted():  # every worker's requests (answered or refused), in any worker's /metrics
        text = httpx.get(url + "/metrics", timeout=10).text
        total = sum(int(n) for n in re.findall(r'infgram_requests_total\{operation="count",status="\d+"\} (\d+)', text))
        return total == 40
    _wait(counted, "/metrics did not add up the workers' requests")
    time.sleep(1.5)  # a token of the rate limit for /metrics
    text = httpx.get(url + "/metrics", timeout=10).text  # the live workers' queues, added up
    assert re.search(r'^infgram_queue_depth\{queue="cheap"\} \d+$', text, re.MULTILINE)
    assert re.search(r'^infgram_running\{pool="expensive"\} \d+$', text, re.MULTILINE)


def _server_side_pid(server_port: int, client_port: int, workers: list[int]) -> int | None:
    """Which worker holds the server side of the connection from ``client_port`` (from /proc)."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = (int(part.split(":")[1], 16) for part in fields[1:3])
        if local == server_port and remote == client_port:
            inode = fields[9]
    for pid in workers:
        try:
            descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:  # gone
            continue
        for descriptor in descriptors:
            try:
                if os.readlink(descriptor) == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    return None


def _count_on_a_new_connection(url: str, server: subprocess.Popen) -> tuple[int | None, int]:
    """The worker that takes a new connection, and its count of "cat" (waiting out the rate limit)."""
    port = int(url.rsplit(":", 1)[1])
    while True:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.connect()
        try:
            client_port = connection.sock.getsockname()[1]
            connection.request("POST", "/v1/count", body=b'{"text": "cat"}')
            reply = connection.getresponse()
            body = reply.read()
            taken = _server_side_pid(port, client_port, _worker_pids(server))  # the connection is kept alive
            if reply.status == 429:  # the rate limit: wait for the bucket
                time.sleep(0.6)
                continue
            assert reply.status == 200, (reply.status, body)
            return taken, json.loads(body)["count"]
        finally:
            connection.close()


def test_generations_never_go_backwards_across_workers(two_workers, index):
    url, server = two_workers
    first = _worker_pids(server)[0]
    remove(index, documents=[0, 1, 2, 3], progress=False)  # a new generation, found on SIGHUP only
    os.kill(first, signal.SIGHUP)  # one worker alone takes it up
    seen = _wait(lambda: (lambda answer: answer if answer[1] == 36 and answer[0] is not None else None)(
        _count_on_a_new_connection(url, server)), "no worker answered from the new generation")
    # A client has seen the new generation: every other worker catches up before it answers.
    answers = []
    while not any(worker not in (None, seen[0]) for worker, _ in answers):
        answers.append(_count_on_a_new_connection(url, server))
        assert len(answers) < 200, answers
    assert {count for _, count in answers} == {36}, answers
