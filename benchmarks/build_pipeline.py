"""Build speed end to end against its parts: the sort alone, the tokenizer alone, and the
pipelined build against the sequential one (``INFGRAM_BUILD_PIPELINE=0``).

    python benchmarks/build_pipeline.py                         # everything, 3 runs
    python benchmarks/build_pipeline.py --runs 5 --parts bytes  # byte mode only
    python benchmarks/build_pipeline.py --parts sp32k --shard-tokens-sp32k 4000000

Corpus: wiki + prose (``../shared/datasets/fetch``), the files given to ``infgram build``
in the order ``fetch`` lists them. Every build runs in a subprocess
(``python -m infgram.cli build FILES --out DIR --quiet``), its peak RSS measured by
``/usr/bin/time``. Within each run the measurements are taken in turn (interleaved, so that
drift in the machine's speed hits them alike); the table shows medians over ``--runs``.

  bytes   (a) libdivsufsort alone on the bytes the byte index holds (its ``tokens.bin``:
          the documents' UTF-8 bytes, each followed by the separator 255), in-process;
          (b) the whole byte-mode build as one shard (the default memory budget), pipelined
          and sequential; the ratio (b)/(a) is the issue's target (at most 1.0);
          a breakdown of (b) in-process: reading and tokenizing, the sort, what follows.
  shards  (c) a multi-shard byte build (``--shard-tokens``, default 8 M): sequential
          against pipelined, outputs checked byte-identical, with peak memory (e).
  sp32k   (d) tokenizing alone (``encode_batch`` over the texts in the build's batches,
          on every core) against the whole sp32k build, one shard and multi-shard,
          pipelined and sequential; the target is the build at the tokenizer's speed.
  memory  (e) a pipelined multi-shard byte build under ``--memory`` (default 256M): its peak
          RSS against the budget.

MB/s are megabytes of text (the byte index's tokens, separators included) per second of
wall-clock time. The machine's load average is printed before and after: numbers from a
loaded machine only say which way things go.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED, fetch, machine

HEADER_BYTES = 64


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} cores"


def run_build(files: list[Path], out: Path, options: list[str], pipelined: bool = True) -> tuple[float, int]:
    """Wall-clock seconds and peak RSS (bytes) of ``infgram build`` in a subprocess."""
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "INFGRAM_BUILD_PIPELINE": "1" if pipelined else "0"}
    command = [sys.executable, "-m", "infgram.cli", "build", *map(str, files), "--out", str(out), "--quiet", *options]
    # The peak RSS comes from /usr/bin/time, whose child is forked from a small process: a
    # child forked from this one (which holds the sorted bytes) inherits its high-water mark.
    with tempfile.TemporaryDirectory() as scratch:
        measured = Path(scratch) / "peak"
        timer = ["/usr/bin/time", "-f", "%M", "-o", str(measured)] if Path("/usr/bin/time").exists() else []
        with open(Path(scratch) / "errors", "w+b") as errors:  # a file: a full pipe would stall the child
            start = time.perf_counter()
            child = subprocess.Popen(timer + command, env=env, stdout=subprocess.DEVNULL, stderr=errors)
            _, status, usage = os.wait4(child.pid, 0)
            seconds = time.perf_counter() - start
            if os.waitstatus_to_exitcode(status) != 0:
                errors.seek(0)
                raise SystemExit(f"build failed: {' '.join(command)}\n{errors.read().decode()}")
        peak = int(measured.read_text().split()[-1]) * 1024 if timer else usage.ru_maxrss * 1024
    return seconds, peak


def digests(directory: Path) -> dict[str, str]:
    """sha256 of every file of an index (their bytes must not depend on pipelining)."""
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def shard_tokens(index: Path) -> np.ndarray:
    """The tokens.bin payload of a one-shard byte index: what its sort sorted."""
    data = np.fromfile(index / "shard-00000" / "tokens.bin", dtype=np.uint8, offset=HEADER_BYTES)
    return data.copy()  # writable, as pydivsufsort wants


def sort_alone(tokens: np.ndarray) -> float:
    import pydivsufsort

    start = time.perf_counter()
    pydivsufsort.divsufsort(tokens)
    return time.perf_counter() - start


def stages(files: list[Path], out: Path) -> dict[str, float]:
    """A one-shard byte build in-process, timed around its sort: reading and tokenizing
    (until the sort starts), the sort, and everything after it (writing, hashing, fsync)."""
    import infgram
    from infgram.build import sa_writer

    marks: dict[str, float] = {}
    original = sa_writer.sorted_positions

    def timed(tokens: np.ndarray, token_width: int, out: np.ndarray | None = None, threads: int = 1):
        marks["sort started"] = time.perf_counter()
        chunks = list(original(tokens, token_width, out, threads))
        marks["sort ended"] = time.perf_counter()
        yield from chunks

    shutil.rmtree(out, ignore_errors=True)
    sa_writer.sorted_positions = timed
    try:
        start = time.perf_counter()
        infgram.build(files, out, progress=False)
        end = time.perf_counter()
    finally:
        sa_writer.sorted_positions = original
    return {"read and tokenize": marks["sort started"] - start, "sort": marks["sort ended"] - marks["sort started"],
            "after the sort": end - marks["sort ended"], "total": end - start}


def tokenize_alone(texts: list[str], tokenizer_path: Path) -> tuple[float, int]:
    """Seconds to encode every text with the build's tokenizer, in the build's batches."""
    from infgram.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(tokenizer_path)
    start = time.perf_counter()
    count = 0
    for first in range(0, len(texts), 2048):
        count += sum(len(ids) for ids in tokenizer.encode_batch(texts[first : first + 2048]))
    return time.perf_counter() - start, count


def texts_of(files: list[Path]) -> list[str]:
    """The documents' texts, as the build reads them (every non-empty ``text``)."""
    from infgram.build.inputs import SourceDocument, read_records

    return [r.text for r in read_records(files, "text") if isinstance(r, SourceDocument)]


