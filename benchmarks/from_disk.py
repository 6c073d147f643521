"""Queries from disk, side by side with the official ``infini-gram`` engine, the page cache capped.

    python benchmarks/from_disk.py                     # wiki + prose, byte indexes, cap 160 MB
    python benchmarks/from_disk.py --cap 160M --rounds 4 --queries 150

What it does, in one run:

1. Builds both byte indexes of the same documents (the corpus split of ``vs_official.py``),
   each with its defaults, unless they are there already.
2. Measures the disk: the median of 1,000 random 4 KiB reads of the index's largest file
   with ``O_DIRECT`` (no page cache), the unit in which the latencies are also given.
3. For each round, each engine in turn (the order alternating): a fresh process is put into
   a memory control group (cgroup v2 ``memory.max`` or v1 ``memory.limit_in_bytes``) capped
   at ``--cap``, which counts the process and the page cache it brings in; it opens the index
   with every default as a user gets it (infgram: ``Index.open(dir)``; official:
   ``InfiniGramEngine(index_dir=...)``), the page cache is dropped, and it times
   ``--queries`` counts of corpus phrases (2-50 bytes, from random positions) and as many
   ∞-gram probabilities (100-byte contexts from held-out documents), each call timed inside
   the engine's own process.
4. Checks every answer against the other engine's, prints the table and, unless
   ``--no-write``, records it in BENCHMARKS.md.

Needs root (to make a control group and to drop the page cache); without it, it says so and
stops.
"""

from __future__ import annotations

import argparse
import datetime
import json
import mmap
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import infgram
from infgram.resources import parse_size
from common import ROOT, machine, percentile, recorded_command, write_section
from vs_official import (CACHE, CORPORA, build_ours_from_jsonl, fetch, official_indexing, official_python,
                         split_corpus, transformers_stub)

BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
SECTION_TITLE = "## From disk, against the official infini-gram package"


# -- the control group ------------------------------------------------------------------------


class MemoryCap:
    """A memory control group of its own, v2 where the hierarchy is unified, else v1."""

    def __init__(self, limit_bytes: int, name: str):
        self.limit_bytes = limit_bytes
        unified = Path("/sys/fs/cgroup")
        if (unified / "cgroup.controllers").exists():
            self.folder, self.limit_file = unified / name, "memory.max"
        elif (unified / "memory").is_dir():
            self.folder, self.limit_file = unified / "memory" / name, "memory.limit_in_bytes"
        else:
            raise RuntimeError("no memory control group hierarchy under /sys/fs/cgroup")
        self.folder.mkdir(exist_ok=True)
        (self.folder / self.limit_file).write_text(str(limit_bytes))

    def enter(self) -> None:
        """Move the calling process into the group (run in the child before exec)."""
        (self.folder / "cgroup.procs").write_text(str(os.getpid()))

    def remove(self) -> None:
        try:
            self.folder.rmdir()
        except OSError:
            pass


def drop_page_cache() -> None:
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("1")


# -- the disk ---------------------------------------------------------------------------------


