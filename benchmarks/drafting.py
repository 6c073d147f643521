"""Drafting with the ∞-gram against a plain 3-gram drafter, on held-out text.

    python benchmarks/lm_perplexity.py ...   # builds the index and the held-out file first
    python benchmarks/drafting.py --documents 100 --prompts-per-document 5

At random positions of held-out documents (the prompt: the document up to there), draft
``max_tokens`` = 4, 8, 16 tokens greedily and count how many drafted tokens equal the real
continuation before the first mismatch (the acceptance length of speculative decoding).
The 3-gram drafter is the same greedy loop with the context cut to its last 2 tokens
(``max_suffix_tokens=2``), on the same index. Reports the mean acceptance length and the
mean and 95th-percentile latency per draft.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default=str(Path.home() / ".cache" / "infgram-bench" / "lm"))
    parser.add_argument("--documents", type=int, default=100)
    parser.add_argument("--prompts-per-document", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import infgram
    from infgram.lm.reports import read_texts

    work = Path(args.work)
    index = infgram.Index.open(work / "index")
    rng = random.Random(args.seed)
    cases = []
    for text in read_texts(work / "heldout.jsonl")[: args.documents]:
        ids = index.tokenize(text).tolist()
        if len(ids) < 24:
            continue
        for _ in range(args.prompts_per_document):
            cut = rng.randrange(8, len(ids) - 16)
            cases.append((ids[:cut], ids[cut : cut + 16]))
    report = {"index_tokens": index.num_tokens, "drafts": len(cases)}
    for name, suffix in (("infgram", None), ("3-gram", 2)):
        for max_tokens in (4, 8, 16):
            accepted, seconds = [], []
            for prompt, truth in cases:
                start = time.perf_counter()
                result = index.draft(prompt, max_tokens=max_tokens, max_suffix_tokens=suffix)
                seconds.append(time.perf_counter() - start)
                length = 0
                for token, real in zip(result.tokens, truth):
                    if token.id != real:
                        break
                    length += 1
                accepted.append(length)
            report[f"{name} max_tokens={max_tokens}"] = {
                "mean_acceptance_length": round(float(np.mean(accepted)), 3),
                "mean_latency_ms": round(1000 * float(np.mean(seconds)), 3),
                "p95_latency_ms": round(1000 * float(np.percentile(seconds, 95)), 3)}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
