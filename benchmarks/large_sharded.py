"""A corpus of 10 GB or more, built in shards under a memory budget, checked against one shard.

    python benchmarks/large_sharded.py --work /big/disk/infgram-large     # ~10 GB corpus, ~45 GB index

Nothing larger than BIG-bench (1.1 GB of JSONL) is at hand, so the corpus is BIG-bench
repeated ``--copies`` times (9 by default: 10.2 GB), each copy in its own shuffled order.
Then every answer is known exactly: each document occurs ``copies`` times, so every count
(of n-grams, next tokens, documents, ∞-gram suffixes) of the big index is ``copies`` times
that of a single-shard index of one copy, and every ∞-gram suffix length is the same.

The big index is built by ``infgram build --memory`` (default 8G, so it must be sharded) under
``/usr/bin/time -v`` for wall time and peak memory; the one-copy index by the same command
with the default budget (one shard), after the big build (the two need not share the disk
while the big one is built). The check samples n-grams and prompts from the one-copy index
and fails loudly on any difference.

    python benchmarks/large_sharded.py --work /tmp/ray10g --ray-nodes 2 --clean-up

``--ray-nodes N`` builds the big index with ``infgram build --ray ADDRESS`` on a Ray cluster
of N nodes started on this machine (``ray.cluster_utils.Cluster``, one CPU each, listening
on 127.0.0.1 only, ``--object-store`` of shared memory each, and a ``memory`` resource of
the budget plus 1 GiB each, so that a node sorts one shard at a time). The build's processes
(driver, Ray's daemons and workers) are all descendants of this one, so their memory is
sampled every second: the peak of their summed PSS (shared pages counted once) is the
memory the build needed; the peak of their summed RSS counts the shared pages once per
process. ``--clean-up`` removes the big index and the corpus when the check is done.
"""

from __future__ import annotations

import argparse
import json
import random
import os
import re
import shutil
import subprocess
import sys
import threading
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


def process_tree(root: int) -> list[int]:
    """``root`` and every process descended from it (from /proc, Linux)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
    tree, waiting = [], [root]
    while waiting:
        pid = waiting.pop()
        tree.append(pid)
        waiting.extend(children.get(pid, []))
    return tree


def memory_of(pid: int) -> tuple[int, int]:
    """The RSS and PSS of a process in bytes (0, 0 once it is gone)."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return rss, pss


class TreeMemory(threading.Thread):
    """Samples the memory of all the descendants of this process (not itself: it may hold a
    GiB or more freed from writing the corpus) every ``interval`` seconds:
    the peaks of the summed PSS, of the summed RSS and of the largest single RSS, and when a
    shard's staging folder first appears in ``out`` (the end of reading and tokenizing)."""

    def __init__(self, out: Path, interval: float = 1.0):
        super().__init__(daemon=True)
        self.out, self.interval = out, interval
        self.peak_pss = self.peak_rss = self.peak_process = 0
        self.start_time = time.perf_counter()
        self.first_shard: float | None = None
        self.halt = threading.Event()

    def run(self) -> None:
        # Reading smaps_rollup walks page tables (about 10% of a core here): at the lowest
        # priority, the sampler takes no time from the build it measures (Ray's workers run at 15).
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        while not self.halt.wait(self.interval):
            memories = [memory_of(pid) for pid in process_tree(os.getpid()) if pid != os.getpid()]
            self.peak_rss = max(self.peak_rss, sum(rss for rss, _ in memories))
            self.peak_pss = max(self.peak_pss, sum(pss for _, pss in memories))
            self.peak_process = max([self.peak_process] + [rss for rss, _ in memories])
            if self.first_shard is None and self.out.is_dir() and any(self.out.glob("shard-*")):
                self.first_shard = time.perf_counter() - self.start_time

    def stop(self) -> None:
        self.halt.set()
        self.join()


