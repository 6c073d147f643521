"""A shard host opens the generation its coordinator opened, not whatever the manifest says
when the host starts: an ``add`` or ``remove`` committed in between must not mix generations
in one answer. The host class is plain Python, so this runs without a cluster."""

from __future__ import annotations

import infgram
from infgram.change import add, remove
from infgram.distributed.shardset import ShardHost
from infgram.format import read_manifest
from infgram.query.partials import count


def _count(host: ShardHost, query: bytes) -> int:
    return sum(host.run_all(count, query))


def test_a_host_opens_the_coordinators_generation(tmp_path):
    infgram.build_from_documents(["a rose is a rose", "is it"], tmp_path / "index", progress=False)
    opened = read_manifest(tmp_path / "index")  # what the coordinator opened
    (tmp_path / "more.jsonl").write_text('{"text": "a rose again"}\n')
    add(tmp_path / "index", [tmp_path / "more.jsonl"], progress=False)
    remove(tmp_path / "index", documents=[0], progress=False)
    place = (str(tmp_path / "index"), 0)
    assert _count(ShardHost([place], {place[0]: opened}), b"rose") == 2  # the old generation: 2 roses, none removed
    assert _count(ShardHost([place]), b"rose") == 0  # read by itself: the newest, where document 0 is removed
