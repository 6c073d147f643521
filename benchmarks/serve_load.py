"""Load on `infgram serve`: 50 keep-alive clients, cheap and expensive requests, latency by class.

    cd benchmarks && python serve_load.py [--seconds 60] [--workers N] [--batch-queries 200000] [--out result.json]
    cd benchmarks && python serve_load.py --large /big/index --cap 1G   # also an index larger than its memory (root)

The mix of the issue "a server a whole lab can share": 50 closed-loop keep-alive clients on
asyncio, in 2 separate processes (25 each); each sends its next request when the last is
answered, on one connection. 85% of the requests are cheap (count, probability,
infgram_probability, next_tokens with top_k 10, equally) and 15% expensive (documents with
limit 10, a search of two content words of 6 letters or more ANDed, attribute of a 300-character
text, equally), sampled
with a fixed seed from the indexed texts. It runs on two byte indexes, each served by
``infgram serve`` with its defaults (``--workers N`` if given) in a subprocess on 127.0.0.1:

- ``wiki-prose``: the wiki and prose corpora (about 58 MB);
- ``small``: the English wiki alone, 10% of its documents held out (about 5 MB).

Both are built once under ~/.cache/infgram-bench/serve. For each it reports, after a warm-up
that is not counted: cheap p50/p99 and expensive p99 (ms), p50/p99 by operation, errors (any
reply but 200, or a broken connection), the expensive share of the completed requests, and the
CPU the two generator processes took (seconds, a share of one core, and of the machine), since
they share the machine with the server. The targets: cheap p99 <= 25 ms, p50 <= 3 ms, 0 errors,
expensive >= 10% of completions.

Then ``/v1/batch`` count throughput over HTTP against ``count_batch`` in this process
(``--batch-queries 0`` leaves it out).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing
import os
import random
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

from common import DATA, fetch, machine, percentile, read_texts, split_corpus
from from_disk import MemoryCap
from infgram.resources import parse_size

CACHE = Path.home() / ".cache" / "infgram-bench" / "serve"
CHEAP = ("count", "probability", "infgram_probability", "next_tokens")
EXPENSIVE = ("documents", "search", "attribute")
CHEAP_SHARE = 0.85
CLIENTS, PROCESSES = 50, 2


def build_index() -> Path:
    """The wiki + prose byte index (built once)."""
    import infgram

    index = CACHE / "wiki-prose"
    if not (index / "manifest.json").exists():
        files = fetch(["wiki", "prose"])
        infgram.build([str(f) for f in files], index, overwrite=True, progress=False)
    return index


def build_small_index() -> tuple[Path, Path]:
    """The small byte index: the English wiki with 10% of its documents held out (built once);
    (index, the corpus file it was built from)."""
    import infgram

    index, corpus = CACHE / "small", CACHE / "small-corpus.jsonl"
    if not (index / "manifest.json").exists():
        fetch(["wiki"])
        split_corpus([DATA / "wiki" / "en.jsonl"], corpus, held_out_share=0.1, seed=1)
        infgram.build([str(corpus)], index, overwrite=True, progress=False)
    return index, corpus


def workload(texts: list[str], size: int, seed: int, cheap_share: float = CHEAP_SHARE) -> list[tuple[str, dict]]:
    """``size`` requests (op, body) sampled from the texts: 85% cheap, 15% expensive, each
    class's operations equally."""
    rng = random.Random(seed)
    texts = [t for t in texts if len(t) > 400]

    def piece(length: int) -> str:
        while True:  # a byte index's next token is one byte: end on an ASCII character
            text = rng.choice(texts)
            start = rng.randrange(0, len(text) - length)
            if text[start + length - 1].isascii():
                return text[start:start + length]

    def words(count: int) -> list[str]:
        while True:  # content words: two stop words ANDed exceed the default work budget (a 400)
            found = [w for w in piece(200).split()[1:-1] if w.isalpha() and len(w) >= 6][:count]
            if len(found) == count:
                return found

    makers = {
        "count": lambda: {"text": piece(rng.randint(3, 30))},
        "probability": lambda: (lambda p: {"prompt": p[:-1], "next": p[-1]})(piece(rng.randint(4, 20))),
        "infgram_probability": lambda: (lambda p: {"prompt": p[:-1], "next": p[-1]})(piece(rng.randint(20, 80))),
        "next_tokens": lambda: {"prompt": piece(rng.randint(3, 12)), "top_k": 10},
        "documents": lambda: {"text": piece(rng.randint(6, 20)), "limit": 10},
        "search": lambda: {"cnf": " AND ".join(f'"{w}"' for w in words(2))},
        "attribute": lambda: {"text": piece(300)},
    }
    requests = []
    for _ in range(size):
        cheap = rng.random() < cheap_share
        op = rng.choice(CHEAP if cheap else EXPENSIVE)
        requests.append((op, makers[op]()))
    return requests