class Table:
    """Timings per row label, over runs; rows print as Markdown."""

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = {}
        self.rss: dict[str, list[int]] = {}
        self.notes: dict[str, str] = {}

    def add(self, label: str, seconds: float, rss: int | None = None) -> None:
        self.seconds.setdefault(label, []).append(seconds)
        if rss is not None:
            self.rss.setdefault(label, []).append(rss)

    def median(self, label: str) -> float:
        return statistics.median(self.seconds[label])

    def rows(self, megabytes: float, reference: Callable[[str], str | None]) -> list[str]:
        lines = []
        for label, times in self.seconds.items():
            rss = f"{statistics.median(self.rss[label]) / 2**20:,.0f}" if label in self.rss else ""
            against = reference(label)
            ratio = f"{self.median(label) / self.median(against):.2f}" if against and against in self.seconds else ""
            lines.append(f"| {label} | {megabytes / self.median(label):.1f} | {self.median(label):.2f} | "
                         f"{ratio} | {rss} | {', '.join(f'{t:.2f}' for t in times)} | {self.notes.get(label, '')} |")
        return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs of every measurement (medians reported)")
    parser.add_argument("--parts", nargs="+", choices=["bytes", "shards", "sp32k", "memory"],
                        default=["bytes", "shards", "sp32k", "memory"])
    parser.add_argument("--shard-tokens", type=int, default=8_000_000, help="shard size of the multi-shard byte build")
    parser.add_argument("--shard-tokens-sp32k", type=int, default=4_000_000, help="shard size of the multi-shard sp32k build")
    parser.add_argument("--memory", default="256M", help="the budget of the memory part")
    parser.add_argument("--work", type=Path, help="where indexes are written (default: a temporary directory)")
    options = parser.parse_args(argv)

    files = fetch(["wiki", "prose"])
    sp32k = SHARED / "tokenizers" / "sp32k.tokenizer.json"
    work = options.work or Path(tempfile.mkdtemp(prefix="infgram-build-pipeline-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"corpus: wiki + prose, {len(files)} files, {sum(f.stat().st_size for f in files) / 1e6:.1f} MB; "
          f"machine: {machine()}")
    print(f"command: python {' '.join(sys.argv)}")
    print(f"before: {load()}\n", flush=True)

    # A first build, untimed: the page cache holds the inputs, and its tokens are what (a) sorts.
    run_build(files, work / "warm", [])
    tokens = shard_tokens(work / "warm")
    megabytes = tokens.nbytes / 1e6
    texts = texts_of(files) if "sp32k" in options.parts else []
    table = Table()
    breakdowns: list[dict[str, float]] = []
    identical: dict[str, bool] = {}

    def same(label: str, a: Path, b: Path) -> None:
        identical[label] = identical.get(label, True) and digests(a) == digests(b)

    for run in range(options.runs):
        if "bytes" in options.parts:
            table.add("(a) libdivsufsort alone, bytes", sort_alone(tokens))
            seconds, rss = run_build(files, work / "one-p", [], pipelined=True)
            table.add("(b) byte build, 1 shard, pipelined", seconds, rss)
            seconds, rss = run_build(files, work / "one-s", [], pipelined=False)
            table.add("(b) byte build, 1 shard, sequential", seconds, rss)
            same("byte build, 1 shard", work / "one-p", work / "one-s")
            breakdowns.append(stages(files, work / "stages"))
        if "shards" in options.parts:
            shard = ["--shard-tokens", str(options.shard_tokens)]
            seconds, rss = run_build(files, work / "multi-s", shard, pipelined=False)
            table.add(f"(c) byte build, {options.shard_tokens:,} per shard, sequential", seconds, rss)
            seconds, rss = run_build(files, work / "multi-p", shard, pipelined=True)
            table.add(f"(c) byte build, {options.shard_tokens:,} per shard, pipelined", seconds, rss)
            same(f"byte build, {options.shard_tokens:,} per shard", work / "multi-p", work / "multi-s")
        if "sp32k" in options.parts:
            seconds, count = tokenize_alone(texts, sp32k)
            table.add("(d) sp32k tokenizing alone", seconds)
            table.notes["(d) sp32k tokenizing alone"] = f"{count:,} tokens"
            shard = ["--tokenizer", str(sp32k), "--shard-tokens", str(options.shard_tokens_sp32k)]
            seconds, rss = run_build(files, work / "sp-multi-p", shard, pipelined=True)
            table.add(f"(d) sp32k build, {options.shard_tokens_sp32k:,} per shard, pipelined", seconds, rss)
            seconds, rss = run_build(files, work / "sp-multi-s", shard, pipelined=False)
            table.add(f"(d) sp32k build, {options.shard_tokens_sp32k:,} per shard, sequential", seconds, rss)
            same(f"sp32k build, {options.shard_tokens_sp32k:,} per shard", work / "sp-multi-p", work / "sp-multi-s")
            seconds, rss = run_build(files, work / "sp-one-p", ["--tokenizer", str(sp32k)], pipelined=True)
            table.add("(d) sp32k build, 1 shard, pipelined", seconds, rss)
        if "memory" in options.parts:
            budget = ["--memory", options.memory]
            seconds, rss = run_build(files, work / "budget-p", budget, pipelined=True)
            table.add(f"(e) byte build, --memory {options.memory}, pipelined", seconds, rss)
            seconds, rss = run_build(files, work / "budget-s", budget, pipelined=False)
            table.add(f"(e) byte build, --memory {options.memory}, sequential", seconds, rss)
            same(f"byte build, --memory {options.memory}", work / "budget-p", work / "budget-s")
        print(f"run {run + 1} of {options.runs} done ({load()})", file=sys.stderr, flush=True)

    def reference(label: str) -> str | None:
        """The row a row is compared with: the sort alone, or the tokenizer alone."""
        if label.startswith("(b)"):
            return "(a) libdivsufsort alone, bytes"
        if label.startswith("(c)") and label.endswith("pipelined"):
            return "(a) libdivsufsort alone, bytes"
        if label.startswith("(d) sp32k build"):
            return "(d) sp32k tokenizing alone"
        return None

    print(f"text: {megabytes:.1f} MB ({len(tokens):,} byte positions); runs: {options.runs}\n")
    print("| measurement | MB/s | median s | ratio to (a) or tokenizer | peak RSS MiB | runs (s) | note |")
    print("|---|---|---|---|---|---|---|")
    for row in table.rows(megabytes, reference):
        print(row)
    if breakdowns:
        print("\nbyte build, 1 shard, pipelined, in-process (median s):\n")
        print("| read and tokenize | sort | after the sort | total |")
        print("|---|---|---|---|")
        print("| " + " | ".join(f"{statistics.median(b[key] for b in breakdowns):.2f}"
                                for key in ("read and tokenize", "sort", "after the sort", "total")) + " |")
    if "memory" in options.parts:
        from infgram.build.plan import parse_memory

        label = f"(e) byte build, --memory {options.memory}, pipelined"
        peak = max(table.rss[label])
        print(f"\n--memory {options.memory}: peak RSS {peak / 2**20:,.0f} MiB of {parse_memory(options.memory) / 2**20:,.0f} MiB "
              f"({'within' if peak <= parse_memory(options.memory) else 'OVER'} the budget)")
    print("\nidentical files, pipelined vs sequential: "
          + ", ".join(f"{label}: {'yes' if ok else 'NO'}" for label, ok in identical.items()))
    print(f"after: {load()}")
    if not options.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(identical.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
