"""Load on `infgram serve`: many keep-alive clients, a mixed workload, latency and throughput per operation.

    python benchmarks/serve_load.py [--clients 50] [--seconds 60] [--workers 2] [--out result.json]

It indexes the wiki and prose corpora as bytes (``../shared/datasets/fetch wiki prose``;
kept under ~/.cache/infgram-bench/serve), starts ``infgram serve`` in a subprocess on
127.0.0.1, and runs a closed-loop load generator in its own process: each client sends its
next request when the last is answered, on one keep-alive connection. Requests are sampled
from the corpus: count, probability, ∞-gram probability, next tokens, documents, search and
attribution of short texts. It reports errors (any non-200), p50/p99 latency and throughput
per operation, and the CPU the generator took (it shares the machine with the server).

Then ``/v1/batch`` count throughput over HTTP against ``count_batch`` in this process.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import resource
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from common import fetch, machine, percentile, read_texts

CACHE = Path.home() / ".cache" / "infgram-bench" / "serve"
CHEAP = ("count", "probability", "infgram_probability")


def build_index() -> Path:
    """The wiki + prose byte index (built once)."""
    import infgram

    index = CACHE / "wiki-prose"
    if not (index / "manifest.json").exists():
        files = fetch(["wiki", "prose"])
        infgram.build([str(f) for f in files], index, overwrite=True, progress=False)
    return index


def workload(texts: list[str], size: int, seed: int) -> list[tuple[str, dict]]:
    """``size`` requests (op, body) sampled from the corpus texts."""
    rng = random.Random(seed)
    texts = [t for t in texts if len(t) > 400]

    def piece(length: int) -> str:
        while True:  # a byte index's next token is one byte: end on an ASCII character
            text = rng.choice(texts)
            start = rng.randrange(0, len(text) - length)
            if text[start + length - 1].isascii():
                return text[start:start + length]

    def words(count: int) -> list[str]:
        return [w for w in piece(200).split()[1:-1] if w.isalpha()][:count] or ["the"]

    makers = {
        "count": lambda: {"text": piece(rng.randint(3, 30))},
        "probability": lambda: (lambda p: {"prompt": p[:-1], "next": p[-1]})(piece(rng.randint(4, 20))),
        "infgram_probability": lambda: (lambda p: {"prompt": p[:-1], "next": p[-1]})(piece(rng.randint(20, 80))),
        "next_tokens": lambda: {"prompt": piece(rng.randint(3, 12)), "top_k": 10},
        "documents": lambda: {"text": piece(rng.randint(6, 20)), "limit": 5, "context": 40},
        "search": lambda: {"cnf": " AND ".join(f'"{w}"' for w in words(2)), "limit": 5, "context": 40},
        "attribute": lambda: {"text": piece(rng.randint(100, 300)), "context": 40},
    }
    weights = {"count": 30, "probability": 20, "infgram_probability": 15, "next_tokens": 15, "documents": 8,
               "search": 7, "attribute": 5}
    ops = rng.choices(list(weights), weights=list(weights.values()), k=size)
    return [(op, makers[op]()) for op in ops]


def generator(port: int, requests: list[tuple[str, dict]], clients: int, seconds: float, queue) -> None:
    """The closed loop, in its own process: ``clients`` threads, each on one keep-alive connection."""
    stop = time.monotonic() + seconds
    records: list[list[tuple[str, int, float]]] = [[] for _ in range(clients)]
    bodies = [(op, json.dumps(body).encode()) for op, body in requests]
    started = time.process_time()

    def client(number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine = records[number]
        at = number * 997
        while time.monotonic() < stop:
            op, body = bodies[at % len(bodies)]
            at += 1
            began = time.perf_counter()
            try:
                connection.request("POST", f"/v1/{op}", body=body, headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                status = 0
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            mine.append((op, status, time.perf_counter() - began))
        connection.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    wall = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - wall
    usage = resource.getrusage(resource.RUSAGE_SELF)
    queue.put({"records": [r for mine in records for r in mine], "wall": wall,
               "cpu": time.process_time() - started, "max_rss_mb": usage.ru_maxrss / 1024})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(indexes: list[str], port: int, workers: int, *options: str) -> subprocess.Popen:
    """`infgram serve INDEXES` on 127.0.0.1:port, once its health check answers."""
    process = subprocess.Popen([sys.executable, "-m", "infgram", "serve", *indexes, "--port", str(port),
                                "--workers", str(workers), "--no-access-log", *options],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for _ in range(600):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/v1/health")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the server did not start: " + (process.stderr.read() if process.stderr else ""))


def summarize(result: dict) -> dict:
    by_op: dict[str, list[tuple[int, float]]] = {}
    for op, status, seconds in result["records"]:
        by_op.setdefault(op, []).append((status, seconds))
    summary = {}
    for op, rows in sorted(by_op.items()):
        latencies = [s * 1000 for _, s in rows]
        summary[op] = {"requests": len(rows), "errors": sum(1 for status, _ in rows if status != 200),
                       "p50_ms": round(percentile(latencies, 0.5), 2), "p99_ms": round(percentile(latencies, 0.99), 2),
                       "per_second": round(len(rows) / result["wall"], 1)}
    return summary


def batch_throughput(index: Path, port: int, texts: list[str], size: int) -> dict:
    """Counts a second: count_batch in this process against POST /v1/batch over HTTP."""
    import infgram

    rng = random.Random(7)
    texts = [t for t in texts if len(t) > 100]
    queries = []
    for _ in range(size):
        text = rng.choice(texts)
        start = rng.randrange(0, len(text) - 20)
        queries.append(text[start:start + rng.randint(3, 20)])
    local = infgram.Index.open(index)
    began = time.perf_counter()
    expected = local.count_batch(queries)
    local_seconds = time.perf_counter() - began
    client = infgram.Client(f"http://127.0.0.1:{port}", timeout=600)
    began = time.perf_counter()
    served = [client.count_batch(queries[i:i + 50_000]) for i in range(0, len(queries), 50_000)]
    http_seconds = time.perf_counter() - began
    import numpy as np

    assert np.array_equal(np.concatenate(served), expected)
    return {"queries": size, "count_batch_per_second": round(size / local_seconds),
            "http_batch_per_second": round(size / http_seconds),
            "ratio": round(local_seconds / http_seconds, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--batch-queries", type=int, default=200_000)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    index = build_index()
    texts = read_texts(sorted(p for name in ("wiki", "prose") for p in (Path.home() / ".cache/infgram-data" / name).glob("*.jsonl")),
                       limit=20_000)
    requests = workload(texts, 20_000, seed=1)
    port = free_port()
    server = start_server([str(index)], port, args.workers)
    try:
        queue = multiprocessing.get_context("spawn").Queue()
        load = multiprocessing.get_context("spawn").Process(
            target=generator, args=(port, requests, args.clients, args.seconds, queue))
        load.start()
        result = queue.get()
        load.join()
        report = {"machine": machine(), "clients": args.clients, "seconds": round(result["wall"], 1),
                  "server_workers": args.workers, "generator_cpu_seconds": round(result["cpu"], 1),
                  "generator_cpu_share": round(result["cpu"] / result["wall"], 2),
                  "total_requests": len(result["records"]),
                  "total_errors": sum(1 for _, status, _ in result["records"] if status != 200),
                  "operations": summarize(result),
                  "batch": batch_throughput(index, port, texts, args.batch_queries)}
    finally:
        server.terminate()
        server.wait(timeout=60)
    write_report(report, args.out)


def write_report(report: dict, out: str | None) -> None:
    """Print the report as JSON, and write it to ``out`` too if given."""
    text = json.dumps(report, indent=2)
    print(text)
    if out:
        Path(out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