def _message(op: str, body: dict) -> bytes:
    """One HTTP/1.1 request, whole (written in one call)."""
    content = json.dumps(body).encode("utf-8")
    return (f"POST /v1/{op} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(content)}\r\n\r\n").encode("ascii") + content


async def _client(port: int, requests: list[tuple[str, bytes]], first: int, stop: float,
                  records: list[tuple[str, int, float, float]], failures: list[str]) -> None:
    """One closed-loop client on one keep-alive connection: (op, status, start, seconds) per request."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    at = first
    while time.monotonic() < stop:
        op, message = requests[at % len(requests)]
        at += 1
        began = time.monotonic()
        try:
            writer.write(message)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            content = await reader.readexactly(length)
            if status != 200 and len(failures) < 20:
                failures.append(f"{op} {status} {content[:300].decode('utf-8', 'replace')}")
        except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            status = 0
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        records.append((op, status, began, time.monotonic() - began))
    writer.close()


def generator(port: int, requests: list[tuple[str, dict]], clients: int, first: int, seconds: float, queue) -> None:
    """The closed loop of one process: ``clients`` asyncio clients, each on one keep-alive connection."""
    messages = [(op, _message(op, body)) for op, body in requests]
    records: list[tuple[str, int, float, float]] = []
    failures: list[str] = []
    cpu = time.process_time()
    wall = time.monotonic()

    async def run() -> None:
        stop = time.monotonic() + seconds
        await asyncio.gather(*(_client(port, messages, (first + number) * 997, stop, records, failures)
                               for number in range(clients)))

    asyncio.run(run())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    queue.put({"records": records, "failures": failures, "wall": time.monotonic() - wall, "cpu": time.process_time() - cpu,
               "max_rss_mb": usage.ru_maxrss / 1024})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(indexes: list[str], port: int, workers: int | None, *options: str,
                 cap: "MemoryCap | None" = None) -> subprocess.Popen:
    """`infgram serve INDEXES` on 127.0.0.1:port (its default workers when None), once its health
    check answers; in the memory control group ``cap`` (process and page cache) when given."""
    process = subprocess.Popen([sys.executable, "-m", "infgram", "serve", *indexes, "--port", str(port),
                                *(["--workers", str(workers)] if workers else []), "--no-access-log", *options],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               preexec_fn=cap.enter if cap is not None else None)
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


def load(port: int, requests: list[tuple[str, dict]], seconds: float, warmup: float) -> dict:
    """Run the closed loop (warm-up included) and summarize what completed after the warm-up."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    share = CLIENTS // PROCESSES
    processes = [context.Process(target=generator, args=(port, requests, share, number * share, warmup + seconds, queue))
                 for number in range(PROCESSES)]
    for process in processes:
        process.start()
    results = [queue.get() for _ in processes]
    for process in processes:
        process.join()
    return summarize(results, warmup, seconds)


def summarize(results: list[dict], warmup: float, seconds: float) -> dict:
    """Latency by class and operation, errors, the expensive share and the generator's CPU."""
    begin = min(began for result in results for _, _, began, _ in result["records"]) + warmup
    kept = [(op, status, took * 1000) for result in results for op, status, began, took in result["records"]
            if began >= begin]
    wall = max(result["wall"] for result in results)
    cpu = sum(result["cpu"] for result in results)

    def latencies(ops: tuple[str, ...]) -> list[float]:
        return [took for op, status, took in kept if op in ops and status == 200] or [float("nan")]

    by_op = {}
    for op in (*CHEAP, *EXPENSIVE):
        rows = [(status, took) for name, status, took in kept if name == op]
        times = [took for status, took in rows if status == 200] or [float("nan")]
        by_op[op] = {"requests": len(rows), "errors": sum(1 for status, _ in rows if status != 200),
                     "p50_ms": round(percentile(times, 0.5), 2), "p99_ms": round(percentile(times, 0.99), 2),
                     "per_second": round(len(rows) / seconds, 1)}
    cheap, expensive = latencies(CHEAP), latencies(EXPENSIVE)
    completed = [op for op, status, _ in kept if status == 200]
    return {"requests": len(kept), "errors": sum(1 for _, status, _ in kept if status != 200),
            "cheap_p50_ms": round(percentile(cheap, 0.5), 2), "cheap_p99_ms": round(percentile(cheap, 0.99), 2),
            "expensive_p50_ms": round(percentile(expensive, 0.5), 2),
            "expensive_p99_ms": round(percentile(expensive, 0.99), 2),
            "expensive_share": round(sum(1 for op in completed if op in EXPENSIVE) / max(1, len(completed)), 3),
            "requests_per_second": round(len(kept) / seconds, 1),
            "generator_cpu_seconds": round(cpu, 1), "generator_cpu_of_one_core": round(cpu / wall, 2),
            "generator_cpu_of_machine": round(cpu / wall / (os.cpu_count() or 1), 2),
            "operations": by_op,
            "errors_by_status": {str(status): sum(1 for _, other, _ in kept if other == status)
                                 for status in sorted({status for _, status, _ in kept if status != 200})},
            "first_errors": [failure for result in results for failure in result["failures"]][:5]}


