"""Batches of counts through `infgram serve`, against the same counts in process and by `infgram batch`.

    python benchmarks/serve_batch.py [--queries 100000] [--repeat 7] [--workers 1] [--out result.json]

It indexes the wiki and prose corpora as bytes (the index of ``serve_load.py``, kept under
~/.cache/infgram-bench/serve), samples ``--queries`` plain counts from the corpus texts (3 to
20 characters, seeded), starts ``infgram serve`` on 127.0.0.1 and measures, in one run:

1. ``Index.count_batch(queries)`` in this process, and ``Client.count_batch(queries)``
   through the server (one call, as a user makes it: ``count_batch`` requests, the queries in
   one JSON array, the counts in another): the ratio of their speeds in each round, one
   right after the other, and its median over the rounds;
2. ``POST /v1/batch`` of the queries as JSON Lines count requests (the whole reply read),
   against ``infgram batch INDEX < lines`` on the same lines, whose time is given whole
   and less that of an empty batch (the interpreter's start and the index's opening).

The measurements take turns, ``--repeat`` rounds of each, and every time is the best of its
rounds (the client's ratio is also given per round: its median, lowest and highest); every
answer is checked against the in-process counts, and the two batch replies must be the same
bytes. The machine's load moves the figures: the ratios of one run are what to compare.
Targets: the client at least 0.5x the in-process speed (0.6x for a margin), and ``/v1/batch``
no slower than ``infgram batch``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import DATA, machine, read_texts
from serve_load import build_index, free_port, sample_queries, start_server, write_report


def post_batch(port: int, body: bytes) -> bytes:
    """``POST /v1/batch`` with ``body``, the whole (streamed) reply."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        connection.request("POST", "/v1/batch", body=body, headers={"Content-Type": "application/x-ndjson"})
        response = connection.getresponse()
        content = response.read()
        if response.status != 200:
            raise RuntimeError(f"/v1/batch answered {response.status}: {content[:300]!r}")
        return content
    finally:
        connection.close()


def cli_batch(index: Path, lines: Path) -> bytes:
    """``infgram batch INDEX < lines``, its output."""
    with open(lines, "rb") as source:
        return subprocess.run([sys.executable, "-m", "infgram", "batch", str(index)], stdin=source,
                              stdout=subprocess.PIPE, check=True).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    import infgram

    index = build_index()
    texts = read_texts(sorted(p for name in ("wiki", "prose") for p in (DATA / name).glob("*.jsonl")), limit=20_000)
    queries = sample_queries(texts, args.queries)
    lines = "".join(json.dumps({"op": "count", "text": query}, ensure_ascii=False) + "\n" for query in queries)
    body = lines.encode("utf-8")
    local = infgram.Index.open(index)
    expected = local.count_batch(queries)
    port = free_port()
    server = start_server([str(index)], port, args.workers)
    seconds: dict[str, list[float]] = {"local": [], "client": [], "http": [], "cli": [], "start": []}
    try:
        client = infgram.Client(f"http://127.0.0.1:{port}", timeout=600)
        client.count_batch(queries[:1000])  # the connection is open and the server warm
        with tempfile.TemporaryDirectory() as work:
            path, empty = Path(work) / "lines.jsonl", Path(work) / "empty.jsonl"
            path.write_bytes(body)
            empty.write_bytes(b"")
            # Rounds of every measurement in turn, so that a change of the machine's load falls
            # on all of them alike; each figure is the best of its rounds.
            for _ in range(args.repeat):
                for name, function in (("local", lambda: local.count_batch(queries)),
                                       ("client", lambda: client.count_batch(queries)),
                                       ("http", lambda: post_batch(port, body)),
                                       ("cli", lambda: cli_batch(index, path)),
                                       ("start", lambda: cli_batch(index, empty))):
                    began = time.perf_counter()
                    result = function()
                    seconds[name].append(time.perf_counter() - began)
                    if name == "client":
                        assert np.array_equal(result, expected), "the server's counts differ from the index's"
                    elif name == "http":
                        http_reply = result
                    elif name == "cli":
                        cli_reply = result
    finally:
        server.terminate()
        server.wait(timeout=60)
    assert http_reply == cli_reply, "POST /v1/batch and `infgram batch` replied differently"
    assert [json.loads(line)["count"] for line in cli_reply.splitlines()] == expected.tolist()
    local_seconds, client_seconds, http_seconds, cli_seconds, start_seconds = (
        min(seconds[name]) for name in ("local", "client", "http", "cli", "start"))
    ratios = [local / client for local, client in zip(seconds["local"], seconds["client"])]

    report = {
        "machine": machine(), "queries": args.queries, "body_bytes": len(body), "server_workers": args.workers,
        "repeat": args.repeat,
        "count_batch_in_process_per_second": round(args.queries / local_seconds),
        "client_count_batch_per_second": round(args.queries / client_seconds),
        "client_to_in_process_ratio": round(local_seconds / client_seconds, 3),
        "client_to_in_process_ratio_by_round": {"median": round(statistics.median(ratios), 3),
                                                "lowest": round(min(ratios), 3), "highest": round(max(ratios), 3)},
        "http_batch_seconds": round(http_seconds, 3),
        "cli_batch_seconds": round(cli_seconds, 3),
        "cli_batch_seconds_less_start": round(cli_seconds - start_seconds, 3),
        "cli_to_http_batch_ratio": round(cli_seconds / http_seconds, 3),
        "cli_less_start_to_http_batch_ratio": round((cli_seconds - start_seconds) / http_seconds, 3),
    }
    write_report(report, args.out)


if __name__ == "__main__":
    main()
