"""Every operation on an index several times larger than the memory it may use, cold and in steady state.

    python benchmarks/larger_than_memory.py --work /big/disk/folder --copies 18 --cap 1G

With ``--copies N`` it first writes wiki + prose N times over, each copy shuffled
(``large_sharded.make_corpus``), and builds it with ``infgram build --memory 2G`` (or
``--build-memory``) into
``WORK/index`` (kept between runs); ``--index DIR`` measures any byte index instead.

A fresh process is put into a memory control group capped at ``--cap`` (process and page
cache; see ``from_disk.py``), drops the page cache, opens the index with its defaults
(``Index.open(dir)``: the open time is the cold one) and runs, per operation, a cold pass of
queries (nothing of the text or suffix array in memory yet) and then, after a warm-up pass
of other queries of every kind, a steady-state pass of new ones. The queries come from wiki +
prose (the corpus split of ``vs_official.py``, of which the index is meant to hold copies):
counts of 2-50 byte phrases, next-token distributions after 3-8 byte prompts and documents
of 5-20 byte phrases (10 per page, 100 bytes of context) from indexed documents; ∞-gram
probabilities after 100-byte contexts and attribution of 300-byte texts from held-out ones. Prints the table and, unless ``--no-write``, records it in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np

import infgram
from infgram.resources import parse_size
from common import ROOT, machine, percentile, recorded_command, write_section
from from_disk import MemoryCap, disk_read_micros
from vs_official import CACHE, CORPORA, fetch, official_python, split_corpus

BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
SECTION_TITLE = "## An index several times larger than its memory"

_WORKER = r"""
import json, os, sys, time
from pathlib import Path
request = json.loads(sys.stdin.read())
os.sync(); Path("/proc/sys/vm/drop_caches").write_text("1")
import infgram
start = time.perf_counter()
index = infgram.Index.open(request["index"])
out = {"open_seconds": time.perf_counter() - start, "memory": index.info()["memory"],
       "num_shards": len(index.shards), "num_tokens": index.num_tokens}

def run(kind, queries):
    times = []
    for query in queries:
        start = time.perf_counter_ns()
        if kind == "count":
            index.count(query)
        elif kind == "infgram_probability":
            index.infgram_probability(query[0], query[1])
        elif kind == "next_tokens":
            index.next_tokens(query, top_k=10)
        elif kind == "documents":
            index.documents(query, limit=10, context=100)
        elif kind == "attribute":
            index.attribute(query)
        times.append(time.perf_counter_ns() - start)
    return times

for phase in ("cold", "warm-up", "steady"):
    out[phase] = {kind: run(kind, queries) for kind, queries in request[phase].items()}
print(json.dumps(out))
"""

_OFFICIAL_WORKER = r"""
import json, os, sys, time
from pathlib import Path
request = json.loads(sys.stdin.read())
os.sync(); Path("/proc/sys/vm/drop_caches").write_text("1")
from infini_gram.engine import InfiniGramEngine
start = time.perf_counter()
engine = InfiniGramEngine(index_dir=request["index"], eos_token_id=254, vocab_size=255, token_dtype="u8")
out = {"open_seconds": time.perf_counter() - start}

def run(kind, queries):
    times = []
    for query in queries:
        start = time.perf_counter_ns()
        if kind == "count":
            engine.count(input_ids=query)
        elif kind == "infgram_probability":
            engine.infgram_prob(prompt_ids=query[0], cont_id=query[1])
        elif kind == "next_tokens":
            engine.ntd(prompt_ids=query)
        times.append(time.perf_counter_ns() - start)
    return times

for phase in ("cold", "warm-up", "steady"):
    out[phase] = {kind: run(kind, queries) for kind, queries in request[phase].items()
                  if kind in ("count", "infgram_probability", "next_tokens")}