def disk_read_micros(path: Path, reads: int = 1000, seed: int = 0) -> float:
    """Median latency of random 4 KiB reads of a file, bypassing the page cache (O_DIRECT)."""
    size = path.stat().st_size
    rng = random.Random(seed)
    buffer = mmap.mmap(-1, 4096)  # page-aligned, as O_DIRECT needs
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECT)
    times = []
    try:
        for _ in range(reads):
            offset = rng.randrange(0, size // 4096) * 4096
            start = time.perf_counter_ns()
            os.preadv(descriptor, [buffer], offset)
            times.append(time.perf_counter_ns() - start)
    finally:
        os.close(descriptor)
    return statistics.median(times) / 1e3


# -- the engines, each in its own process -------------------------------------------------------

INFGRAM_CAPPED = r"""
# One capped process of infgram: opens the index with its defaults, drops the page cache, times
# request["counts"] and request["contexts"] (texts or ids); also used by official_index.py.
import json, sys, time
from pathlib import Path
import infgram
request = json.loads(sys.stdin.read())
start = time.perf_counter()
index = infgram.Index.open(request["index"])
opened = time.perf_counter() - start
import os
os.sync(); Path("/proc/sys/vm/drop_caches").write_text("1")
out = {"open_seconds": opened, "memory": index.info().get("memory"), "count": [], "infgram": []}
for phrase in request["counts"]:
    start = time.perf_counter_ns()
    answer = index.count(phrase)
    out["count"].append([time.perf_counter_ns() - start, answer])
for context, next_byte in request["contexts"]:
    start = time.perf_counter_ns()
    result = index.infgram_probability(context, next_byte)
    out["infgram"].append([time.perf_counter_ns() - start, [result.suffix_length, result.prompt_count, result.count]])
print(json.dumps(out))
"""

OFFICIAL_CAPPED = r"""
# The same for the official engine (its token width and ids from the request, bytes by default).
import json, sys, time
from pathlib import Path
request = json.loads(sys.stdin.read())
from infini_gram.engine import InfiniGramEngine
start = time.perf_counter()
engine = InfiniGramEngine(index_dir=request["index"], eos_token_id=request.get("eos", 254),
                          vocab_size=request.get("vocab_size", 255), token_dtype=request.get("token_dtype", "u8"))
opened = time.perf_counter() - start
import os
os.sync(); Path("/proc/sys/vm/drop_caches").write_text("1")
out = {"open_seconds": opened, "count": [], "infgram": []}
for phrase in request["counts"]:
    start = time.perf_counter_ns()
    answer = engine.count(input_ids=phrase)
    out["count"].append([time.perf_counter_ns() - start, answer["count"]])
for context, next_byte in request["contexts"]:
    start = time.perf_counter_ns()
    r = engine.infgram_prob(prompt_ids=context, cont_id=next_byte)
    out["infgram"].append([time.perf_counter_ns() - start, [r["suffix_len"], r["prompt_cnt"], r["cont_cnt"]]])
print(json.dumps(out))
"""


def run_capped(cap: MemoryCap, command: list[str], request: dict, env: dict[str, str] | None = None) -> dict:
    process = subprocess.run(command, input=json.dumps(request), capture_output=True, text=True,
                             preexec_fn=cap.enter, env={**os.environ, **(env or {})})
    if process.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({process.returncode}):\n{process.stderr[-3000:]}")
    return json.loads(process.stdout.strip().splitlines()[-1])


def summarize(times_ns: list[int]) -> tuple[float, float]:
    micros = [t / 1e3 for t in times_ns]
    return statistics.median(micros), percentile(micros, 0.99)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cap", default="160M", help="the memory cap of each query process, page cache included")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--queries", type=int, default=150)
    parser.add_argument("--context-bytes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", default=None, help=f"working folder (default {CACHE}/work/quick)")
    parser.add_argument("--official-venv", default=str(CACHE / "official-venv"))
    parser.add_argument("--rebuild", action="store_true", help="build our index again (after a format change)")
    parser.add_argument("--no-fm", action="store_true", help="leave out infgram's FM-index (built once, kind fm)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("from_disk.py needs root: it makes a memory control group and drops the page cache")
    command = recorded_command("from_disk.py", sys.argv[1:])

    work = Path(args.work or CACHE / "work" / "quick").resolve()
    corpus_dir = work / "corpus"
    held_out = split_corpus(fetch(CORPORA["quick"]), corpus_dir / "corpus.jsonl", 0.01, args.seed)
    corpus = corpus_dir / "corpus.jsonl"
    ours_dir, official_dir = work / "disk" / "infgram", work / "disk" / "official"
    if args.rebuild or not (ours_dir / "manifest.json").exists():
        print("building infgram's byte index (defaults)", flush=True)
        build_ours_from_jsonl(corpus, ours_dir, "bytes", 8)
    fm_dir = work / "disk" / "infgram-fm"
    if not args.no_fm and not (fm_dir / "manifest.json").exists():
        print("building infgram's FM-index (defaults)", flush=True)
        subprocess.run([sys.executable, "-m", "infgram", "build", str(corpus), "--out", str(fm_dir), "--kind", "fm",
                        "--quiet"], check=True, env={**os.environ, "PYTHONPATH": str(Path(infgram.__file__).resolve().parents[1])})
    python = official_python(Path(args.official_venv))
    if not any(official_dir.glob("table.*")):
        print("building the official byte index", flush=True)
        official_indexing(python, corpus_dir, official_dir, "u8", corpus.stat().st_size, 8,
                          transformers_stub(work / "official-stub"))

    index = infgram.Index.open(ours_dir, load="ram")
    ours_bytes = sum(p.stat().st_size for p in ours_dir.rglob("*") if p.is_file())
    fm_bytes = sum(p.stat().st_size for p in fm_dir.rglob("*") if p.is_file()) if fm_dir.exists() else 0
    official_bytes = sum(p.stat().st_size for p in official_dir.rglob("*") if p.is_file())
    tokens = np.asarray(index.shards[0].tokens)
    rng = np.random.default_rng(args.seed)
    counts = []
    while len(counts) < args.queries:
        n = int(rng.integers(2, 51))
        at = int(rng.integers(0, len(tokens) - n))
        gram = tokens[at : at + n]
        if (gram != 0xFF).all():
            counts.append(gram.astype(int).tolist())
    contexts = []
    texts = [t.encode("utf-8") for t in held_out if len(t.encode("utf-8")) > args.context_bytes + 1]
    while len(contexts) < args.queries:
        text = texts[int(rng.integers(0, len(texts)))]
        at = int(rng.integers(args.context_bytes, len(text)))
        contexts.append([list(text[at - args.context_bytes : at]), text[at]])
    request = {"counts": counts, "contexts": contexts}
    del index, tokens

    largest = max((p for p in ours_dir.rglob("*.bin")), key=lambda p: p.stat().st_size)
    disk_us = disk_read_micros(largest)
    cap_bytes = parse_size(args.cap)
    cap = MemoryCap(cap_bytes, f"infgram-from-disk-{os.getpid()}")
    env = {"PYTHONPATH": str(Path(infgram.__file__).resolve().parents[1])}
    results: dict[str, list[dict]] = {"infgram": [], "official": [], "infgram FM": []}
    try:
        for round_number in range(args.rounds):
            order = ["official", "infgram"] if round_number % 2 == 0 else ["infgram", "official"]
            if not args.no_fm:
                order.append("infgram FM")
            for engine in order:
                if engine == "infgram FM":
                    answer = run_capped(cap, [sys.executable, "-c", INFGRAM_CAPPED],
                                        {"index": str(fm_dir), "counts": request["counts"], "contexts": []}, env)
                elif engine == "infgram":
                    answer = run_capped(cap, [sys.executable, "-c", INFGRAM_CAPPED], {"index": str(ours_dir), **request}, env)
                else:
                    answer = run_capped(cap, [str(python), "-c", OFFICIAL_CAPPED], {"index": str(official_dir), **request})
                results[engine].append(answer)
                print(f"round {round_number + 1} {engine}: count median "
                      f"{summarize([t for t, _ in answer['count']])[0]:.0f} µs", flush=True)
    finally:
        cap.remove()

    # Every answer of every round must agree with the other engine's.
    reference = results["official"][0]
    for engine in results:
        for answer in results[engine]:
            for kind in ("count", "infgram"):
                if not answer[kind]:
                    continue
                ours_answers = [a for _, a in answer[kind]]
                expected = [a for _, a in reference[kind]]
                for query_number, (mine, theirs) in enumerate(zip(ours_answers, expected)):
                    if kind == "infgram" and mine != theirs and mine[0] == 0 and theirs[0] == 0:
                        continue  # the official count([]) counts separators (see vs_official.py)
                    if mine != theirs:
                        raise RuntimeError(f"{engine} {kind} answer {query_number} is {mine}, the official {theirs}")

    rows = []
    figures = {}
    for kind, label in (("count", "count, 2-50 byte phrases from the corpus"),
                        ("infgram", f"∞-gram probability, {args.context_bytes}-byte held-out contexts")):
        for engine in ("official", "infgram"):
            times = [t for answer in results[engine] for t, _ in answer[kind]]
            figures[(kind, engine)] = summarize(times)
        (om, op), (im, ip) = figures[(kind, "official")], figures[(kind, "infgram")]
        rows.append(f"| {label} | {om / 1e3:.2f} / {op / 1e3:.1f} ms | {im / 1e3:.3f} / {ip / 1e3:.2f} ms | "
                    f"**{im / om:.2f}x** / {ip / op:.2f}x | {im / disk_us:.1f} |")
    if results["infgram FM"]:
        times = [t for answer in results["infgram FM"] for t, _ in answer["count"]]
        fm_median, fm_p99 = summarize(times)
        om, op = figures[("count", "official")]
        rows.append(f"| count on infgram's FM-index ({fm_bytes / 1e6:.0f} MB, sample rate 128) | {om / 1e3:.2f} / "
                    f"{op / 1e3:.1f} ms | {fm_median / 1e3:.3f} / {fm_p99 / 1e3:.2f} ms | **{fm_median / om:.2f}x** / "
                    f"{fm_p99 / op:.2f}x | {fm_median / disk_us:.1f} |")
    opens = {engine: statistics.median(a["open_seconds"] for a in results[engine]) for engine in results if results[engine]}
    memory = results["infgram"][0].get("memory") or {}
    date = datetime.date.today().isoformat()
    text = "\n".join([
        f"Measured {date} on {machine()}; load average {os.getloadavg()[0]:.1f} at the end. Command: `{command}`.",
        "",
        f"Byte indexes of wiki + prose: infgram {ours_bytes / 1e6:.0f} MB, official {official_bytes / 1e6:.0f} MB. "
        f"Each round is a fresh process per engine in a memory control group capped at {args.cap} (process and "
        f"page cache), the page cache dropped after the index opens; {args.rounds} rounds, engines taking turns, "
        f"{args.queries} queries of each kind per round. infgram opened with `Index.open(dir)`, which chose "
        f"`load={memory.get('load')}` with a RAM tier of {memory.get('tier_bytes', 0) / 1e6:.1f} MB "
        f"(key step {memory.get('key_steps')}, locked: {memory.get('tier_locked')}). One random 4 KiB read of "
        f"this disk (O_DIRECT, median of 1,000): **{disk_us:.0f} µs**.",
        "",
        "| query | official median / p99 | infgram median / p99 | infgram / official (median / p99) | "
        "infgram median in disk reads |",
        "|---|---|---|---|---|",
        *rows,
        "",
        f"Open: official {opens['official'] * 1e3:.0f} ms, infgram {opens['infgram'] * 1e3:.0f} ms (median). "
        "Every answer of every round equal between the engines.",
    ])
    print(text)
    if not args.no_write:
        write_section(BENCHMARKS_MD, SECTION_TITLE, text, before="## Against the official infini-gram package")


if __name__ == "__main__":
    main()
