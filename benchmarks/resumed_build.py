"""A build resumed after an interrupt against the full build: the same corpus, the same files.

    python benchmarks/resumed_build.py

Builds wiki + prose (``common.fetch``: their JSON Lines files in sorted order) with
``--shard-tokens`` (default 4 M), then builds again into a second folder, interrupted
(KeyboardInterrupt, as Ctrl-C) when its last shard starts sorting, and reruns it: the rerun keeps
the finished shards and skips their input (see ``infgram.build.pipeline``). Prints both times,
their ratio, and whether every index file is the same.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import threading
import time
from pathlib import Path

import infgram
from infgram.build import sa_writer
from common import fetch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shard-tokens", type=int, default=4_000_000)
    args = parser.parse_args()
    inputs = fetch(["wiki", "prose"])
    work = Path(tempfile.mkdtemp())
    try:
        start = time.perf_counter()
        full = infgram.build(inputs, work / "full", shard_tokens=args.shard_tokens, progress=False, on_error="skip")
        full_seconds = time.perf_counter() - start
        original, last = sa_writer.sorted_positions, f"shard-{full.num_shards - 1:05d}"

        def interrupted(tokens, token_width, out=None, threads=1):
            # The last shard, told by its thread: shards sort beside each other, so the last
            # sort to start need not be the last shard's.
            if threading.current_thread().name.endswith(last):
                raise KeyboardInterrupt
            yield from original(tokens, token_width, out, threads)

        sa_writer.sorted_positions = interrupted
        try:
            infgram.build(inputs, work / "resumed", shard_tokens=args.shard_tokens, progress=False, on_error="skip")
        except KeyboardInterrupt:
            pass
        finally:
            sa_writer.sorted_positions = original
        start = time.perf_counter()
        resumed = infgram.build(inputs, work / "resumed", shard_tokens=args.shard_tokens, progress=False,
                                on_error="skip")
        resumed_seconds = time.perf_counter() - start
        same = all((work / "full" / path.relative_to(work / "resumed")).read_bytes() == path.read_bytes()
                   for path in (work / "resumed").rglob("*.bin"))
    finally:
        shutil.rmtree(work)
    print(f"full build: {full_seconds:.2f} s ({full.num_shards} shards, {full.num_tokens:,} tokens)")
    print(f"resumed with the last shard left: {resumed_seconds:.2f} s ({resumed.reused_shards} shards kept), "
          f"{resumed_seconds / full_seconds:.2f}x; identical files: {same}")
    print(json.dumps({"full_seconds": round(full_seconds, 2), "resumed_seconds": round(resumed_seconds, 2),
                      "ratio": round(resumed_seconds / full_seconds, 3), "shards": full.num_shards,
                      "kept_shards": resumed.reused_shards, "identical": same}))


if __name__ == "__main__":
    main()
