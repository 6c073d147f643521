"""Every operation answers over Ray actors exactly as the local index does.

The golden corpus and its batch of requests (every operation of the protocol, contamination
included) at several shard counts and both index kinds; and tiny random corpora of token ids
(hypothesis, a few examples) against every query method, documents, search and budgets
included, with shards grouped several to an actor.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cluster_fixtures import cluster  # noqa: E402,F401 (fixtures; sets the loopback variable)

pytest.importorskip("ray", reason='ray is not installed: pip install "infgram[ray]" to run these tests')

# One pytest-xdist worker runs every test of a Ray cluster, one cluster at a time (--dist loadgroup).
pytestmark = pytest.mark.xdist_group("ray")

import infgram  # noqa: E402
import infgram.distributed  # noqa: E402
from infgram.distributed.shardset import RayShardSet  # noqa: E402
from infgram.service.batch import run_batch  # noqa: E402

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


@pytest.mark.parametrize("kind, shard_tokens, removed", [("sa", None, []), ("sa", 300, []), ("fm", 400, []),
                                                         ("sa", 300, [1, 4, 7])])
def test_the_golden_batch_gets_the_local_replies(cluster, tmp_path, kind, shard_tokens, removed):
    out = tmp_path / "index"
    infgram.build([GOLDEN / "corpus.jsonl"], out, progress=False, kind=kind, shard_tokens=shard_tokens)
    if removed:  # an index after `infgram remove`: the actors leave the same documents out
        infgram.remove(out, documents=removed, progress=False)
    local = infgram.Index.open(out)
    remote = infgram.distributed.open(out, shards_per_host=2)
    assert isinstance(remote.shard_set, RayShardSet)
    assert len(remote.shards) == len(local.shards) == (1 if shard_tokens is None else len(local.shards))
    requests = (GOLDEN / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    assert list(run_batch(remote, requests)) == list(run_batch(local, requests))
    # Where the index lives (``memory``) is each process's own choice: the actors' is theirs.
    assert {k: v for k, v in remote.info().items() if k != "memory"} == \
        {k: v for k, v in local.info().items() if k != "memory"}
    queries = np.random.default_rng(1).integers(97, 123, size=(5000, 2))
    assert remote.count_batch(queries).tolist() == local.count_batch(queries).tolist()
    remote.shard_set.shutdown()


def test_a_seed_gives_one_page_on_ray_and_locally_for_both_kinds(cluster, tmp_path):
    """Suffix-array and FM indexes of one shard layout: the FM one on Ray pages as the local SA one."""
    for kind in ("sa", "fm"):
        infgram.build([GOLDEN / "corpus.jsonl"], tmp_path / kind, progress=False, kind=kind, shard_tokens=300)
    local = infgram.Index.open(tmp_path / "sa")
    remote = infgram.distributed.open(tmp_path / "fm", shards_per_host=2)
    try:
        assert len(remote.shards) == len(local.shards) > 1
        for query, options in (("the", {}), ("e", {"offset": 3}), ("the", {"whole_words": True}),
                               ("THE", {"ignore_case": True, "context": 4}), ("", {"offset": 2})):
            for seed in (0, 7, 2**40):
                page = {"limit": 3, "seed": seed, **options}
                assert remote.documents(query, **page) == local.documents(query, **page), (query, page)
    finally:
        remote.shard_set.shutdown()


def _documents(draw_ids):
    return [{"ids": ids, "metadata": {"n": number}} for number, ids in enumerate(draw_ids)]


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(documents=st.lists(st.lists(st.integers(0, 3), min_size=1, max_size=12), min_size=2, max_size=12),
       shard_tokens=st.integers(14, 40), group=st.integers(1, 3),
       queries=st.lists(st.lists(st.integers(0, 4), min_size=0, max_size=4), min_size=1, max_size=6),
       seed=st.integers(0, 5), max_work=st.integers(1, 30))
def test_every_operation_answers_as_locally(cluster, tmp_path_factory, documents, shard_tokens, group, queries, seed,
                                            max_work):
    out = tmp_path_factory.mktemp("ids") / "index"
    infgram.build_from_documents(_documents(documents), out, token_width=1, vocab_size=5, shard_tokens=shard_tokens,
                                 progress=False)
    local = infgram.Index.open(out)
    remote = infgram.distributed.open(out, shards_per_host=group)
    try:
        assert remote.num_documents == local.num_documents and remote.num_tokens == local.num_tokens
        for query in queries:
            for method, arguments in (
                ("count", (query,)), ("next_tokens", (query,)), ("infgram_next_tokens", (query,)),
                ("probability", (query, 1)), ("infgram_probability", (query, 2)),
                ("infgram_probabilities", (query,)), ("longest_matches", (query,)),
            ):
                assert getattr(remote, method)(*arguments) == getattr(local, method)(*arguments), (method, query)
            for options in ({}, {"seed": seed, "limit": 3, "offset": 1, "context": 2}, {"max_work": max_work}):
                assert remote.documents(query, **options) == local.documents(query, **options), (query, options)
        assert remote.count_batch(queries).tolist() == local.count_batch(queries).tolist()
        assert [remote.document(n) for n in range(local.num_documents)] == \
            [local.document(n) for n in range(local.num_documents)]
        phrases = [{"ids": query} for query in queries if query]
        if phrases:
            cnf = [[phrase] for phrase in phrases[:2]]
            for options in ({}, {"within": 3, "seed": seed}):
                assert remote.search(cnf, **options) == local.search(cnf, **options)
            for options in ({"document_counts": True}, {"max_work": max_work}):
                try:
                    expected = local.cooccurrence(phrases, **options)
                except infgram.LimitError as error:
                    with pytest.raises(infgram.LimitError, match=str(error.args[0])[:40]):
                        remote.cooccurrence(phrases, **options)
                else:
                    assert remote.cooccurrence(phrases, **options) == expected
        text = [token for query in queries for token in query]
        assert remote.attribute(text, min_length=2) == local.attribute(text, min_length=2)
        assert remote.trace(text, prompt=queries[0], documents_per_span=2) == \
            local.trace(text, prompt=queries[0], documents_per_span=2)
    finally:
        remote.shard_set.shutdown()


def test_opening_a_damaged_index_fails_as_locally(cluster, tmp_path):
    out = tmp_path / "index"
    infgram.build_from_documents(["abc", "abd"], out, progress=False)
    (out / "manifest.json").write_text("{}")
    with pytest.raises(infgram.IndexFormatError) as local:
        infgram.Index.open(out)
    with pytest.raises(infgram.IndexFormatError) as remote:
        infgram.distributed.open(out)
    assert str(remote.value) == str(local.value)
    json.loads((out / "manifest.json").read_text())
