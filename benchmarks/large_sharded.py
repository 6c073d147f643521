"""A corpus of 10 GB or more, built in shards under a memory budget, checked against one shard.

    python benchmarks/large_sharded.py --work /big/disk/infgram-large     # ~10 GB corpus, ~45 GB index

Nothing larger than BIG-bench (1.1 GB of JSONL) is at hand, so the corpus is BIG-bench
repeated ``--copies`` times (9 by default: 10.2 GB), each copy in its own shuffled order.
Then every answer is known exactly: each document occurs ``copies`` times, so every count
(of n-grams, next tokens, documents, ∞-gram suffixes) of the big index is ``copies`` times
that of a single-shard index of one copy, and every ∞-gram suffix length is the same.

The big index is built by ``infgram build --memory`` (default 8G, so it must be sharded) under
``/usr/bin/time -v`` for wall time and peak memory; the one-copy index by the same command
with the default budget (one shard). The check samples n-grams and prompts from the one-copy
index and fails loudly on any difference.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

import infgram

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import fetch, machine, sample_ngrams  # noqa: E402


def make_corpus(source: Path, folder: Path, copies: int) -> list[Path]:
    """``copies`` shuffled copies of the source JSONL, one file each (kept between runs)."""
    folder.mkdir(parents=True, exist_ok=True)
    done = folder / "DONE"
    paths = [folder / f"copy-{number:02d}.jsonl" for number in range(copies)]
    if done.exists() and done.read_text() == str(copies):
        return paths
    # Bytes split at b"\n" only: str.splitlines would also split at U+2028 and the like,
    # which JSON strings may hold unescaped.
    lines = [line + b"\n" for line in source.read_bytes().split(b"\n") if line]
    for number, path in enumerate(tqdm(paths, desc="writing shuffled copies", unit="copy")):
        random.Random(number).shuffle(lines)
        partial = path.with_suffix(".partial")
        with open(partial, "wb") as sink:
            sink.writelines(lines)
        partial.rename(path)
    done.write_text(str(copies))
    return paths


def timed_build(inputs: list[Path], out: Path, memory: str | None) -> tuple[float, int]:
    """Run ``infgram build``; its wall seconds and peak RSS in bytes."""
    command = ["/usr/bin/time", "-v", sys.executable, "-m", "infgram", "build", *map(str, inputs), "--out", str(out),
               "--quiet"] + (["--memory", memory] if memory else [])
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"build failed:\n{result.stdout}\n{result.stderr}")
    print(result.stdout.strip())
    peak_kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr).group(1))
    return seconds, peak_kib * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", required=True, help="a folder with room for the corpus and its index")
    parser.add_argument("--copies", type=int, default=9)
    parser.add_argument("--memory", default="8G", help="memory budget of the big build (default 8G)")
    parser.add_argument("--reference", default=None, help="an existing one-shard byte index of one copy")
    parser.add_argument("--queries", type=int, default=2000)
    args = parser.parse_args()
    work = Path(args.work)
    (source,) = fetch(["bigbench"])
    corpus = make_corpus(source, work / "corpus", args.copies)
    corpus_bytes = sum(p.stat().st_size for p in corpus)

    reference_dir = Path(args.reference) if args.reference else work / "one-copy"
    if not args.reference:
        timed_build([source], reference_dir, None)
    big_dir = work / "sharded"
    # The build's figures are kept beside it, so the checks can run again without a rebuild.
    timing = work / f"sharded-build-{args.copies}-{args.memory}.json"
    if timing.exists() and (big_dir / "manifest.json").exists():
        seconds, peak = json.loads(timing.read_text())
        print(f"reusing {big_dir} (built in {seconds:.0f} s); delete {timing} to rebuild")
    else:
        seconds, peak = timed_build(corpus, big_dir, args.memory)
        timing.write_text(json.dumps([seconds, peak]))

    reference, big = infgram.Index.open(reference_dir), infgram.Index.open(big_dir)
    copies = args.copies
    if len(reference.shards) != 1:
        raise SystemExit(f"expected --reference to be a one-shard index, found {len(reference.shards)} shards; "
                         "build it with a larger --memory")
    problems = []

    def check(what: str, ours, expected) -> None:
        if ours != expected:
            problems.append(f"{what}: sharded {ours!r:.200} != expected {expected!r:.200}")

    check("num_documents", big.num_documents, copies * reference.num_documents)
    check("num_tokens", big.num_tokens, copies * reference.num_tokens)
    rng = np.random.default_rng(0)
    tokens = np.asarray(reference.shards[0].tokens)
    checked = 0
    for n in (1, 2, 5, 10, 50):
        grams = sample_ngrams(tokens, reference.separator_id, n, args.queries, rng)
        check(f"count_batch n={n}", big.count_batch(grams).tolist(), (copies * reference.count_batch(grams)).tolist())
        checked += len(grams)
    for prompt in sample_ngrams(tokens, reference.separator_id, 3, 100, rng):
        ours = [(t.id, t.count) for t in big.next_tokens(prompt).tokens]
        check(f"next_tokens {prompt}", ours, [(t.id, copies * t.count) for t in reference.next_tokens(prompt).tokens])
        check(f"documents {prompt}", big.documents(prompt, limit=0).count, copies * reference.documents(prompt, limit=0).count)
        checked += 2
    for context in sample_ngrams(tokens, reference.separator_id, 40, 200, rng):
        prompt, following = context[:-1], context[-1]
        ours, one = big.infgram_probability(prompt, following), reference.infgram_probability(prompt, following)
        check(f"infgram_probability {context}", (ours.suffix_length, ours.prompt_count, ours.count),
              (one.suffix_length, copies * one.prompt_count, copies * one.count))
        checked += 1
    info = big.info()
    print(f"\n{machine()}; command: python benchmarks/large_sharded.py --work {args.work} --copies {copies} "
          f"--memory {args.memory}\n")
    print("| Measure | Value |\n|---|---|")
    print(f"| corpus | {corpus_bytes / 1e9:.2f} GB of JSONL ({copies} shuffled copies of BIG-bench), "
          f"{info['num_documents']:,} documents, {info['num_tokens']:,} tokens |")
    print(f"| build, --memory {args.memory} | {seconds / 60:.1f} min, {corpus_bytes / seconds / 1e6:.1f} MB/s of JSONL, "
          f"peak RSS {peak / 2**30:.2f} GiB, {info['num_shards']} shards |")
    print(f"| index | {info['index_bytes'] / 1e9:.1f} GB, {info['bytes_per_token']} bytes per token |")
    print(f"| answers checked against {copies} × one copy (one shard) | {checked:,}: "
          f"{'all equal' if not problems else f'{len(problems)} differ'} |")
    if problems:
        print("\n".join(problems[:20]), file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
