"""Exact-substring deduplication on real text: time and peak memory of ``duplicates`` and
``dedup``, the share of bytes removed at lengths 50 and 100, and a check that the output
holds no repeat (a fresh index of it finds no duplicated span).

    python benchmarks/dedup.py [--corpora wiki prose] [--lengths 50 100] [--shards 3] [--out DIR]
    python benchmarks/dedup.py --corpus bigbench --memory 8G --shards 0 --check last-pass --out DIR

Each step runs in its own process, so its peak resident memory (ru_maxrss) is its own; its
CPU time (user + system) is printed beside the wall time, which on a shared machine says
more. With ``--shards N`` the corpus is also indexed in N shards and deduplicated again: the
removed bytes must equal the one-shard figure (the cross-shard merge finds the same repeats).
``--memory`` is the budget of the build and, through the manifest, of ``duplicates`` and
``dedup``. ``--check fresh`` (the default) indexes the output again and looks for repeats;
``--check last-pass`` takes the answer of ``dedup``'s last pass instead, which is a fresh
index of the output's text that found no repeat (it is how ``dedup`` stops), saving a
build and a search of the whole output on large corpora.

For comparison, Lee et al. (2022) remove about 7% of C4's text (and 19% to over 50% of
other corpora) at 50 tokens with their Rust suffix-array tool, deduplicate-text-datasets;
that tool cannot be built here from PyPI or Debian packages alone, so only its published
figures are compared.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import fetch

STEP = r"""
import json, resource, sys, time
import infgram
from infgram.apps.dedup import dedup, find_duplicates
kind, args = sys.argv[1], json.loads(sys.argv[2])
started = time.perf_counter()
if kind == "build":
    report = infgram.build(args["inputs"], args["out"], shard_tokens=args.get("shard_tokens"),
                           memory=args.get("memory"), progress=False)
    result = {"num_tokens": report.num_tokens, "num_documents": report.num_documents}
elif kind == "duplicates":
    result = find_duplicates(args["index"], args["min_length"], progress=False).statistics()
    result.pop("most_repeated")
else:
    result = dedup(args["index"], args["out"], args["min_length"], args["keep"], progress=False,
                   shard_tokens=args.get("shard_tokens")).to_json()
    result.pop("dropped_documents")
result["seconds"] = round(time.perf_counter() - started, 2)
usage = resource.getrusage(resource.RUSAGE_SELF)
result["cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 2)
result["peak_memory_mb"] = round(usage.ru_maxrss / 1024, 1)
print(json.dumps(result))
"""


def step(kind: str, **arguments) -> dict:
    ran = subprocess.run([sys.executable, "-c", STEP, kind, json.dumps(arguments, default=str)],
                         capture_output=True, text=True, check=False)
    if ran.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{ran.stderr}")
    return json.loads(ran.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpora", "--corpus", nargs="+", default=["wiki", "prose"],
                        help="corpora of ../shared/datasets/fetch (default wiki prose; bigbench: 1.1 GB)")
    parser.add_argument("--memory", default=None, help="memory budget of the build, e.g. 8G (default: the build's)")
    parser.add_argument("--check", choices=["fresh", "last-pass"], default="fresh",
                        help="how to check the output holds no repeat (see above)")
    parser.add_argument("--lengths", nargs="+", type=int, default=[50, 100])
    parser.add_argument("--shards", type=int, default=3, help="also run on an index of this many shards (0: skip)")
    parser.add_argument("--out", default=None, help="working directory (default: a temporary one)")
    options = parser.parse_args()
    files = fetch(options.corpora)
    work = Path(options.out or tempfile.mkdtemp(prefix="infgram-dedup-bench-"))
    results: dict = {"corpora": options.corpora, "input_files": [str(f) for f in files]}
    built = step("build", inputs=[str(f) for f in files], out=str(work / "index"), memory=options.memory)
    results["index"] = built
    print(f"indexed {built['num_tokens']:,} bytes in {built['num_documents']:,} documents in {built['seconds']} s")
    layouts = [("1 shard", work / "index", None)]
    if options.shards > 1:
        shard_tokens = built["num_tokens"] // options.shards + 1
        step("build", inputs=[str(f) for f in files], out=str(work / "sharded"), shard_tokens=shard_tokens)
        layouts.append((f"{options.shards} shards", work / "sharded", shard_tokens))
    results["runs"] = []
    for name, index, shard_tokens in layouts:
        for length in options.lengths:
            found = step("duplicates", index=str(index), min_length=length)
            out = work / f"out-{index.name}-{length}"
            written = step("dedup", index=str(index), out=str(out), min_length=length, keep="first",
                           shard_tokens=shard_tokens)
            if options.check == "fresh":
                step("build", inputs=[str(out)], out=str(out) + "-index", memory=options.memory)
                again = step("duplicates", index=str(out) + "-index", min_length=length)
                subprocess.run(["rm", "-rf", str(out) + "-index"], check=True)
            else:  # the last pass indexed the output's text afresh and found nothing (or nothing was left)
                again = {"duplicated_spans": 0}
            run = {"layout": name, "min_length": length, "duplicates": found, "dedup": written,
                   "repeats_left_in_output": again["duplicated_spans"], "check": options.check}
            results["runs"].append(run)
            print(f"{name}, L={length}: duplicates {found['seconds']} s ({found['cpu_seconds']} s CPU), "
                  f"{found['peak_memory_mb']} MB peak; "
                  f"{found['duplicated_fraction']:.2%} of bytes in {found['duplicated_spans']:,} duplicated spans, "
                  f"{found['documents_touched_fraction']:.1%} of documents touched | dedup (keep first) "
                  f"{written['seconds']} s ({written['cpu_seconds']} s CPU), {written['peak_memory_mb']} MB peak, "
                  f"{written['passes']} passes, removed "
                  f"{written['removed_bytes'] / written['input_bytes']:.2%} of bytes | repeats left: "
                  f"{again['duplicated_spans']}", flush=True)
            assert again["duplicated_spans"] == 0, "the output still holds a repeat"
    removed = {}
    for run in results["runs"]:
        removed.setdefault(run["min_length"], set()).add(run["dedup"]["removed_bytes"])
    assert all(len(values) == 1 for values in removed.values()), f"sharding changed the result: {removed}"
    (work / "results.json").write_text(json.dumps(results, indent=1))
    print(f"results in {work / 'results.json'}")


if __name__ == "__main__":
    main()