print(json.dumps(out))
"""

KINDS = ("count", "infgram_probability", "next_tokens", "documents", "attribute")


def draw_queries(indexed: list[bytes], held_out: list[bytes], rng: np.random.Generator, number: int
                 ) -> dict[str, list]:
    def piece(low: int, high: int, texts: list[bytes] = indexed) -> list[int]:
        while True:
            text = texts[int(rng.integers(0, len(texts)))]
            n = int(rng.integers(low, high + 1))
            if len(text) > n + 1:
                at = int(rng.integers(0, len(text) - n))
                return list(text[at : at + n])

    def context() -> list:
        gram = piece(101, 101, held_out)
        return [gram[:-1], gram[-1]]

    return {
        "count": [piece(2, 50) for _ in range(number)],
        "infgram_probability": [context() for _ in range(number)],
        "next_tokens": [piece(3, 8) for _ in range(number)],
        "documents": [piece(5, 20) for _ in range(max(number // 2, 1))],
        "attribute": [bytes(piece(300, 300, held_out)).decode("utf-8", "ignore") for _ in range(max(number // 10, 1))],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", default=None, help="a byte index to measure (default WORK/index)")
    parser.add_argument("--work", default=None, help="where --copies writes the corpus and builds the index")
    parser.add_argument("--copies", type=int, default=18, help="copies of wiki + prose in the corpus built (18: 1 GB)")
    parser.add_argument("--build-memory", default="2G", help="memory budget of the build of --copies (default 2G)")
    parser.add_argument("--cap", default="1G")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--note", default="", help="what the index is, for the record")
    parser.add_argument("--official", default=None,
                        help="the official engine's index of the same corpus: count, ∞-gram and next tokens side by side")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("larger_than_memory.py needs root: it makes a memory control group and drops the page cache")
    command = recorded_command("larger_than_memory.py", sys.argv[1:])
    corpus = CACHE / "work" / "quick" / "corpus" / "corpus.jsonl"
    held_out = [t.encode("utf-8") for t in split_corpus(fetch(CORPORA["quick"]), corpus, 0.01, 0)]
    if args.index is None:
        if args.work is None:
            parser.error("give --index DIR, or --work DIR (with --copies) to build one")
        index_dir = Path(args.work).resolve() / "index"
        if not (index_dir / "manifest.json").exists():
            from large_sharded import make_corpus, timed_build

            copies = make_corpus(corpus, Path(args.work).resolve() / "corpus", args.copies)
            seconds, peak = timed_build(copies, index_dir, args.build_memory)
            print(f"built {index_dir} in {seconds / 60:.1f} min, peak RSS {peak / 2**30:.2f} GiB", flush=True)
    else:
        index_dir = Path(args.index).resolve()
    held_out = [t for t in held_out if len(t) > 400]
    indexed = []
    with open(corpus, encoding="utf-8") as source:
        for number, line in enumerate(source):
            if number % 20 == 0:  # a sample of the documents is enough to draw queries from
                text = json.loads(line).get("text", "").encode("utf-8")
                if len(text) > 400:
                    indexed.append(text)
    rng = np.random.default_rng(args.seed)
    request = {"index": str(index_dir),
               **{phase: draw_queries(indexed, held_out, rng, args.queries) for phase in ("cold", "warm-up", "steady")}}
    index_bytes = sum(p.stat().st_size for p in index_dir.rglob("*") if p.is_file())
    largest = max(index_dir.rglob("*.bin"), key=lambda p: p.stat().st_size)
    disk_us = disk_read_micros(largest)
    cap = MemoryCap(parse_size(args.cap), f"infgram-larger-{os.getpid()}")
    official = None
    try:
        env = {**os.environ, "PYTHONPATH": str(Path(infgram.__file__).resolve().parents[1])}
        process = subprocess.run([sys.executable, "-c", _WORKER], input=json.dumps(request), capture_output=True,
                                 text=True, preexec_fn=cap.enter, env=env)
        if process.returncode != 0:
            sys.exit(f"the worker failed:\n{process.stderr[-3000:]}")
        if args.official:
            python = official_python(CACHE / "official-venv")
            ran = subprocess.run([str(python), "-c", _OFFICIAL_WORKER],
                                 input=json.dumps({**request, "index": str(Path(args.official).resolve())}),
                                 capture_output=True, text=True, preexec_fn=cap.enter)
            if ran.returncode != 0:
                sys.exit(f"the official worker failed:\n{ran.stderr[-3000:]}")
            official = json.loads(ran.stdout.strip().splitlines()[-1])
    finally:
        cap.remove()
    out = json.loads(process.stdout.strip().splitlines()[-1])
    rows = []
    for kind in KINDS:
        cells = []
        for phase in ("cold", "steady"):
            micros = [t / 1e3 for t in out[phase][kind]]
            cells.append(f"{statistics.median(micros) / 1e3:.2f} / {percentile(micros, 0.99) / 1e3:.1f} ms")
        median_steady = statistics.median(out["steady"][kind]) / 1e3
        theirs = ""
        if official is not None:
            if kind in official["steady"]:
                medians = [statistics.median(official[phase][kind]) / 1e3 for phase in ("cold", "steady")]
                ours = [statistics.median(out[phase][kind]) / 1e3 for phase in ("cold", "steady")]
                theirs = (f" {medians[0] / 1e3:.2f} / {medians[1] / 1e3:.2f} ms | **{ours[0] / medians[0]:.2f}x** / "
                          f"**{ours[1] / medians[1]:.2f}x** |")
            else:
                theirs = " | |"
        rows.append(f"| {kind} | {len(out['cold'][kind])} | {cells[0]} | {cells[1]} | {median_steady / disk_us:.1f} |"
                    + theirs)
    memory = out["memory"]
    text = "\n".join([
        f"Measured {datetime.date.today().isoformat()} on {machine()}; load average {os.getloadavg()[0]:.1f} at the "
        f"end. Command: `{command}`.",
        "",
        f"{args.note} The index: {index_bytes / 1e9:.2f} GB in {out['num_shards']} shards, "
        f"{out['num_tokens'] / 1e9:.2f} G tokens, on this machine's virtual disk (one random 4 KiB read with "
        f"O_DIRECT: {disk_us:.0f} µs median). The query process is capped at {args.cap} (process and page cache), "
        f"{index_bytes / parse_size(args.cap):.1f}x less than the index. `Index.open(dir)` chose "
        f"`load={memory['load']}`, a RAM tier of {memory.get('tier_bytes', 0) / 1e6:.0f} MB (key steps "
        f"{memory.get('key_steps')}, locked: {memory.get('tier_locked')}); it opened in "
        f"{out['open_seconds']:.2f} s from a cold page cache.",
        "",
        "| operation | queries per pass | cold median / p99 | steady state median / p99 | steady median in disk reads |"
        + (" official cold / steady median | infgram / official, cold / steady |" if official else ""),
        "|---|---|---|---|---|" + ("---|---|" if official else ""),
        *rows,
        *(["", f"The official engine (infini-gram 2.6.0, its defaults) on its own index of the same corpus, in the same "
           f"cap, the same queries: it opened in {official['open_seconds']:.2f} s. Its next-token distribution "
           f"is approximate above 1,000 occurrences (its max_support), ours exact."] if official else []),
    ])
    print(text)
    if not args.no_write:
        write_section(BENCHMARKS_MD, SECTION_TITLE, text, before="## From disk, against the official infini-gram package")


if __name__ == "__main__":
    main()
