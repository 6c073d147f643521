"""Single-query latency on an existing index, to compare two versions of infgram on one index.

    python benchmarks/query_latency.py --index /tmp/bench/index            # this checkout
    PYTHONPATH=/other/checkout/src python benchmarks/query_latency.py --index /tmp/bench/index

Run it alternately with each version (both open the same index: build it with the older
one). Queries are sampled from the index itself with a fixed seed, so both versions answer
the same ones. Prints the median over the queries of the best of ``--repeats`` passes.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import infgram


def _median_micros(call, arguments, repeats: int) -> float:
    best = []
    for _ in range(repeats):
        times = []
        for argument in arguments:
            start = time.perf_counter()
            call(*argument)
            times.append(time.perf_counter() - start)
        best.append(statistics.median(times))
    return min(best) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", required=True)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    index = infgram.Index.open(args.index)
    tokens = np.asarray(index.shards[0].tokens)
    separator = index.separator_id
    rng = np.random.default_rng(1)
    windows = []
    while len(windows) < args.queries:
        at = int(rng.integers(101, len(tokens) - 2))
        window = tokens[at - 101 : at + 1]
        if not (window == separator).any():
            context = window[:100].tolist()
            context[50] = int(context[49])  # a change mid-context, so the ∞-gram backs off
            windows.append((context, int(window[100])))
    rows = [
        ("count, 5 ids", index.count, [(c[-5:],) for c, _ in windows]),
        ("probability, 3-id prompt + next id", index.probability, [(c[-3:], n) for c, n in windows]),
        ("infgram_probability, 100-id context", index.infgram_probability, windows),
        ("next_tokens, 4-id prompt", index.next_tokens, [(c[-4:],) for c, _ in windows]),
        ("documents, 5-id phrase, limit 10", lambda q: index.documents(q, limit=10), [(c[-5:],) for c, _ in windows[:300]]),
    ]
    print(f"infgram from {infgram.__file__}")
    print("| query | median |")
    print("|---|---|")
    for name, call, arguments in rows:
        print(f"| {name} | {_median_micros(call, arguments, args.repeats):,.1f} µs |")


if __name__ == "__main__":
    main()
