"""AND/OR search, attribution and co-occurrence on a real corpus (issue: document search).

    python benchmarks/search_attribution.py --corpus wiki
    python benchmarks/search_attribution.py --corpus bigbench --work ~/infgram-bench   # 1.1 GB

Builds (or reuses, in ``--work``) a byte-mode index of the corpus, then times on a warm index:

- an AND of a rare phrase (a word seen 2-20 times) and a very common one (" the "), the
  case the search intersects from the rare side; then two common phrases, and ``within``;
- attribution of 1,000-token texts, half copied from a corpus document and half from a
  document of another corpus, plus the one-pass ``longest_matches`` and whole-sequence
  ``infgram_probabilities`` on them;
- 10,000 co-occurrence pairs among 2,000 words drawn from the corpus, in one call.

Prints a Markdown table of medians (wall clock, from Python).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import infgram

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import fetch, read_texts  # noqa: E402


def timed(function, arguments: list) -> tuple[float, list]:
    """Median seconds of function(argument) over the arguments, and the results."""
    times, results = [], []
    for argument in arguments:
        start = time.perf_counter()
        results.append(function(argument))
        times.append(time.perf_counter() - start)
    return statistics.median(times), results


def words_of(texts: list[str]) -> list[str]:
    """The distinct words (4 to 12 letters) of the texts, sorted."""
    return sorted({w for text in texts for w in text.split() if w.isalpha() and 4 <= len(w) <= 12})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="wiki", help="a name for ../shared/datasets/fetch (wiki, prose, bigbench)")
    parser.add_argument("--other", default="prose", help="corpus the novel half of attributed texts comes from")
    parser.add_argument("--work", default=None, help="keeps the index between runs (default: a temporary directory)")
    parser.add_argument("--index", default=None, help="use this existing byte-mode index of the corpus instead of building one")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    work = Path(args.work or tempfile.mkdtemp(prefix="infgram-search-bench-"))
    files = fetch([args.corpus])
    index_dir = Path(args.index) if args.index else work / f"{args.corpus}-bytes"
    start = time.perf_counter()
    if args.index:
        build_note = "given"
    else:
        report = infgram.build(files, index_dir, progress=False)
        build_note = "reused" if report.up_to_date else f"built in {time.perf_counter() - start:.0f} s"
    index = infgram.Index.open(index_dir)
    for path in index_dir.rglob("*.bin"):  # warm the page cache
        with open(path, "rb") as handle:
            while handle.read(1 << 24):
                pass

    texts = read_texts(files, 20_000)
    words = words_of(texts)
    spaced = [f" {w} " for w in words]
    counts = index.count_batch(spaced)
    rare = [w for w, c in zip(spaced, counts.tolist()) if 2 <= c <= 20]
    rare = rng.sample(rare, min(200, len(rare)))
    common, other_common = " the ", " and "
    rows = []

    seconds, results = timed(lambda r: index.search([[r], [common]]), rare)
    rows.append((f"search: rare AND {common.strip()!r} ({index.count(common):,} occurrences), {len(rare)} rare words",
                 f"{seconds * 1e3:.2f} ms", f"median {statistics.median(r.num_documents for r in results):.0f} documents"))
    seconds, results = timed(lambda r: index.search([[r], [common]], within=10), rare)
    rows.append(("search: the same, within 10 tokens", f"{seconds * 1e3:.2f} ms",
                 f"median {statistics.median(r.num_documents for r in results):.0f} documents"))
    seconds, results = timed(lambda r: index.search([[r, r.upper()], [common, other_common]]), rare[:50])
    rows.append(("search: (rare OR RARE) AND (' the ' OR ' and ')", f"{seconds * 1e3:.2f} ms", ""))
    seconds, results = timed(lambda _: index.search([[common], [other_common]], limit=10), [None] * 3)
    rows.append(("search: ' the ' AND ' and ' (two common clauses)", f"{seconds * 1e3:.0f} ms",
                 f"{results[0].num_documents:,} documents, {results[0].sites:,} sites"))

    other_files = fetch([args.other])
    other_texts = read_texts(other_files, 2_000)
    long_texts = [t for t in texts if len(t.encode()) >= 600]
    long_other = [t for t in other_texts if len(t.encode()) >= 600]
    samples = []
    for _ in range(20):
        copied = rng.choice(long_texts).encode()[:500].decode("utf-8", errors="ignore")
        novel = rng.choice(long_other).encode()[:500].decode("utf-8", errors="ignore")
        samples.append(copied + " " + novel)
    num_tokens = statistics.median(len(index.tokenize(s)) for s in samples)
    seconds, results = timed(index.attribute, samples)
    rows.append((f"attribute, {num_tokens:.0f}-token texts (half copied), 20 texts", f"{seconds * 1e3:.1f} ms",
                 f"median {statistics.median(len(r.spans) for r in results):.0f} spans"))
    seconds, _ = timed(index.longest_matches, samples)
    rows.append(("longest_matches, same texts", f"{seconds * 1e6 / num_tokens:.2f} µs per token", ""))
    seconds, _ = timed(index.infgram_probabilities, samples)
    rows.append(("infgram_probabilities (every token's ∞-gram probability), same texts",
                 f"{seconds * 1e6 / num_tokens:.2f} µs per token", ""))

    phrases = rng.sample(spaced, min(2000, len(spaced)))
    pairs = [tuple(rng.sample(range(len(phrases)), 2)) for _ in range(10_000)]
    start = time.perf_counter()
    result = index.cooccurrence(phrases, pairs)
    seconds = time.perf_counter() - start
    rows.append((f"cooccurrence: {len(phrases):,} words, {len(pairs):,} pairs, one call", f"{seconds:.2f} s",
                 f"{len(phrases) / seconds:,.0f} phrases/s; {sum(1 for c in result.pair_document_counts if c):,} pairs co-occur"))

    info = index.info()
    print(f"\n{args.corpus}: {info['num_documents']:,} documents, {info['num_tokens']:,} tokens (bytes), index {build_note}; "
          f"{platform.processor() or platform.machine()}, Python {platform.python_version()}\n")
    print("| Measure | Median | Notes |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
