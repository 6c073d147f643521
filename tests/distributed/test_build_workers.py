"""The build's workers: one per CPU reads units and sorts shards, as the driver hands them out.

Every unit and every shard runs in a build worker on a node of the cluster (the report's task
spans say where); a node whose memory holds no shard's sort only reads, and the index is still
the local one; workers that cannot enter the build's working directory stop the build with an
InputError naming it, and a cluster with no node to start one on is a BuildError; no index is
published either way.
"""

from __future__ import annotations

import os

import pytest

from cluster_fixtures import cluster, index_files, word_corpus  # noqa: E402,F401 (fixtures; sets the loopback variable)

ray = pytest.importorskip("ray", reason='ray is not installed: pip install "infgram[ray]" to run these tests')

# One pytest-xdist worker runs every test of a Ray cluster, one cluster at a time (--dist loadgroup).
pytestmark = pytest.mark.xdist_group("ray")

import infgram  # noqa: E402
import infgram.distributed  # noqa: E402
from infgram.distributed import builder  # noqa: E402

WORDS = "oak ash elm yew fir birch beech rowan".split()


def _corpus(folder, files=3, lines=300):
    return word_corpus(folder, WORDS, seed=11, files=files, lines=lines, max_words=30)


def test_every_unit_and_shard_runs_in_a_build_worker_on_a_node(cluster, tmp_path, index_files):
    corpus = _corpus(tmp_path / "corpus")
    infgram.build([corpus], tmp_path / "local", progress=False, shard_tokens=6_000)
    report = infgram.distributed.build([corpus], tmp_path / "ray", progress=False, shard_tokens=6_000,
                                       range_bytes=5_000)
    assert index_files(tmp_path / "ray") == index_files(tmp_path / "local")
    nodes = {node["NodeID"] for node in ray.nodes() if node["Alive"]}
    reads = [span for span in report.task_spans if span.what.startswith("read unit ")]
    writes = [span for span in report.task_spans if span.what.startswith("write shard-")]
    assert len(reads) > 3, "the files were read in byte ranges"
    assert sorted(span.what for span in writes) == [f"write shard-{n:05d}" for n in range(report.num_shards)]
    assert all(span.node in nodes and span.start <= span.end for span in report.task_spans)


def test_a_node_whose_memory_holds_no_sort_only_reads(cluster, tmp_path, index_files, monkeypatch):
    corpus = _corpus(tmp_path / "corpus")
    infgram.build([corpus], tmp_path / "local", progress=False, shard_tokens=6_000)
    sorter = sorted(node["NodeID"] for node in ray.nodes() if node["Alive"])[0]
    real_slots = builder.sort_slots

    def one_node_sorts(nodes, budget_bytes):
        return {node: (1 if node == sorter else 0) for node in real_slots(nodes, budget_bytes)}

    monkeypatch.setattr(builder, "sort_slots", one_node_sorts)
    report = infgram.distributed.build([corpus], tmp_path / "ray", progress=False, shard_tokens=6_000,
                                       range_bytes=5_000)
    assert index_files(tmp_path / "ray") == index_files(tmp_path / "local")
    writes = [span for span in report.task_spans if span.what.startswith("write shard-")]
    assert len(writes) == report.num_shards > 1
    assert {span.node for span in writes} == {sorter}
    ordered = sorted(writes, key=lambda span: span.start)  # one slot: the sorts never overlapped
    assert all(earlier.end <= later.start for earlier, later in zip(ordered, ordered[1:]))


def test_workers_without_the_working_directory_stop_the_build(cluster, tmp_path, monkeypatch):
    corpus = _corpus(tmp_path / "corpus", files=1)
    missing = tmp_path / "not-on-the-nodes"
    real_getcwd = os.getcwd
    monkeypatch.setattr(os, "getcwd", lambda: str(missing))  # the driver's directory, as the workers are told
    with pytest.raises(infgram.InputError) as caught:
        infgram.distributed.build([corpus], tmp_path / "ray", progress=False, shard_tokens=6_000)
    monkeypatch.setattr(os, "getcwd", real_getcwd)
    message = str(caught.value)
    assert f"expected the build's working directory {missing} on every node" in message
    assert "a filesystem every node sees at the same path" in message
    assert not (tmp_path / "ray" / "manifest.json").exists()
    assert not list(tmp_path.glob(".*.ray-work")), "the unit files are removed"


def test_a_cluster_with_no_node_to_start_a_worker_on_is_a_build_error(cluster, tmp_path, monkeypatch):
    corpus = _corpus(tmp_path / "corpus", files=1)
    monkeypatch.setattr(builder, "worker_nodes", lambda nodes, slots, count: [])
    with pytest.raises(infgram.BuildError, match="found no node with a CPU to start one on; check the cluster"):
        infgram.distributed.build([corpus], tmp_path / "ray", progress=False, shard_tokens=6_000)
    assert not (tmp_path / "ray" / "manifest.json").exists()