def ray_build(inputs: list[Path], out: Path, memory: str, nodes: int, object_store: str) -> dict:
    """Build on a Ray cluster of ``nodes`` nodes started here; wall seconds and memory peaks."""
    from infgram.build.plan import parse_memory

    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # before Ray starts: bind to 127.0.0.1
    import ray
    from ray.cluster_utils import Cluster

    node = {"num_cpus": 1, "object_store_memory": parse_memory(object_store),
            "memory": parse_memory(memory) + 2**30}
    cluster = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    try:
        for _ in range(nodes - 1):
            cluster.add_node(**node)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False)
        addresses = [n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]]
        ray.shutdown()  # the build's driver is `infgram build --ray`, another process
        if len(addresses) != nodes or set(addresses) != {"127.0.0.1"}:
            raise SystemExit(f"expected {nodes} nodes on 127.0.0.1, found {addresses}")
        sampler = TreeMemory(out)
        sampler.start()
        command = ["/usr/bin/time", "-v", sys.executable, "-m", "infgram", "build", *map(str, inputs), "--out",
                   str(out), "--quiet", "--memory", memory, "--ray", cluster.address]
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        sampler.stop()
    finally:
        cluster.shutdown()
    if result.returncode != 0:
        raise SystemExit(f"build failed:\n{result.stdout}\n{result.stderr}")
    print(result.stdout.strip())
    driver_kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr).group(1))
    return {"seconds": seconds, "peak_pss": sampler.peak_pss, "peak_rss_sum": sampler.peak_rss,
            "peak_process_rss": sampler.peak_process, "driver_rss": driver_kib * 1024,
            "read_seconds": sampler.first_shard, "nodes": nodes, "object_store": object_store}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", required=True, help="a folder with room for the corpus and its index")
    parser.add_argument("--copies", type=int, default=9)
    parser.add_argument("--memory", default="8G", help="memory budget of the big build (default 8G)")
    parser.add_argument("--reference", default=None, help="an existing one-shard byte index of one copy")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--ray-nodes", type=int, default=0,
                        help="build the big index on a Ray cluster of this many nodes on this machine (default: local)")
    parser.add_argument("--object-store", default="1G", help="object store of each Ray node (default 1G)")
    parser.add_argument("--clean-up", action="store_true", help="remove the big index and the corpus after the check")
    args = parser.parse_args()
    work = Path(args.work)
    (source,) = fetch(["bigbench"])
    big_dir = work / "sharded"
    # The build's figures are kept beside it, so the checks can run again without a rebuild.
    ray_suffix = f"-ray{args.ray_nodes}" if args.ray_nodes else ""
    timing = work / f"sharded-build-{args.copies}-{args.memory}{ray_suffix}.json"
    figures: dict = {}
    if timing.exists() and (big_dir / "manifest.json").exists():  # the corpus is not needed then
        figures = json.loads(timing.read_text())
        if isinstance(figures, list):  # written before the Ray option: [seconds, peak]
            figures = {"seconds": figures[0], "peak": figures[1]}
        print(f"reusing {big_dir} (built in {figures['seconds']:.0f} s); delete {timing} to rebuild")
    else:
        corpus = make_corpus(source, work / "corpus", args.copies)
        figures["corpus_bytes"] = sum(p.stat().st_size for p in corpus)
        if args.ray_nodes:
            figures.update(ray_build(corpus, big_dir, args.memory, args.ray_nodes, args.object_store))
        else:
            seconds, peak = timed_build(corpus, big_dir, args.memory)
            figures.update(seconds=seconds, peak=peak)
        timing.write_text(json.dumps(figures))
    seconds = figures["seconds"]
    # The input bytes, as the build reported them (older timing files did not keep them).
    corpus_bytes = figures.get("corpus_bytes") or json.loads((big_dir / "build-report.json").read_text())["input_bytes"]
    if args.clean_up:  # the corpus is not needed by the check
        shutil.rmtree(work / "corpus", ignore_errors=True)

    reference_dir = Path(args.reference) if args.reference else work / "one-copy"
    if not args.reference and not (reference_dir / "manifest.json").exists():
        timed_build([source], reference_dir, None)

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
        check(f"documents {prompt}", big.documents(prompt, limit=0, exact=True).num_documents,
              copies * reference.documents(prompt, limit=0, exact=True).num_documents)
        checked += 2
    for context in sample_ngrams(tokens, reference.separator_id, 40, 200, rng):
        prompt, following = context[:-1], context[-1]
        ours, one = big.infgram_probability(prompt, following), reference.infgram_probability(prompt, following)
        check(f"infgram_probability {context}", (ours.suffix_length, ours.prompt_count, ours.count),
              (one.suffix_length, copies * one.prompt_count, copies * one.count))
        checked += 1
    info = big.info()
    ray_options = f" --ray-nodes {args.ray_nodes} --object-store {args.object_store}" if args.ray_nodes else ""
    print(f"\n{machine()}; command: python benchmarks/large_sharded.py --work {args.work} --copies {copies} "
          f"--memory {args.memory}{ray_options}\n")
    print("| Measure | Value |\n|---|---|")
    print(f"| corpus | {corpus_bytes / 1e9:.2f} GB of JSONL ({copies} shuffled copies of BIG-bench), "
          f"{info['num_documents']:,} documents, {info['num_tokens']:,} tokens |")
    speed = (f"{seconds / 60:.1f} min, {corpus_bytes / seconds / 1e6:.1f} MB/s of JSONL "
             f"({info['num_tokens'] / seconds / 1e6:.1f} M tokens/s)")
    if args.ray_nodes:
        read = figures.get("read_seconds")
        print(f"| build, --memory {args.memory}, Ray cluster of {args.ray_nodes} nodes (1 CPU, "
              f"{args.object_store} object store each) | {speed}, {info['num_shards']} shards"
              + (f"; reading and tokenizing {read / 60:.1f} min, sorting and writing {(seconds - read) / 60:.1f} min"
                 if read else "") + " |")
        print(f"| peak memory, all processes (sampled every 1 s) | PSS {figures['peak_pss'] / 2**30:.2f} GiB; "
              f"summed RSS {figures['peak_rss_sum'] / 2**30:.2f} GiB; largest process RSS "
              f"{figures['peak_process_rss'] / 2**30:.2f} GiB; driver RSS {figures['driver_rss'] / 2**30:.2f} GiB |")
    else:
        print(f"| build, --memory {args.memory} | {speed}, peak RSS {figures['peak'] / 2**30:.2f} GiB, "
              f"{info['num_shards']} shards |")
    print(f"| index | {info['index_bytes'] / 1e9:.1f} GB, {info['bytes_per_token']} bytes per token |")
    print(f"| answers checked against {copies} × one copy (one shard) | {checked:,}: "
          f"{'all equal' if not problems else f'{len(problems)} differ'} |")
    del big
    if args.clean_up:
        shutil.rmtree(big_dir)
        timing.unlink()
        print(f"removed {big_dir} and {work / 'corpus'}")
    if problems:
        print("\n".join(problems[:20]), file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
