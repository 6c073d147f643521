"""The cost of the damage checks: checksums at open, background verification per query, and
the workers' shared state per request.

    python benchmarks/verify_cost.py                  # wiki + prose, first 20 MB of text, 5 rounds
    python benchmarks/verify_cost.py --megabytes 50 --rounds 7

Corpus: the wiki and prose JSONL files (``../shared/datasets/fetch``), their texts in order
up to ``--megabytes``, indexed as a suffix array and as an FM-index in a temporary folder.
Measured, interleaved round by round (medians over ``--rounds``):

  open    ``Index.open`` of each index (``load="ram"`` and ``"disk"``), with the checksums
          of the FM sections, document tables and removal lists and with them switched off
          (the sampled keys' checksum is on in both); the ratio is the cost of the checks.
  query   ``count`` of 2,000 n-grams sampled from the corpus (n = 1..6), mean µs per query,
          for a second, alone and while ``serve --verify``'s verifying child process reads
          the same index again and again (past its start-up); the ratio is the per-query
          cost of verifying (target: within 5%).
  shared  µs per request of the shared state of ``serve --workers N``: a rate-limit token
          taken, the check for a newer generation or a damage verdict when something was
          published, and when nothing was (one ``stat``: every request's usual case).

Figures from a loaded machine only say which way things go; the script prints the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import infgram  # noqa: E402
from infgram import format as index_format  # noqa: E402
from infgram.service import verification  # noqa: E402
from infgram.service.shared import SharedState  # noqa: E402
from infgram.shards import documents as shard_documents, fm as shard_fm, removals as shard_removals  # noqa: E402

CHECKED_MODULES = (shard_fm, shard_documents, shard_removals)
"""Where the checksums this change added are taken (the sampled keys' own, in ``shard_sa``,
came before and stays on in both columns)."""


def corpus_texts(megabytes: float) -> list[str]:
    from common import DATA, fetch

    files = sorted(p for name in ("wiki", "prose") for p in (DATA / name).glob("*.jsonl")) or fetch(["wiki", "prose"])
    texts, size = [], 0
    for path in files:
        for line in open(path, encoding="utf-8"):
            text = json.loads(line).get("text")
            if isinstance(text, str) and text:
                texts.append(text)
                size += len(text.encode("utf-8"))
                if size >= megabytes * 1e6:
                    return texts
    return texts


def set_checks(on: bool) -> None:
    """Switch the checksums at open on or off (off: what opening cost before them)."""
    for module in CHECKED_MODULES:
        module.check_payload_sha256 = index_format.check_payload_sha256 if on else (lambda *arguments: None)


def timed_open(directory: Path, load: str) -> float:
    started = time.perf_counter()
    infgram.Index.open(directory, load=load)
    return time.perf_counter() - started


class Background:
    """serve --verify's verifying child (:func:`infgram.service.verification.verify_in_child`)
    over one index, verifying it again and again in one process while the block runs."""

    def __init__(self, index: infgram.Index, folder: Path):
        self.spec = {"state": str(folder), "name": "index", "identity": verification.identity_of(index),
                     "directories": [str(directory) for directory in index.directories],
                     "pause_ratio": verification.PAUSE_RATIO}
        SharedState(folder).claim_verification("index", self.spec["identity"], index.verify_bytes())

    def __enter__(self) -> "Background":
        loop = ("import json, sys\nfrom infgram.service.verification import verify_in_child\n"
                "while True: verify_in_child(json.loads(sys.argv[1]))")
        self.child = subprocess.Popen([sys.executable, "-c", loop, json.dumps(self.spec)],
                                      env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
        time.sleep(1.0)  # past the child's start-up (imports), into its hashing
        return self

    def __exit__(self, *exc: object) -> None:
        self.child.kill()
        self.child.wait()


def mean_query_micros(index: infgram.Index, queries: list[str], seconds: float = 1.0) -> float:
    """Mean µs per ``count``, over passes through ``queries`` for at least ``seconds``."""
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for query in queries:
            index.count(query)
        done += len(queries)
    return (time.perf_counter() - started) / done * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    folder = Path(tempfile.mkdtemp(prefix="infgram-verify-cost-"))
    texts = corpus_texts(args.megabytes)
    infgram.build_from_documents(texts, folder / "sa", progress=False)
    infgram.build_from_documents(texts, folder / "fm", kind="fm", progress=False)
    rng = random.Random(0)
    queries = []
    while len(queries) < 2000:
        text = rng.choice(texts)
        words = text.split()
        if len(words) >= 6:
            n = rng.randint(1, 6)
            start = rng.randrange(len(words) - n + 1)
            queries.append(" ".join(words[start : start + n]))

    rows: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for kind in ("sa", "fm"):
            for load in ("ram", "disk"):
                for on in (False, True):
                    set_checks(on)
                    rows.setdefault(f"open {kind} {load} checks={'on' if on else 'off'} (ms)", []).append(
                        timed_open(folder / kind, load) * 1e3)
        set_checks(True)
        for kind in ("sa", "fm"):
            for load in ("ram", "disk"):
                index = infgram.Index.open(folder / kind, load=load)
                mean_query_micros(index, queries, 0.2)  # warm
                rows.setdefault(f"query {kind} {load} alone (µs)", []).append(mean_query_micros(index, queries))
                with Background(index, Path(tempfile.mkdtemp(dir=folder))):
                    rows.setdefault(f"query {kind} {load} while verifying (µs)", []).append(
                        mean_query_micros(index, queries))
    state = SharedState(Path(tempfile.mkdtemp(prefix="infgram-verify-cost-state-")))
    state.publish_generations("wiki", (3,))
    started = time.perf_counter()
    for number in range(5000):
        state.take(f"address 10.0.{number % 50}.1", rate=1e9)
    take = (time.perf_counter() - started) / 5000 * 1e6
    started = time.perf_counter()
    for _ in range(5000):
        state.newest_generations()
        state.verification("wiki")
    check = (time.perf_counter() - started) / 5000 * 1e6
    started = time.perf_counter()
    for _ in range(5000):
        state.change_token()
    unchanged = (time.perf_counter() - started) / 5000 * 1e6

    print(f"corpus: {sum(len(t.encode()) for t in texts) / 1e6:.1f} MB of text, {len(texts)} documents; "
          f"{args.rounds} rounds, medians")
    for name, values in rows.items():
        print(f"  {name:48} {statistics.median(values):10.2f}")
    for kind in ("sa", "fm"):
        for load in ("ram", "disk"):
            opened = statistics.median(rows[f"open {kind} {load} checks=on (ms)"]) / \
                statistics.median(rows[f"open {kind} {load} checks=off (ms)"])
            queried = statistics.median(rows[f"query {kind} {load} while verifying (µs)"]) / \
                statistics.median(rows[f"query {kind} {load} alone (µs)"])
            print(f"  ratio {kind} {load}: open with checks / without {opened:.3f}; "
                  f"query while verifying / alone {queried:.3f}")
    print(f"  shared state: {take:.1f} µs per rate-limit token, {check:.1f} µs per generation and verdict check, "
          f"{unchanged:.1f} µs per request when nothing was published")
    print(f"load average after: {os.getloadavg()}")
    shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(state.path.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
