"""Counts by a metadata field and filtered counts, against a plain count, on wiki + prose.

    python benchmarks/metadata_counts.py [--work DIR] [--runs 5]

Builds one byte suffix-array index of wiki + prose (its documents carry ``lang`` and
``title`` (wiki), ``year`` and ``name`` (State of the Union addresses) or ``file`` (mail)),
then, for phrases from rare to frequent, times the median of ``runs`` calls of:

- ``count(q)``, the plain count (two binary searches, whatever the frequency);
- ``count(q, by="lang")`` and ``count(q, by="year")``, from the value column written at build
  time (one position read per occurrence, then a histogram);
- ``count(q, where={"lang": "fr"})``;
- ``count(q, by="lang")`` on a copy of the index without the value column (an index built
  before it existed): the first call reads every document's metadata, later ones reuse it.

Then it builds the same corpus with ``--shard-by lang`` (each language's documents in shards
of their own) and times, on that index, the plain count, ``count(q, by="lang")`` (a count
per shard: no position read) and ``count(q, where={"lang": "fr"})`` (the French shards
alone), each the median of ``runs`` means of 200 calls, with the ratio of the per-value
count to the plain count on the same index: the issue's target is at most 2x.

Every by-count is checked to add up to the plain count. It prints a Markdown table with the
ratio of each per-value count to the plain count measured in the same run, and the time of
``infgram stats`` (its fields and values). The work budget is lifted (``exact=True``) so that
every phrase is answered; the units each needed are shown.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import infgram
from infgram.query.metadata import metadata_statistics
from common import joined_corpus, machine, median_seconds, warm

QUERIES = ["Moby Dick", "Mr. President", "language", "the", "e"]


def _median_batched(call, runs: int, per_run: int = 200) -> tuple[float, object]:
    """The median over ``runs`` of the mean time of ``per_run`` calls: steadier than single calls
    at microseconds."""
    result = call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(per_run):
            call()
        times.append((time.perf_counter() - start) / per_run)
    return statistics.median(times), result


def _without_columns(source: Path, target: Path) -> None:
    if (target / "manifest.json").exists():
        return
    shutil.copytree(source, target)
    manifest = json.loads((target / "manifest.json").read_text())
    for entry in manifest["shards"]:
        (target / entry["files"].pop("metadata_values")["path"]).unlink()
    (target / "manifest.json").write_text(json.dumps(manifest))


def _time(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f} µs" if seconds < 1e-3 else f"{seconds * 1e3:,.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=None, help="keep the indexes here (default: a temporary folder)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="infgram-metadata-"))
    work.mkdir(parents=True, exist_ok=True)
    corpus = joined_corpus(work, ["wiki", "prose"])
    if not (work / "sa" / "manifest.json").exists():
        subprocess.run([sys.executable, "-m", "infgram.cli", "build", str(corpus), "--out", str(work / "sa"),
                        "--quiet"], check=True)
    _without_columns(work / "sa", work / "old")
    index = infgram.Index.open(work / "sa")
    warm(sorted((work / "sa").rglob("*.bin")))
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    print(f"{index.num_documents:,} documents, {index.num_tokens:,} tokens, {len(index.shards)} shard(s)\n")
    print("| query | occurrences | count | by lang | by year | where lang=fr | by lang, no column (first / later) "
          "| by lang / count |")
    print("|---|---|---|---|---|---|---|---|")
    for query in QUERIES:
        plain, count = median_seconds(lambda: index.count(query), args.runs)
        by_lang, result = median_seconds(lambda: index.count(query, by="lang", exact=True), args.runs)
        assert result.count == count == sum(result.by.values()) + result.missing, (query, result, count)
        by_year, result = median_seconds(lambda: index.count(query, by="year", exact=True), args.runs)
        assert result.count == count
        where, filtered = median_seconds(lambda: index.count(query, where={"lang": "fr"}, exact=True), args.runs)
        assert filtered == index.count(query, by="lang", exact=True).by.get("fr", 0)
        old = infgram.Index.open(work / "old")  # fresh: nothing read yet
        first, result = median_seconds(lambda: old.count(query, by="lang", exact=True), 1)
        later, again = median_seconds(lambda: old.count(query, by="lang", exact=True), args.runs)
        assert again == index.count(query, by="lang", exact=True)
        print(f"| {query!r} | {count:,} | {_time(plain)} | {_time(by_lang)} | {_time(by_year)} | {_time(where)} | "
              f"{_time(first)} / {_time(later)} | {by_lang / plain:,.0f}x |")
    if not (work / "by-lang" / "manifest.json").exists():
        subprocess.run([sys.executable, "-m", "infgram.cli", "build", str(corpus), "--out", str(work / "by-lang"),
                        "--shard-by", "lang", "--quiet"], check=True)
    sharded = infgram.Index.open(work / "by-lang")
    warm(sorted((work / "by-lang").rglob("*.bin")))
    print(f"\n--shard-by lang: {len(sharded.shards)} shard(s)\n")
    print("| query | occurrences | count | by lang | where lang=fr | by lang / count |")
    print("|---|---|---|---|---|---|")
    for query in QUERIES:
        plain, count = _median_batched(lambda: sharded.count(query), args.runs)
        by_lang, result = _median_batched(lambda: sharded.count(query, by="lang"), args.runs)
        assert result == index.count(query, by="lang", exact=True), (query, result)
        where, filtered = _median_batched(lambda: sharded.count(query, where={"lang": "fr"}), args.runs)
        assert filtered == result.by.get("fr", 0)
        print(f"| {query!r} | {count:,} | {_time(plain)} | {_time(by_lang)} | {_time(where)} | "
              f"{by_lang / plain:,.1f}x |")
    seconds, stats = median_seconds(lambda: metadata_statistics(index), 1)
    fields = ", ".join(f"{field['field']} ({field['num_values']} values)" for field in stats["fields"])
    print(f"\nstats: {_time(seconds)}; fields: {fields}")


if __name__ == "__main__":
    main()
