"""The compressed FM-index against the suffix array and the PyPI ``fm-index`` package.

    python benchmarks/fm_index.py                                  # wiki + prose
    python benchmarks/fm_index.py --fm-index-python /tmp/venv/bin/python
    python benchmarks/fm_index.py --corpora bigbench --skip-suffix-array --sample-rates 128

Fetches the corpora with ``../shared/datasets/fetch``, then builds, each in its own process
so that its peak memory (ru_maxrss) is its own: an infgram FM-index at every sample rate,
a byte-mode suffix-array index, and (with ``--fm-index-python``, a Python that has
``pip install fm-index``; it is not a dependency of infgram) the Rust ``fm-index`` package
over the same texts joined by newlines. Then, in one process per index, it times counts of
queries cut from the corpus (so each occurs at least once) and the locating of matches,
and prints a Markdown table.

Sizes are bytes on disk per byte of document text (UTF-8, separators not counted);
``fm-index`` has no file format, so its size is its pickle. Latencies are medians of
per-call wall-clock times, and the CPU time per call (process time over the whole run)
next to them, because the machine is shared and wall-clock time is noisy.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import pickle
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUERY_LENGTHS = (1, 3, 10, 30)


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _texts(files: list[str]) -> list[str]:
    # Not common.read_texts: the fm-index worker runs in another virtualenv, without this
    # folder on its path and perhaps without numpy, so this file reads JSONL on its own.
    texts = []
    for path in files:
        with open(path, encoding="utf-8") as source:
            for line in source:
                text = json.loads(line).get("text")
                if isinstance(text, str) and text:
                    texts.append(text)
    return texts


def _queries(texts: list[str], length: int, count: int, seed: int) -> list[bytes]:
    """Byte strings of a length cut from random documents at random places (whole characters)."""
    rng = random.Random(seed * 1000 + length)
    cumulative = list(itertools.accumulate(len(t) for t in texts))  # once: choices() would redo it per call
    queries: list[bytes] = []
    while len(queries) < count:
        data = rng.choices(texts, cum_weights=cumulative)[0].encode()
        if len(data) < length:
            continue
        start = rng.randrange(len(data) - length + 1)
        piece = data[start : start + length]
        try:
            piece.decode()
        except UnicodeDecodeError:
            continue
        queries.append(piece)
    return queries


def _time_calls(function, arguments: list) -> tuple[float, float]:
    """(median wall µs per call, mean CPU µs per call)."""
    for argument in arguments[:50]:
        function(argument)
    times = []
    cpu = time.process_time()
    for argument in arguments:
        start = time.perf_counter()
        function(argument)
        times.append(time.perf_counter() - start)
    cpu = time.process_time() - cpu
    return statistics.median(times) * 1e6, cpu / len(arguments) * 1e6


# -- workers (each runs in its own process) -----------------------------------------------------

def worker_build_infgram(args: argparse.Namespace) -> dict:
    import infgram

    start = time.perf_counter()
    report = infgram.build(args.files, args.out, kind=args.kind, sample_rate=args.sample_rate, overwrite=True,
                           progress=False)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_rss": _peak_rss_bytes(), "index_bytes": report.index_bytes,
            "text_bytes": report.num_tokens, "input_bytes": report.input_bytes}


def worker_query_infgram(args: argparse.Namespace) -> dict:
    import numpy as np

    import infgram

    index = infgram.Index.open(args.out)
    for path in Path(args.out).rglob("*.bin"):
        path.read_bytes()  # warm the page cache
    queries = json.loads(Path(args.queries).read_text())
    result = {}
    for length in QUERY_LENGTHS:
        encoded = [bytes.fromhex(q) for q in queries[str(length)]]
        texts = [q.decode() for q in encoded]
        result[f"count_{length}"] = _time_calls(index.count, texts)
        view = index.shards[0].view
        result[f"find_{length}"] = _time_calls(view.find, encoded)
    texts = [bytes.fromhex(q).decode() for q in queries["10"]]
    start = time.perf_counter()
    index.count_batch(texts)
    result["count_batch_10"] = len(texts) / (time.perf_counter() - start)
    # Locating: rows of 10-byte queries with 2..2000 matches, µs per located match.
    located = seconds = 0.0
    for text in texts:
        for shard in index.shards:
            lo, hi = shard.view.find(text.encode())
            if 2 <= hi - lo <= 2000:
                start = time.perf_counter()
                shard.positions(lo, hi)
                seconds += time.perf_counter() - start
                located += hi - lo
    result["locate_per_match"] = seconds / max(located, 1) * 1e6
    phrases = [bytes.fromhex(q).decode() for q in queries["30"]][:200]
    result["documents_30"] = _time_calls(lambda q: index.documents(q, limit=10, context=50), phrases)
    result["peak_rss_query"] = _peak_rss_bytes()
    return result


def worker_fm_index_package(args: argparse.Namespace) -> dict:
    """Build and query the PyPI ``fm-index`` package (in a Python that has it)."""
    sys.path = [p for p in sys.path if Path(p or ".").resolve() != HERE]  # this file is fm_index.py too
    from fm_index import FMIndex

    texts = _texts(args.files)
    corpus = "\n".join(texts)
    text_bytes = sum(len(t.encode()) for t in texts)
    baseline = _peak_rss_bytes()
    start = time.perf_counter()
    index = FMIndex(corpus)
    seconds = time.perf_counter() - start
    peak = _peak_rss_bytes()
    del corpus, texts
    size = len(pickle.dumps(index))
    queries = json.loads(Path(args.queries).read_text())
    result = {"seconds": seconds, "peak_rss": peak, "rss_before_build": baseline, "index_bytes": size,
              "text_bytes": text_bytes}
    for length in QUERY_LENGTHS:
        result[f"count_{length}"] = _time_calls(index.count, [bytes.fromhex(q).decode() for q in queries[str(length)]])
    located = seconds = 0.0
    for text in [bytes.fromhex(q).decode() for q in queries["10"]]:
        matches = index.count(text)
        if 2 <= matches <= 2000:
            start = time.perf_counter()
            index.locate(text)
            seconds += time.perf_counter() - start
            located += matches
    result["locate_per_match"] = seconds / max(located, 1) * 1e6
    return result


WORKERS = {"build-infgram": worker_build_infgram, "query-infgram": worker_query_infgram,
           "fm-index-package": worker_fm_index_package}


def run_worker(python: str, name: str, *arguments: str) -> dict:
    command = [python, str(Path(__file__).resolve()), "--worker", name, *arguments]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"worker {name} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the report -----------------------------------------------------------------------------------

def _mb(value: float) -> str:
    return f"{value / 1e6:,.1f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--files", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--kind", default="fm", help=argparse.SUPPRESS)
    parser.add_argument("--sample-rate", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--queries", help=argparse.SUPPRESS)
    parser.add_argument("--corpora", nargs="+", default=["wiki", "prose"])
    parser.add_argument("--sample-rates", nargs="+", type=int, default=[32, 64, 128, 256])
    parser.add_argument("--fm-index-python", default=None, help="a Python with `pip install fm-index`, to compare")
    parser.add_argument("--skip-suffix-array", action="store_true", help="do not build the suffix-array index")
    parser.add_argument("--num-queries", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", default=None, help="working directory (default: a temporary one)")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)))
        return

    sys.path.insert(0, str(HERE))
    from engine_speed import fetch

    files = [str(f) for f in fetch(args.corpora)]
    work = Path(args.work or tempfile.mkdtemp(prefix="infgram-fm-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    texts = _texts(files)
    queries = {str(n): [q.hex() for q in _queries(texts, n, args.num_queries, args.seed)] for n in QUERY_LENGTHS}
    del texts
    query_file = work / "queries.json"
    query_file.write_text(json.dumps(queries))

    # Builds are kept in the working directory: a rerun with the same --work only re-queries.
    builds_file = work / "builds.json"
    builds = json.loads(builds_file.read_text()) if builds_file.exists() else {}

    def built(name: str, python: str, worker: str, *arguments: str) -> dict:
        if name not in builds or not (work / name / "manifest.json").exists():
            builds[name] = run_worker(python, worker, *arguments)
            builds_file.write_text(json.dumps(builds, indent=1))
        return builds[name]

    rows: dict[str, dict] = {}
    for rate in args.sample_rates:
        out = work / f"fm-{rate}"
        build = built(out.name, sys.executable, "build-infgram", "--files", *files, "--out", str(out), "--kind", "fm",
                      "--sample-rate", str(rate))
        rows[f"infgram FM, sample rate {rate}"] = {**build, **run_worker(
            sys.executable, "query-infgram", "--out", str(out), "--queries", str(query_file))}
    if not args.skip_suffix_array:
        out = work / "sa"
        build = built(out.name, sys.executable, "build-infgram", "--files", *files, "--out", str(out), "--kind", "sa")
        rows["infgram suffix array"] = {**build, **run_worker(
            sys.executable, "query-infgram", "--out", str(out), "--queries", str(query_file))}
    if args.fm_index_python:
        rows["fm-index (PyPI, Rust)"] = run_worker(args.fm_index_python, "fm-index-package", "--files", *files,
                                                   "--queries", str(query_file))

    text_bytes = next(iter(rows.values()))["text_bytes"]
    print(f"\ncorpora {' + '.join(args.corpora)}: {text_bytes / 1e6:,.1f} MB of document text; "
          f"{args.num_queries} queries per length; {time.strftime('%Y-%m-%d')}\n")
    columns = list(rows)
    print("| measure | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")

    def line(name: str, render) -> None:
        cells = []
        for column in columns:
            try:
                cells.append(render(rows[column]))
            except KeyError:
                cells.append("")
        print(f"| {name} | " + " | ".join(cells) + " |")

    line("index size", lambda r: f"{_mb(r['index_bytes'])}, **{r['index_bytes'] / r['text_bytes']:.3f}** bytes/byte")
    line("build (end to end)", lambda r: f"{r['seconds']:.1f} s, {r['text_bytes'] / r['seconds'] / 1e6:.2f} MB/s")
    line("build peak RSS", lambda r: f"{_mb(r['peak_rss'])}, {r['peak_rss'] / r['text_bytes']:.1f} bytes/byte")
    for length in QUERY_LENGTHS:
        line(f"count, {length}-byte query (median wall / mean CPU)",
             lambda r, n=length: "{:.1f} / {:.1f} µs".format(*r[f"count_{n}"]))
    line("count, 10-byte query, compiled find only", lambda r: "{:.1f} / {:.1f} µs".format(*r["find_10"]))
    line("count_batch, 10-byte queries", lambda r: f"{r['count_batch_10'] / 1e3:,.1f} k/s")
    line("locate, per match (queries with 2-2000 matches)", lambda r: f"{r['locate_per_match']:.1f} µs")
    line("documents, 30-byte phrase, limit 10, context 50", lambda r: "{:.0f} / {:.0f} µs".format(*r["documents_30"]))
    (work / "results.json").write_text(json.dumps(rows, indent=1))
    print(f"\nraw results: {work / 'results.json'}")


if __name__ == "__main__":
    main()