def sample_queries(texts: list[str], size: int, seed: int = 7) -> list[str]:
    """``size`` pieces of the texts, 3 to 20 characters long (so frequent strings come up more often)."""
    rng = random.Random(seed)
    texts = [t for t in texts if len(t) > 100]
    queries = []
    for _ in range(size):
        text = rng.choice(texts)
        start = rng.randrange(0, len(text) - 20)
        queries.append(text[start:start + rng.randint(3, 20)])
    return queries


def batch_throughput(index: Path, port: int, texts: list[str], size: int) -> dict:
    """Counts a second: count_batch in this process against POST /v1/batch over HTTP."""
    import infgram

    queries = sample_queries(texts, size)
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
    parser.add_argument("--seconds", type=float, default=60, help="measured seconds per index (default 60)")
    parser.add_argument("--warmup", type=float, default=5, help="seconds of load before measuring (default 5)")
    parser.add_argument("--workers", type=int, default=None, help="server worker processes (default: the server's)")
    parser.add_argument("--indexes", default="wiki-prose,small", help="which of wiki-prose,small to run")
    parser.add_argument("--cheap-share", type=float, default=CHEAP_SHARE,
                        help="share of cheap requests (default 0.85, the issue's mix; 1: cheap alone, to profile)")
    parser.add_argument("--server-option", action="append", default=[], metavar="OPTION",
                        help="an option of infgram serve (repeat; e.g. --server-option=--expensive-slots=2)")
    parser.add_argument("--batch-queries", type=int, default=200_000, help="0: no /v1/batch comparison")
    parser.add_argument("--large", default=None, metavar="DIR",
                        help="also serve this byte index of copies of wiki + prose (larger_than_memory.py builds one) "
                             "in a memory control group capped at --cap, the page cache dropped first")
    parser.add_argument("--cap", default="1G", help="the server's memory cap with --large (default 1G)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    wiki_prose = build_index()
    small, small_corpus = build_small_index()
    corpora = {
        "wiki-prose": (wiki_prose, read_texts(sorted(p for name in ("wiki", "prose") for p in (DATA / name).glob("*.jsonl")),
                                              limit=20_000)),
        "small": (small, read_texts([small_corpus])),
    }
    if args.large:
        corpora["large"] = (Path(args.large), corpora["wiki-prose"][1])
        args.indexes += ",large"
    report: dict = {"machine": machine(), "load_average_before": os.getloadavg()[0], "clients": CLIENTS,
                    "cheap_share": args.cheap_share, "server_options": args.server_option,
                    "generator_processes": PROCESSES, "server_workers": args.workers or "default", "seconds": args.seconds,
                    "indexes": {}}
    for name in args.indexes.split(","):
        index, texts = corpora[name]
        port = free_port()
        cap = None
        if name == "large":  # larger than the memory the server may use: read from disk
            cap = MemoryCap(parse_size(args.cap), "infgram-serve-load")
            report["large"] = {"index": index.name, "index_bytes": sum(p.stat().st_size for p in index.rglob("*")
                                                                       if p.is_file()), "cap_bytes": cap.limit_bytes}
            os.sync()
            Path("/proc/sys/vm/drop_caches").write_text("1")
        server = start_server([str(index)], port, args.workers, *args.server_option, cap=cap)
        try:
            requests = workload(texts, 20_000, seed=1, cheap_share=args.cheap_share)
            report["indexes"][name] = load(port, requests, args.seconds, args.warmup)
            if name == "wiki-prose" and args.batch_queries:
                report["batch"] = batch_throughput(index, port, texts, args.batch_queries)
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
