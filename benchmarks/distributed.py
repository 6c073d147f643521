"""Distributed build and query over Ray, on clusters of one machine, against the local engine.

Measures, on wiki + prose (``../shared/datasets/fetch wiki prose``), byte mode:

1. **Build throughput**: the local build (one process), then ``infgram.distributed.build`` on
   a ``ray.cluster_utils.Cluster`` with 1 and with 2 worker nodes of one CPU each (the head
   node has no CPU: it only runs the driver), each worker node pinned to a core of its own
   (node i's raylet, and so its workers, on core i), as a machine of one CPU would be: without
   it a lone worker node's threads (the sort beside the writing of a shard's other files) ran
   on the core no node was given, 1.07-1.2 cores against 2 (``--share-cores`` measures that
   way); with the time of each phase and the speed-up of
   2 worker nodes over 1 (``ray_2_over_1_worker_nodes``, same run; with ``--repeats N`` the
   median of N pairs of builds, for a loaded machine); every cluster build is
   checked byte for byte against the local one. Large JSON Lines files (``mail.jsonl`` is 58%
   of the bytes) are read in byte ranges cut at line starts (``--range-bytes``; by default
   ``infgram.distributed.builder.default_range_bytes`` of the cluster's CPUs), so one file no
   longer holds back the other node. Each build prints, per worker node, its tasks (from the
   report's ``task_spans``: each unit read and shard written, seconds from the call to
   ``build``), when its worker was up (its first task), and its busy and idle seconds; and
   beside the ratio, ``ray_2_over_1_after_workers_up``: the same ratio less each build's wait
   for its first worker (a Ray worker process's start, about the same for any input size).
2. **Per-query overhead of the fan-out**: ``count`` of sampled n-grams one at a time, local
   index against the same index over Ray actors (median and p99, microseconds).
3. **Batch throughput**: ``count_batch`` of 100,000 n-grams, in-process against over Ray.

Every cluster binds to 127.0.0.1 (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, set before Ray is
imported). Usage::

    python benchmarks/distributed.py [--shard-tokens 8000000] [--range-bytes N] [--repeats 1]
                                     [--out /tmp/infgram-distributed-bench] [--builds-only] [--share-cores]

``--builds-only`` stops after the builds (parts 2 and 3 are not run).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # before Ray is imported: loopback only

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import fetch, machine, percentile, time_calls  # noqa: E402

import infgram  # noqa: E402
import infgram.distributed  # noqa: E402


def _files(directory: Path) -> dict[str, str]:
    return {p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def _cluster(worker_nodes: int, cpus_per_node: int = 1, pin_nodes: bool = False):
    """A cluster of a head node without CPUs (the driver's) and ``worker_nodes`` nodes; with
    ``pin_nodes``, worker node i runs on core i of this machine alone (its raylet and so its
    workers inherit the affinity), as a node of one CPU would: its threads do not spill onto
    a core no node was given."""
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "object_store_memory": 200 << 20,
                                                            "include_dashboard": False})
    cores = sorted(os.sched_getaffinity(0))
    try:
        for number in range(worker_nodes):
            if pin_nodes:
                os.sched_setaffinity(0, cores[number * cpus_per_node % len(cores):][:cpus_per_node])
            cluster.add_node(num_cpus=cpus_per_node, object_store_memory=200 << 20)
    finally:
        os.sched_setaffinity(0, cores)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level=logging.WARNING, log_to_driver=False)
    assert {node["NodeManagerAddress"] for node in ray.nodes()} == {"127.0.0.1"}
    return cluster


def _stop(cluster) -> None:
    import ray

    ray.shutdown()
    cluster.shutdown()


def _ngrams(index, n: int, count: int, rng: np.random.Generator) -> list[list[int]]:
    """``count`` n-grams of token ids taken at random places of random documents."""
    found: list[list[int]] = []
    while len(found) < count:
        tokens = index.tokenize(index.document(int(rng.integers(index.num_documents))).text)
        if len(tokens) > n:
            for start in rng.integers(0, len(tokens) - n, size=min(50, count - len(found))):
                found.append(tokens[start : start + n].tolist())
    return found


def _timeline(spans, started: float) -> dict:
    """Per worker node, from the build's task spans: its tasks (seconds from the call to build),
    when its first task started (its worker was up), its last ended, and the seconds between
    them it was busy and idle."""
    nodes: dict[str, list] = {}
    for span in sorted(spans, key=lambda span: span.start):
        nodes.setdefault(span.node, []).append(span)
    timeline = {}
    for number, (node, tasks) in enumerate(sorted(nodes.items(), key=lambda item: item[1][0].start)):
        busy = sum(span.end - span.start for span in tasks)
        first, last = tasks[0].start - started, max(span.end for span in tasks) - started
        timeline[f"node {number}"] = {
            "first_start_s": round(first, 2), "last_end_s": round(last, 2), "busy_s": round(busy, 2),
            "idle_s": round(last - first - busy, 2),
            "tasks": [f"{span.what} {span.start - started:.2f}-{span.end - started:.2f}" for span in tasks]}
    return timeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shard-tokens", type=int, default=8_000_000)
    parser.add_argument("--out", type=Path, default=Path("/tmp/infgram-distributed-bench"))
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=1,
                        help="1-node and 2-node builds run this many times, one after the other (median ratio)")
    parser.add_argument("--range-bytes", type=int, default=None,
                        help="bytes per range of a large JSON Lines file (default: from the cluster's CPUs)")
    parser.add_argument("--builds-only", action="store_true", help="measure the builds, not the queries")
    parser.add_argument("--share-cores", action="store_true",
                        help="build on worker nodes that share every core (by default each has a core of its own)")
    args = parser.parse_args()
    inputs = fetch(["wiki", "prose"])
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    results: dict = {"machine": machine(), "inputs_bytes": sum(p.stat().st_size for p in inputs),
                     "inputs": [f"{p.parent.name}/{p.name}: {p.stat().st_size / 1e6:.1f} MB" for p in inputs],
                     "shard_tokens": args.shard_tokens, "worker_nodes_pinned": not args.share_cores}
    print(json.dumps(results, indent=1), flush=True)

    local_out = args.out / "local"
    start = time.perf_counter()
    report = infgram.build(inputs, local_out, shard_tokens=args.shard_tokens, progress=False)
    seconds = time.perf_counter() - start
    local_files = _files(local_out)
    results["build"] = {"tokens": report.num_tokens, "shards": report.num_shards,
                        "local": {"seconds": round(seconds, 2), "mtokens_per_s": round(report.num_tokens / seconds / 1e6, 2)}}
    print(json.dumps(results["build"]), flush=True)

    ratios, ratios_after_start = [], []
    for repeat in range(args.repeats):
        seconds_of, workers_up = {}, {}
        for nodes in (1, 2):
            cluster = _cluster(nodes, pin_nodes=not args.share_cores)
            try:
                out = args.out / f"ray-{nodes}"
                start, started = time.perf_counter(), time.time()
                built = infgram.distributed.build(inputs, out, shard_tokens=args.shard_tokens, progress=False,
                                                  range_bytes=args.range_bytes)
                seconds_of[nodes] = seconds = time.perf_counter() - start
                assert _files(out) == local_files, "the cluster build differs from the local one"
                run = {"seconds": round(seconds, 2), "mtokens_per_s": round(built.num_tokens / seconds / 1e6, 2),
                       "phases": {name: round(value, 2) for name, value in built.phase_seconds.items()},
                       "byte_identical": True, "nodes": _timeline(built.task_spans, started)}
                workers_up[nodes] = min(node["first_start_s"] for node in run["nodes"].values())
                if repeat == 0:
                    results["build"][f"ray_{nodes}_worker_nodes"] = run
                print(json.dumps({f"ray_{nodes}_worker_nodes": run}), flush=True)
                shutil.rmtree(out)
            finally:
                _stop(cluster)
        ratios.append(round(seconds_of[1] / seconds_of[2], 2))
        ratios_after_start.append(round((seconds_of[1] - workers_up[1]) / (seconds_of[2] - workers_up[2]), 2))
        print(json.dumps({"ray_2_over_1_worker_nodes": ratios[-1],
                          "ray_2_over_1_after_workers_up": ratios_after_start[-1]}), flush=True)
    # Each ratio compares a 1-node and a 2-node build run one after the other; their median with --repeats.
    results["build"]["ray_2_over_1_worker_nodes"] = float(np.median(ratios))
    results["build"]["ray_2_over_1_after_workers_up"] = float(np.median(ratios_after_start))
    if len(ratios) > 1:
        results["build"]["ray_2_over_1_worker_nodes_each"] = ratios
        results["build"]["ray_2_over_1_after_workers_up_each"] = ratios_after_start

    if args.builds_only:
        shutil.rmtree(args.out, ignore_errors=True)
        print(json.dumps(results, indent=1))
        return

    # -- queries: the local index against the same one over two worker nodes -----------------------
    cluster = _cluster(2)
    try:
        local = infgram.Index.open(local_out)
        remote = infgram.distributed.open(local_out)
        rng = np.random.default_rng(0)
        queries = _ngrams(local, 5, args.queries, rng)
        assert [remote.count(q) for q in queries[:200]] == [local.count(q) for q in queries[:200]]
        for index in (local, remote):
            time_calls(index.count, queries[:200])  # warm
        overhead = {}
        for name, index in (("local", local), ("ray", remote)):
            times = [t / 1000 for t in time_calls(index.count, queries)]
            overhead[name] = {"median_us": round(float(np.median(times)), 1), "p99_us": round(percentile(times, 0.99), 1)}
        overhead["shards"] = len(local.shards)
        results["count_latency"] = overhead
        print(json.dumps(overhead), flush=True)

        batch = np.array(_ngrams(local, 4, 100_000, rng), dtype=np.int64)
        assert remote.count_batch(batch).tolist() == local.count_batch(batch).tolist()
        throughput = {}
        for name, index in (("in_process", local), ("ray", remote)):
            best = min(time_calls(lambda _: index.count_batch(batch), range(5))) / 1e9
            throughput[name] = {"seconds": round(best, 3), "queries_per_s": int(len(batch) / best)}
        throughput["ray_share_of_in_process"] = round(throughput["ray"]["queries_per_s"] /
                                                      throughput["in_process"]["queries_per_s"], 2)
        results["count_batch_100k"] = throughput
        print(json.dumps(throughput), flush=True)
        remote.shard_set.shutdown()
    finally:
        _stop(cluster)
    shutil.rmtree(args.out, ignore_errors=True)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
