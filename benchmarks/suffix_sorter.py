"""Suffix sorting speed: infgram's SA-IS (``infgram._sort``) against libdivsufsort.

    pip install ".[bench]"                                  # pydivsufsort, to compare with
    python benchmarks/suffix_sorter.py                      # wiki + prose, sp32k and bytes
    python benchmarks/suffix_sorter.py --modes bytes --runs 5
    python benchmarks/suffix_sorter.py --synthetic 20       # 20 MB of random words, no download

Both sides run single-threaded: the script sets ``OMP_NUM_THREADS`` (``--omp-threads``,
default 1) before libdivsufsort's OpenMP runtime loads, and infgram's sorter is given one
thread. ``--threads`` (default ``1 2``) adds our sorter on more threads, compared with itself
on one (the last lines).
Besides wall-clock time, every run's CPU time is recorded (on a shared machine a
single-threaded sort's CPU time is the steadier figure), and the last lines give our
sorter's speed as a multiple of libdivsufsort's on the same bytes in the same run.

Fetches wiki and prose with ``../shared/datasets/fetch`` (falling back to a synthetic
corpus of random words when that fails or with ``--synthetic``), and lays the documents out
as a shard does: each document's tokens followed by the separator (the largest id of the
width), big-endian. Two modes:

  sp32k   token ids of ``../shared/tokenizers/sp32k.tokenizer.json`` (2 bytes per token);
  llama3  token ids of ``../shared/tokenizers/llama3.tokenizer.json`` (4 bytes per token;
          ``--modes llama3``, not run by default);
  bytes   the UTF-8 bytes (1 byte per token).

Sorters, timed in turn within each run (interleaved, so that drift in the machine's speed
hits them alike): ``infgram._sort.sort_suffixes``; the older vendored sorter
``infgram._core.sort_suffixes`` when the installed build still has it; and
``pydivsufsort.divsufsort`` on the bytes (for 2- and 4-byte tokens it sorts every byte suffix and
the suffixes inside tokens are then dropped, as the build did for sparse 32-bit ids). Prints
a Markdown table of the median MB/s (megabytes of tokens sorted per second of wall-clock time).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED, fetch, machine, read_texts


def synthetic_texts(megabytes: float, seed: int = 0) -> list[str]:
    """Documents of random words with a Zipf-like frequency, about ``megabytes`` of text."""
    rng = random.Random(seed)
    alphabet = "etaoinshrdlucmfwypvbgkjqxz"
    vocabulary = ["".join(rng.choices(alphabet, k=rng.randint(1, 9))) for _ in range(20000)]
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]
    texts: list[str] = []
    size = 0
    while size < megabytes * 1e6:
        text = " ".join(rng.choices(vocabulary, weights, k=rng.randint(20, 400))) + "."
        texts.append(text)
        size += len(text) + 1
    return texts


def corpus_texts(synthetic: float | None) -> tuple[str, list[str]]:
    if synthetic is None:
        try:
            return "wiki + prose", read_texts(fetch(["wiki", "prose"]))
        except (OSError, subprocess.CalledProcessError) as problem:  # offline, or no shared/ folder
            print(f"(wiki + prose unavailable: {problem}; using 55 MB of synthetic text)", file=sys.stderr)
            synthetic = 55
    return f"synthetic ({synthetic:g} MB)", synthetic_texts(synthetic)


def byte_tokens(texts: list[str]) -> np.ndarray:
    joined = b"\xff".join(text.encode("utf-8") for text in texts) + b"\xff"
    return np.frombuffer(bytearray(joined), dtype=np.uint8)  # writable: pydivsufsort needs that


TOKENIZER_WIDTHS = {"sp32k": 2, "llama3": 4}


def tokenizer_tokens(texts: list[str], mode: str) -> np.ndarray:
    """The ids of ``../shared/tokenizers/<mode>.tokenizer.json``, big-endian in its width."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(SHARED / "tokenizers" / f"{mode}.tokenizer.json"))
    dtype = np.uint16 if TOKENIZER_WIDTHS[mode] == 2 else np.uint32
    separator = np.array([np.iinfo(dtype).max], dtype=dtype)
    pieces = []
    for start in range(0, len(texts), 2000):
        for encoding in tokenizer.encode_batch(texts[start : start + 2000], add_special_tokens=False):
            pieces.append(np.asarray(encoding.ids, dtype=dtype))
            pieces.append(separator)
    return np.concatenate(pieces).astype(f">u{TOKENIZER_WIDTHS[mode]}")


def sorters(tokens: np.ndarray, thread_counts: list[int]) -> dict[str, Callable[[], np.ndarray]]:
    """The available sorters of these big-endian tokens, each returning the suffix array: ours
    on each of ``thread_counts`` threads, then the others."""
    from infgram import _sort

    width = tokens.dtype.itemsize
    data = tokens.view(np.uint8)
    index_type = np.int32 if len(tokens) < 2**31 else np.int64
    # 4-byte ids need the alphabet (the ids below it, besides the separator); 0 means every value.
    separator = np.iinfo(tokens.dtype).max
    alphabet_size = 0 if width < 4 else int(tokens[tokens != separator].max()) + 1

    def infgram_sais(threads: int) -> Callable[[], np.ndarray]:
        def sort() -> np.ndarray:
            out = np.empty(len(tokens), dtype=index_type)
            _sort.sort_suffixes(data, width, alphabet_size, out, threads=threads)
            return out
        return sort

    def divsufsort() -> np.ndarray:
        import pydivsufsort

        order = pydivsufsort.divsufsort(data)
        return order if width == 1 else order[order % width == 0] // width

    found = {sorter_label(threads): infgram_sais(threads) for threads in thread_counts}
    try:
        from infgram import _core

        vendored = _core.sort_suffixes

        def sais_lite() -> np.ndarray:
            out = np.empty(len(tokens), dtype=index_type)
            vendored(data, width, alphabet_size, out)
            return out

        found["sais-lite 2.4.1 (_core, vendored)"] = sais_lite
    except (ImportError, AttributeError):
        pass  # removed from the build: nothing to compare with
    if importlib.util.find_spec("pydivsufsort") is not None:
        found["libdivsufsort (pydivsufsort, bytes)"] = divsufsort
    return found


