"""In memory, the RAM tier's suffix keys against the older ones: the same corpus, two indexes.

    python benchmarks/keys_in_memory.py

Builds wiki + prose (the corpus split of ``vs_official.py``) twice: with today's suffix keys
(a key and a position every 32nd suffix) and with the older layout (a key every 256th suffix,
no positions), both opened with ``load="ram"`` and read once whole. Then 5 interleaved passes
of 3,000 counts of 2-30 byte corpus phrases and 1,000 ∞-gram probabilities (the phrase less
its last byte, then that byte); prints the median pass's mean per call, in µs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from unittest import mock

import numpy as np

import infgram
from infgram.build import sa_writer
from vs_official import CACHE, CORPORA, fetch, split_corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default=None, help=f"working folder (default {CACHE}/work/quick)")
    parser.add_argument("--passes", type=int, default=5)
    args = parser.parse_args()
    work = Path(args.work or CACHE / "work" / "quick")
    corpus = work / "corpus" / "corpus.jsonl"
    split_corpus(fetch(CORPORA["quick"]), corpus, 0.01, 0)
    indexes = {}
    for name, step, record in (("today", sa_writer.SUFFIX_KEY_STEP, sa_writer.SUFFIX_KEY_RECORD_BYTES),
                               ("older", 256, 8)):
        folder = work / "keys" / name
        if not (folder / "manifest.json").exists():
            with mock.patch.object(sa_writer, "SUFFIX_KEY_STEP", step):
                if record == 8:  # the older files: keys alone
                    pieces_of = sa_writer._suffix_key_pieces

                    def keys_alone(*arguments, pieces_of=pieces_of):
                        return (np.frombuffer(piece, dtype="<u8").reshape(-1, 2)[:, 0].tobytes()
                                for piece in pieces_of(*arguments))

                    with mock.patch.object(sa_writer, "_suffix_key_pieces", keys_alone), \
                            mock.patch.object(sa_writer, "SUFFIX_KEY_RECORD_BYTES", 8):
                        infgram.build([corpus], folder, progress=False, overwrite=True)
                else:
                    infgram.build([corpus], folder, progress=False, overwrite=True)
        index = infgram.Index.open(folder, load="ram")
        for shard in index.shards:
            int(np.asarray(shard.tokens).sum()), int(np.asarray(shard.suffix_array_bytes).sum())
        indexes[name] = index
    tokens = np.asarray(indexes["today"].shards[0].tokens)
    rng = np.random.default_rng(1)
    phrases = []
    while len(phrases) < 3000:
        n = int(rng.integers(2, 31))
        at = int(rng.integers(0, len(tokens) - n))
        gram = tokens[at : at + n]
        if (gram != 255).all():
            phrases.append(gram.tolist())
    results: dict[str, list[float]] = {f"{name} {kind}": [] for name in indexes for kind in ("count", "∞-gram")}
    for _ in range(args.passes):
        for name, index in indexes.items():
            start = time.perf_counter_ns()
            for phrase in phrases:
                index.count(phrase)
            results[f"{name} count"].append((time.perf_counter_ns() - start) / len(phrases) / 1e3)
            start = time.perf_counter_ns()
            for phrase in phrases[:1000]:
                index.infgram_probability(phrase[:-1], phrase[-1])
            results[f"{name} ∞-gram"].append((time.perf_counter_ns() - start) / 1000 / 1e3)
    for key, values in results.items():
        print(f"{key}: {statistics.median(values):.2f} µs")


if __name__ == "__main__":
    main()
