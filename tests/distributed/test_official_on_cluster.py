"""Official infini-gram indexes queried through Ray answer exactly as the local index does.

A real three-node cluster on 127.0.0.1 (cluster_fixtures.py): the official files of the golden
corpus in two shards, with and without infgram's sampled keys beside them, through every
operation of the batch protocol. The official API (``infgram.compat``) reads documents and
positions in its own process, so over a Ray index it refuses, saying what to use instead.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cluster_fixtures import cluster  # noqa: E402,F401 (fixtures; sets the loopback variable)

pytest.importorskip("ray", reason='ray is not installed: pip install "infgram[ray]" to run these tests')

# One pytest-xdist worker runs every test of a Ray cluster, one cluster at a time (--dist loadgroup).
pytestmark = pytest.mark.xdist_group("ray")

import infgram  # noqa: E402
import infgram.distributed  # noqa: E402
from infgram.apps.official import adopt, write_official_index  # noqa: E402
from infgram.compat import InfiniGramEngine  # noqa: E402
from infgram.distributed.shardset import RayShardSet  # noqa: E402
from infgram.errors import UnsupportedOperationError  # noqa: E402
from infgram.service.batch import run_batch  # noqa: E402

TESTS = Path(__file__).resolve().parents[1]
GOLDEN = TESTS / "golden"
FIXTURES = TESTS / "official" / "fixtures"
SETTINGS = {"u8": dict(eos_token_id=254, vocab_size=255, token_dtype="u8"),
            "u16": dict(eos_token_id=65533, vocab_size=65535, token_dtype="u16")}


@pytest.mark.parametrize("with_keys", [False, True])
def test_an_official_index_on_ray_answers_the_golden_batch_as_locally(cluster, tmp_path, with_keys):
    records = [json.loads(line) for line in (GOLDEN / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
               if line.strip()]
    fields = [{key: value for key, value in record.items() if key != "text"} for record in records]
    folder = tmp_path / "official"
    write_official_index(folder, [list(record["text"].encode("utf-8")) for record in records], 1, 2, fields)
    if with_keys:
        adopt(folder, "bytes")
    local = infgram.Index.open(folder)
    remote = infgram.distributed.open(folder, shards_per_host=1)
    try:
        assert isinstance(remote.shard_set, RayShardSet) and len(remote.shards) == len(local.shards) == 2
        assert remote.kind == local.kind == "infini-gram"
        requests = (GOLDEN / "queries.jsonl").read_text(encoding="utf-8").splitlines()
        for request, mine, theirs in zip([line for line in requests if line.strip()], run_batch(remote, requests),
                                         run_batch(local, requests)):
            assert json.loads(mine) == json.loads(theirs), request
        assert {k: v for k, v in remote.info().items() if k != "memory"} == \
            {k: v for k, v in local.info().items() if k != "memory"}
    finally:
        remote.shard_set.shutdown()


def test_the_official_api_refuses_an_index_whose_shards_are_on_ray(cluster, tmp_path):
    """The official API reads documents and positions in its own process: over a Ray index it
    says so, and the index's own methods answer instead."""
    folder = tmp_path / "u8-two"
    shutil.copytree(FIXTURES / "u8-two", folder)
    remote = infgram.distributed.open(folder, shards_per_host=2)
    try:
        with pytest.raises(UnsupportedOperationError, match="Ray"):
            InfiniGramEngine(index_dir=str(folder), index=remote, **SETTINGS["u8"])
        local = InfiniGramEngine(index_dir=str(folder), **SETTINGS["u8"])
        assert remote.count(list(b"rose")) == local.count(input_ids=list(b"rose"))["count"] == 5
    finally:
        remote.shard_set.shutdown()