def sorter_label(threads: int) -> str:
    return "infgram SA-IS (_sort)" if threads == 1 else f"infgram SA-IS (_sort), {threads} threads"


def measure(name: str, tokens: np.ndarray, runs: int, thread_counts: list[int]) -> tuple[list[str], list[str]]:
    """Markdown rows (median MB/s of each sorter over `runs` interleaved runs) and the lines
    that compare infgram's sorter with libdivsufsort (wall-clock and CPU time) and with itself
    on one thread."""
    candidates = sorters(tokens, thread_counts)
    seconds: dict[str, list[float]] = {label: [] for label in candidates}
    cpu_seconds: dict[str, list[float]] = {label: [] for label in candidates}
    reference = None
    for run in range(runs):
        for label, sort in candidates.items():
            start, cpu_start = time.perf_counter(), time.process_time()
            result = sort()
            seconds[label].append(time.perf_counter() - start)
            cpu_seconds[label].append(time.process_time() - cpu_start)
            if reference is None:
                reference = result
            elif run == 0 and not np.array_equal(reference, result):
                raise SystemExit(f"{label} disagrees with {next(iter(candidates))} on {name}")
            del result
    megabytes = tokens.nbytes / 1e6
    rows = []
    for label, times in seconds.items():
        median = statistics.median(times)
        rows.append(f"| {name} | {len(tokens) / 1e6:.1f} M × {tokens.dtype.itemsize} B | {label} | "
                    f"{megabytes / median:.1f} | {median:.2f} | {statistics.median(cpu_seconds[label]):.2f} | "
                    f"{', '.join(f'{t:.2f}' for t in times)} |")
    ours, theirs = sorter_label(1), "libdivsufsort (pydivsufsort, bytes)"
    ratios = []
    for threads in thread_counts:
        if threads > 1 and ours in seconds:
            wall = statistics.median(seconds[ours]) / statistics.median(seconds[sorter_label(threads)])
            ratios.append(f"{name}: infgram SA-IS on {threads} threads sorts at {wall:.2f}x its speed on one "
                          f"(wall-clock medians; {paired_ratio(seconds[ours], seconds[sorter_label(threads)]):.2f}x "
                          "run by run)")
    if theirs in seconds and ours in seconds:
        wall = statistics.median(seconds[theirs]) / statistics.median(seconds[ours])
        cpu = statistics.median(cpu_seconds[theirs]) / statistics.median(cpu_seconds[ours])
        ratios.append(f"{name}: infgram SA-IS sorts at {wall:.2f}x libdivsufsort's speed (wall-clock medians; "
                      f"{paired_ratio(seconds[theirs], seconds[ours]):.2f}x run by run), {cpu:.2f}x (CPU-time medians)")
    return rows, ratios


def paired_ratio(slower: list[float], faster: list[float]) -> float:
    """The median of the runs' own ratios: each run times every sorter one after another, so on
    a host whose speed drifts, a run's ratio is steadier than the ratio of the medians.

    >>> paired_ratio([2.0, 6.0, 3.0], [1.0, 2.0, 3.0])
    2.0
    """
    return statistics.median(slow / fast for slow, fast in zip(slower, faster))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", nargs="+", choices=["sp32k", "llama3", "bytes"], default=["sp32k", "bytes"])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per sorter (median reported)")
    parser.add_argument("--synthetic", type=float, metavar="MB", help="use this many MB of synthetic text")
    parser.add_argument("--limit-mb", type=float, help="keep only the first MB of documents")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="threads for infgram's sorter, one measurement each (default: 1 2)")
    parser.add_argument("--omp-threads", type=int, default=1,
                        help="OMP_NUM_THREADS for libdivsufsort (default 1: single-threaded, as infgram's sorter)")
    options = parser.parse_args(argv)
    if "pydivsufsort" in sys.modules and os.environ.get("OMP_NUM_THREADS") != str(options.omp_threads):
        raise SystemExit("set OMP_NUM_THREADS before pydivsufsort is imported (run this script on its own)")
    os.environ["OMP_NUM_THREADS"] = str(options.omp_threads)  # read when libdivsufsort's OpenMP loads

    label, texts = corpus_texts(options.synthetic)
    if options.limit_mb:
        kept, size = [], 0
        for text in texts:
            if size >= options.limit_mb * 1e6:
                break
            kept.append(text)
            size += len(text.encode("utf-8")) + 1
        texts = kept
    print(f"corpus: {label}, {len(texts)} documents; machine: {machine()}")
    print(f"command: python {' '.join(sys.argv)}\n")
    print(f"OMP_NUM_THREADS={options.omp_threads}\n")
    print("| mode | tokens | sorter | median MB/s | median s | median CPU s | runs (s) |")
    print("|---|---|---|---|---|---|---|")
    comparisons = []
    for mode in options.modes:
        tokens = tokenizer_tokens(texts, mode) if mode in TOKENIZER_WIDTHS else byte_tokens(texts)
        rows, ratios = measure(mode, tokens, options.runs, options.threads)
        for row in rows:
            print(row, flush=True)
        comparisons += ratios
    if comparisons:
        print()
        print("\n".join(comparisons))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
