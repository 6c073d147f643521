"""Drafting against a brute-force greedy drafter on tiny random corpora (document and shard
boundaries included), for the ∞-gram and for the n-gram drafter with a cut context."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import infgram
from infgram import _reference as reference
from infgram.errors import QueryError, UnsupportedOperationError

from conftest import build_id_index as build, corpora


def brute_force_draft(documents, prompt, max_tokens, min_probability, min_count, max_suffix_tokens=None):
    context, drafted = list(prompt), []
    while len(drafted) < max_tokens:
        cut = context if max_suffix_tokens is None else context[len(context) - max_suffix_tokens:] \
            if max_suffix_tokens else []
        length, distribution = reference.infgram_next_tokens(documents, cut)
        if not distribution or distribution[0][0] is None:
            return drafted, "end_of_document"
        token, count = distribution[0]
        total = sum(c for _, c in distribution)
        if count / total < min_probability:
            return drafted, "min_probability"
        if count < min_count:
            return drafted, "min_count"
        drafted.append((token, count, count / total, length))
        context.append(token)
    return drafted, "max_tokens"


@st.composite
def cases(draw):
    width, alphabet, documents, shard_tokens, key_step = draw(corpora())
    requests = draw(st.lists(st.tuples(
        st.lists(st.sampled_from(alphabet), max_size=6),
        st.fixed_dictionaries(dict(max_tokens=st.integers(0, 12),
                                   min_probability=st.sampled_from([0.0, 0.0, 0.3, 0.5, 1.0]),
                                   min_count=st.sampled_from([0, 1, 1, 2, 3]),
                                   max_suffix_tokens=st.sampled_from([None, None, 0, 1, 2])))), min_size=1, max_size=5))
    return width, documents, shard_tokens, key_step, requests


@settings(max_examples=max(20, settings().max_examples // 3))
@given(cases())
def test_draft_matches_brute_force(case):
    width, documents, shard_tokens, key_step, requests = case
    with tempfile.TemporaryDirectory() as folder:
        index = build(Path(folder) / "index", width, documents, shard_tokens, key_step)
        for prompt, options in requests:
            result = index.draft(prompt, **options)
            expected, stop = brute_force_draft(documents, prompt, **options)
            assert [(t.id, t.count, t.probability, t.suffix_length) for t in result.tokens] == expected
            assert result.stop == stop


def test_draft_over_several_directories_matches_one(tmp_path):
    documents = [[1, 2, 1, 2, 3], [2, 1, 2, 1], [1, 2, 3, 3, 1, 2]]
    one = build(tmp_path / "one", 2, documents, None)
    build(tmp_path / "a", 2, documents[:1], None)
    build(tmp_path / "b", 2, documents[1:], None)
    both = infgram.Index.open([tmp_path / "a", tmp_path / "b"])
    for prompt in ([], [1], [3, 1], [2, 2, 2]):
        assert both.draft(prompt, max_tokens=10) == one.draft(prompt, max_tokens=10)


def test_stop_reasons_and_end_of_document(tmp_path):
    index = build(tmp_path / "i", 1, [[5, 6, 7], [5, 6, 8], [5, 6, 8]], None)
    assert [t.id for t in index.draft([5], max_tokens=5).tokens] == [6, 8]
    assert index.draft([5], max_tokens=5).stop == "end_of_document"
    assert index.draft([5, 6], min_probability=0.7).stop == "min_probability"
    assert index.draft([5, 6], min_count=3).stop == "min_count"
    assert index.draft([5], max_tokens=0) == infgram.query.results.DraftResult([], "max_tokens")


def test_ties_go_to_the_smallest_id_and_the_end_of_a_document_ranks_last(tmp_path):
    index = build(tmp_path / "i", 2, [[3, 9], [3, 4], [3]], None)
    assert [t.id for t in index.draft([3], max_tokens=1).tokens] == [4]
    index = build(tmp_path / "j", 2, [[3, 9], [3]], None)
    assert [t.id for t in index.draft([3], max_tokens=1).tokens] == [9]


@pytest.mark.parametrize("options, fragment", [
    ({"max_tokens": -1}, "max_tokens"), ({"max_tokens": 10**9}, "max_tokens"),
    ({"min_probability": 2}, "min_probability"), ({"min_count": -1}, "min_count"),
])
def test_bad_settings_are_refused(tmp_path, options, fragment):
    index = build(tmp_path / "i", 1, [[1, 2]], None)
    with pytest.raises(QueryError, match=fragment):
        index.draft([1], **options)


def test_an_fm_index_cannot_draft(tmp_path):
    infgram.build_from_documents(["abc"], tmp_path / "fm", kind="fm", progress=False)
    with pytest.raises(UnsupportedOperationError, match="suffix-array"):
        infgram.Index.open(tmp_path / "fm").draft("a")
