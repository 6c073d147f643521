"""``where`` and ``estimate`` over Ray actors: the same replies as the local index.

The golden corpus (its documents carry a ``source``) cut into several shards, grouped two to
an actor; every operation that takes ``where`` and an estimated count, as batch requests.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cluster_fixtures import cluster  # noqa: E402,F401 (fixtures; sets the loopback variable)

pytest.importorskip("ray", reason='ray is not installed: pip install "infgram[ray]" to run these tests')

pytestmark = pytest.mark.xdist_group("ray")

import infgram  # noqa: E402
import infgram.distributed  # noqa: E402
from infgram.service.batch import run_batch  # noqa: E402

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
NEWS = {"source": "news"}

REQUESTS = [
    {"op": "probability", "prompt": "The cat", "next": " ", "where": NEWS},
    {"op": "infgram_probability", "prompt": "the big cat index", "next": " ", "where": NEWS},
    {"op": "infgram_next_tokens", "prompt": "The cat", "where": {"source": {"not": "news"}}},
    {"op": "infgram_probabilities", "text": "The cat sat", "where": NEWS},
    {"op": "search", "cnf": "cat AND rose", "where": NEWS},
    {"op": "attribute", "text": "The cat index rose too.", "min_length": 6, "where": NEWS},
    {"op": "contamination", "text": "Markets rose today as investors cheered", "where": NEWS},
    {"op": "count", "text": "the", "by": "source", "estimate": True, "max_work": 7},
    {"op": "count", "text": "e", "where": NEWS, "estimate": True, "max_work": 5},
    {"op": "infgram_next_tokens", "prompt": "The cat", "where": {"sauce": "news"}},
]


def test_filtered_requests_get_the_local_replies(cluster, tmp_path):
    out = tmp_path / "index"
    infgram.build([GOLDEN / "corpus.jsonl"], out, progress=False, shard_tokens=300)
    local = infgram.Index.open(out)
    remote = infgram.distributed.open(out, shards_per_host=2)
    lines = [json.dumps(request) for request in REQUESTS]
    replies = list(run_batch(local, lines))
    assert list(run_batch(remote, lines)) == replies
    assert json.loads(replies[7])["estimated"] is True and "error" in json.loads(replies[-1])
    remote.shard_set.shutdown()
