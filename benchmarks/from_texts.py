"""A throwaway index in memory: ``Index.from_texts`` of 1,000 texts of 1 KB, to its first count.

    python benchmarks/from_texts.py

The texts are made here, the same on every run: 1,000 texts of 1,024 characters of words drawn
(seeded) from a Zipf-like distribution over 5,000 made-up words, so phrases repeat as in prose.
Each run times, from the call, ``Index.from_texts(texts)`` and its first ``count`` of a
phrase cut from a text (the target: within 50 ms); the first run of the process is reported
apart (it imports the sorter). Beside it, the same texts through the files
(``build_from_documents`` into a temporary directory, then ``Index.open`` and the count), in
the same process, for the ratio. Prints one line per measure and a JSON summary at the end.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path


def make_texts(num_texts: int = 1000, text_chars: int = 1024, seed: int = 20261207) -> list[str]:
    """``num_texts`` texts of exactly ``text_chars`` characters of seeded made-up words."""
    rng = random.Random(seed)
    letters = "etaoinshrdlcumwfgypbvkjxqz"
    words = ["".join(rng.choice(letters[: 6 + rank % 20]) for _ in range(rng.randint(1, 9))) for rank in range(5000)]
    weights = [1 / (rank + 1) for rank in range(len(words))]
    texts = []
    for _ in range(num_texts):
        text = ""
        while len(text) < text_chars:
            text += " ".join(rng.choices(words, weights, k=64)) + ". "
        texts.append(text[:text_chars])
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--text-chars", type=int, default=1024)
    args = parser.parse_args()
    texts = make_texts(args.texts, args.text_chars)
    phrase = texts[len(texts) // 2][100:120]

    import infgram

    def in_memory() -> tuple[float, float, int]:
        start = time.perf_counter()
        index = infgram.Index.from_texts(texts)
        built = time.perf_counter()
        count = index.count(phrase)
        return built - start, time.perf_counter() - start, count

    def through_files() -> tuple[float, int]:
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            infgram.build_from_documents(texts, Path(folder) / "index", progress=False)
            count = infgram.Index.open(Path(folder) / "index").count(phrase)
            return time.perf_counter() - start, count

    first_build, first_total, first_count = in_memory()
    print(f"first call of the process: built in {first_build * 1e3:.1f} ms, first count after {first_total * 1e3:.1f} ms")
    totals, builds, files = [], [], []
    for _ in range(args.runs):
        build_seconds, total_seconds, count = in_memory()
        assert count == first_count
        builds.append(build_seconds)
        totals.append(total_seconds)
        file_seconds, file_count = through_files()
        assert file_count == count
        files.append(file_seconds)
    summary = {
        "texts": len(texts), "bytes": sum(len(t.encode()) for t in texts), "runs": args.runs, "count": first_count,
        "first_process_call_ms": round(first_total * 1e3, 1),
        "build_ms_median": round(statistics.median(builds) * 1e3, 1),
        "first_count_ms_median": round(statistics.median(totals) * 1e3, 1),
        "first_count_ms_max": round(max(totals) * 1e3, 1),
        "runs_within_50_ms": sum(t <= 0.050 for t in totals),
        "through_files_ms_median": round(statistics.median(files) * 1e3, 1),
    }
    summary["files_over_memory"] = round(summary["through_files_ms_median"] / summary["first_count_ms_median"], 2)
    print(f"from_texts to first count: median {summary['first_count_ms_median']} ms (build "
          f"{summary['build_ms_median']} ms), max {summary['first_count_ms_max']} ms; "
          f"{summary['runs_within_50_ms']}/{args.runs} runs within 50 ms")
    print(f"through files (build_from_documents, open, count): median {summary['through_files_ms_median']} ms, "
          f"{summary['files_over_memory']}x the in-memory time")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
