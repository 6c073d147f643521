"""`infgram serve` as a command: worker processes, an access log, a clean stop, and a clear error without the extra."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from infgram.service.server import Settings, index_names
from service_fixtures import golden_index, indexes, server  # noqa: F401 (fixtures)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_without_the_extra_says_how_to_install_it(indexes):
    code = ("import sys; sys.modules['fastapi'] = None; from infgram.cli import main; "
            f"sys.exit(main(['serve', {str(indexes['golden'])!r}]))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("infgram: InfgramError: ") and "pip install 'infgram[serve]'" in lines[0]


def test_serve_with_two_workers_answers_logs_and_stops_on_sigterm(indexes):
    port = free_port()
    command = [sys.executable, "-m", "infgram", "serve", f"main={indexes['golden']}", str(indexes["fm"]),
               "--port", str(port), "--workers", "2", "--max-work", "5"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):  # up to 30 s to start
            try:
                with urllib.request.urlopen(base + "/v1/health", timeout=5) as response:
                    health = json.loads(response.read())
                    assert {key: health[key] for key in ("status", "indexes")} == {"status": "ok", "indexes": ["main", "fm"]}
                    assert health["queues"]["expensive"]["waiting"] == 0
                    assert set(health["verification"]) == {"main", "fm"}  # verified in the background
                    break
            except (urllib.error.URLError, ConnectionError):
                assert process.poll() is None, process.stderr.read()
                time.sleep(0.1)
        request = urllib.request.Request(base + "/v1/count?index=fm", data=b'{"text": "the"}', method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.loads(response.read())["count"] == 18
        request = urllib.request.Request(base + "/v1/search", data=b'{"cnf": "the", "max_work": 99999999}')
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 400 and json.loads(refused.value.read())["error"]["limit"] == 5
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            output, errors = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 0, errors
    assert '"POST /v1/count?index=fm HTTP/1.1" 200' in output + errors  # the access log


def test_settings_travel_to_worker_processes_as_json():
    settings = Settings(index_names(["a/x", "y=b,c"]), max_work=7, api_keys=["k"], rate_limit=2.5, cache=3)
    assert Settings.from_json(settings.to_json()) == settings
