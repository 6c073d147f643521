"""Fixtures of the HTTP tests: the golden corpus indexed, and servers on 127.0.0.1 in this process.

A live server is uvicorn on an ephemeral port in a thread (:func:`running_server`); it stops
when the test that started it ends. Only loopback traffic.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install -e '.[test]'")
pytest.importorskip("uvicorn", reason="the serve extra is not installed: pip install -e '.[test]'")

import uvicorn  # noqa: E402

import infgram  # noqa: E402
from infgram.service.server import Settings, create_app  # noqa: E402

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
CORPUS = GOLDEN / "corpus.jsonl"
QUERIES = GOLDEN / "queries.jsonl"

SCRIPT_DOCUMENT = 'A page about <script>window.pwned = 1; alert("pwned")</script> and <img src=x onerror="window.pwned=2"> tags.'


def golden_documents() -> list[dict]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]


def query_lines() -> list[str]:
    return [line for line in QUERIES.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="session")
def indexes(tmp_path_factory) -> dict[str, Path]:
    """The golden corpus as a suffix-array index ("golden") and an FM-index ("fm"), and a corpus
    whose documents hold HTML ("html")."""
    folder = tmp_path_factory.mktemp("indexes")
    documents = golden_documents()
    infgram.build_from_documents(documents, folder / "golden", progress=False)
    infgram.build_from_documents(documents, folder / "fm", kind="fm", progress=False)
    infgram.build_from_documents([{"text": SCRIPT_DOCUMENT, "metadata": {"title": "<b>bold</b>"}}, *documents],
                                 folder / "html", progress=False)
    return {name: folder / name for name in ("golden", "fm", "html")}


@pytest.fixture(scope="session")
def golden_index(indexes) -> infgram.Index:
    return infgram.Index.open(indexes["golden"])


def settings_for(indexes: dict[str, Path], *names: str, **options) -> Settings:
    """Settings serving the named indexes (default: golden and fm), one thread per pool."""
    options = {"threads": 1, "expensive_threads": 1, **options}
    return Settings(indexes=[(name, str(indexes[name])) for name in names or ("golden", "fm")], **options)


@contextlib.contextmanager
def running_server(settings: Settings) -> Iterator[str]:
    """A live server for ``settings``; yields its base URL, stops it at the end."""
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture(scope="session")
def server(indexes) -> Iterator[str]:
    """A live server of the golden (default) and fm indexes."""
    with running_server(settings_for(indexes, "golden", "fm", threads=2)) as url:
        yield url
