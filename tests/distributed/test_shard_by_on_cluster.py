"""A ``--shard-by lang`` index over Ray actors: the same replies as the local index.

On such an index a count by ``lang`` is a count per shard and a condition on ``lang`` keeps or
drops whole shards (:mod:`infgram.query.metadata`); through the Ray shard set those decisions
are made from the actors' shards, which must give the local replies: counts by the field,
counts, documents and next tokens filtered on it (and on another field), and an estimate.
"""

from __future__ import annotations

import json

import pytest

from cluster_fixtures import cluster  # noqa: E402,F401 (fixtures; sets the loopback variable)

pytest.importorskip("ray", reason='ray is not installed: pip install "infgram[ray]" to run these tests')

pytestmark = pytest.mark.xdist_group("ray")

import infgram  # noqa: E402
import infgram.distributed  # noqa: E402
from infgram.service.batch import run_batch  # noqa: E402

LANGS = ["de", "fr", "en", None]
WORDS = ["the", "cat", "sat", "rose", "eine", "une", "a"]

REQUESTS = [
    {"op": "count", "text": "the", "by": "lang"},
    {"op": "count", "text": "rose", "by": "lang", "where": {"year": {"gte": 2000}}},
    {"op": "count", "text": "cat", "where": {"lang": "de"}},
    {"op": "count", "text": "cat", "where": {"lang": {"in": ["fr", "en"]}}},
    {"op": "count", "text": "cat", "where": {"lang": {"not": "de"}}},
    {"op": "documents", "text": "rose", "where": {"lang": "fr"}, "limit": 50},
    {"op": "documents", "text": "sat", "where": {"lang": {"not": "en"}}, "limit": 5, "seed": 7},
    {"op": "documents", "text": "the", "by": "lang", "limit": 3},
    {"op": "documents", "text": "the", "by": "lang", "estimate": True, "max_work": 40, "limit": 3},
    {"op": "documents", "text": "cat", "where": {"lang": "de"}, "estimate": True, "max_work": 12, "limit": 2},
    {"op": "next_tokens", "prompt": "the", "where": {"lang": "de"}},
    {"op": "next_tokens", "prompt": "the", "where": {"lang": {"in": ["de", "en"]}, "year": {"lt": 2000}}},
    {"op": "count", "text": "cat", "where": {"lnag": "de"}},
]


def _corpus(path):
    lines = []
    for number in range(120):
        document = {"text": " ".join(WORDS[(number * 7 + k * k) % len(WORDS)] for k in range(3 + number % 9)),
                    "year": 1990 + number % 20}
        if LANGS[number % 4] is not None:
            document["lang"] = LANGS[number % 4]
        lines.append(json.dumps(document))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_shard_by_index_gets_the_local_replies_through_ray(cluster, tmp_path):
    out = tmp_path / "index"
    infgram.build([_corpus(tmp_path / "corpus.jsonl")], out, progress=False, shard_tokens=400, shard_by="lang")
    local = infgram.Index.open(out)
    assert len(local.shard_set) > 4  # several shards per value: whole shards kept, dropped or counted
    remote = infgram.distributed.open(out, shards_per_host=2)
    try:
        lines = [json.dumps(request) for request in REQUESTS]
        replies = list(run_batch(local, lines))
        assert list(run_batch(remote, lines)) == replies
        by_lang = json.loads(replies[0])
        by_lang_cat = local.count("cat", by="lang").to_dict()
        assert set(by_lang["by"]) == {"de", "fr", "en"} and by_lang["missing"] > 0
        assert 0 < json.loads(replies[2])["count"] == by_lang_cat["by"]["de"]
        assert json.loads(replies[3])["count"] == by_lang_cat["by"]["fr"] + by_lang_cat["by"]["en"]
        assert json.loads(replies[8])["estimated"] is True and json.loads(replies[9])["estimated"] is True
        assert "error" in json.loads(replies[-1])
    finally:
        remote.shard_set.shutdown()
