"""The documents page under the work budget, on a suffix array and an FM-index of wiki + prose.

    python benchmarks/documents_page.py [--work DIR] [--runs 5]

Builds a byte suffix-array index and an FM-index (default sample rate) of the same JSONL, one
shard each, then times ``documents(query, limit=1)`` and ``limit=10`` for phrases from rare
to the most frequent byte, seeded and in index order, with the default work budget. For each
row it prints the median time, the document count and whether it is exact, and checks that a
seed gives the same page (document numbers and match offsets) on both index kinds. The issue
this answers: ``docs "the" --limit 1`` on an FM-index took 22 s, locating every occurrence;
a request must cost well under a second unless the user asks for more (``exact=True``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import infgram
from infgram.query.budget import DEFAULT_MAX_WORK
from common import joined_corpus, machine, median_seconds, warm

QUERIES = ["Moby Dick", "language", "the", "e"]


def _build(corpus: Path, out: Path, kind: str) -> None:
    if not (out / "manifest.json").exists():
        subprocess.run([sys.executable, "-m", "infgram.cli", "build", str(corpus), "--out", str(out), "--kind", kind,
                        "--quiet"], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=None, help="keep the indexes here (default: a temporary folder)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="infgram-page-"))
    work.mkdir(parents=True, exist_ok=True)
    corpus = joined_corpus(work, ["wiki", "prose"])
    for kind in ("sa", "fm"):
        _build(corpus, work / kind, kind)
    indexes = {kind: infgram.Index.open(work / kind) for kind in ("sa", "fm")}
    warm(sorted(path for kind in indexes for path in (work / kind).rglob("*.bin")))
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    print(f"default work budget {DEFAULT_MAX_WORK:,} units; FM locate cost "
          f"{indexes['fm'].shard_set.locate_costs[0]} units\n")
    print("| query | occurrences | order | SA limit 1 | SA limit 10 | FM limit 1 | FM limit 10 | documents (SA / FM) | same seeded page |")
    print("|---|---|---|---|---|---|---|---|---|")
    for query in QUERIES:
        occurrences = indexes["sa"].count(query)
        for seed in (0, None):
            cells, pages, counts = [], {}, {}
            for kind, index in indexes.items():
                for limit in (1, 10):
                    seconds, result = median_seconds(lambda: index.documents(query, limit=limit, seed=seed, context=20),
                                                      args.runs)
                    cells.append(f"{seconds * 1e3:,.1f} ms")
                pages[kind] = [(document.index, document.start) for document in result.documents]
                counts[kind] = f"{result.num_documents:,}{'' if result.num_documents_exact else ' (at least)'}"
            same = "yes" if pages["sa"] == pages["fm"] else "no"
            print(f"| {query!r} | {occurrences:,} | {'seed 0' if seed is not None else 'index'} | " + " | ".join(cells)
                  + f" | {counts['sa']} / {counts['fm']} | {same if seed is not None else '-'} |")


if __name__ == "__main__":
    main()
