"""AND/OR search, co-occurrence, longest matches and whole-sequence ∞-gram against the oracle.

Phrases are drawn from pieces of the documents (so that ORs overlap, e.g. "a" OR "a b",
and phrases end at document ends) and from random strings of the alphabet; ``within``
takes small values so that distances land exactly at the limit.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import infgram
from infgram import _reference as reference

from conftest import build_id_index as build, corpora


@st.composite
def phrases_of(draw, alphabet, documents, min_size=1):
    @st.composite
    def piece(draw_piece):
        document = draw_piece(st.sampled_from(documents))
        start = draw_piece(st.integers(0, len(document) - 1))
        end = draw_piece(st.integers(start + 1, min(len(document), start + 4)))
        return list(document[start:end])

    return draw(st.one_of(piece(), st.lists(st.sampled_from(alphabet), min_size=min_size, max_size=3)))


@st.composite
def search_cases(draw):
    width, alphabet, documents, shard_tokens, key_step = draw(corpora())
    cnf = draw(st.lists(st.lists(phrases_of(alphabet, documents), min_size=1, max_size=3), min_size=1, max_size=3))
    within = draw(st.one_of(st.none(), st.integers(0, 6)))
    return width, documents, shard_tokens, key_step, cnf, within


@given(search_cases())
def test_search_matches_reference(case):
    width, documents, shard_tokens, key_step, cnf, within = case
    matching, sites = reference.search(documents, cnf, within)
    with tempfile.TemporaryDirectory() as folder:
        index = build(Path(folder) / "index", width, documents, shard_tokens, key_step)
        result = index.search(cnf, within=within, limit=len(documents))
        assert (result.num_documents, result.sites) == (len(matching), len(sites))
        assert [d.index for d in result.documents] == matching
        as_dicts = [[{"ids": phrase} for phrase in clause] for clause in cnf]
        assert index.search(as_dicts, within=within, limit=0).num_documents == len(matching)


@given(st.lists(st.text(alphabet="ab ", min_size=1, max_size=12), min_size=1, max_size=6),
       st.lists(st.lists(st.text(alphabet="ab ", min_size=1, max_size=3), min_size=1, max_size=3), min_size=1, max_size=3),
       st.one_of(st.none(), st.integers(0, 5)), st.integers(0, 2**32 - 1))
def test_search_spans_in_byte_mode(texts, cnf, within, seed):
    """ASCII text, so character offsets are token offsets: the marked spans are the sites."""
    corpus = [list(t.encode()) for t in texts]
    matching, sites = reference.search(corpus, [[list(p.encode()) for p in clause] for clause in cnf], within)
    with tempfile.TemporaryDirectory() as folder:
        infgram.build_from_documents(texts, Path(folder) / "i", progress=False)
        index = infgram.Index.open(Path(folder) / "i")
        result = index.search(cnf, within=within, limit=len(texts), seed=seed)
        assert sorted(d.index for d in result.documents) == matching
        for document in result.documents:
            assert document.text == texts[document.index]
            expected: list[list[int]] = []
            for number, start, end in sites:
                if number != document.index:
                    continue
                if expected and start <= expected[-1][1]:
                    expected[-1][1] = max(expected[-1][1], end)
                else:
                    expected.append([start, end])
            assert [list(span) for span in document.spans] == expected


@given(corpora(), st.data())
def test_cooccurrence_matches_reference(case, data):
    width, alphabet, documents, shard_tokens, key_step = case
    phrases = data.draw(st.lists(phrases_of(alphabet, documents), min_size=1, max_size=5))
    sets = reference.document_sets(documents, phrases)
    with tempfile.TemporaryDirectory() as folder:
        index = build(Path(folder) / "index", width, documents, shard_tokens, key_step)
        result = index.cooccurrence(phrases, document_counts=True)
        assert index.cooccurrence(phrases).pair_document_counts == result.pair_document_counts
        assert result.counts == [reference.count(documents, p) for p in phrases]
        assert result.document_counts == [len(s) for s in sets]
        assert result.pair_document_counts == [len(sets[a] & sets[b]) for a, b in result.pairs]
        assert result.pairs == [(a, b) for a in range(len(phrases)) for b in range(a + 1, len(phrases))]


@given(corpora(), st.data())
def test_longest_matches_and_infgram_probabilities_match_reference(case, data):
    width, alphabet, documents, shard_tokens, key_step = case
    @st.composite
    def texts(draw):
        parts = draw(st.lists(phrases_of(alphabet, documents), min_size=0, max_size=4))
        return [token for part in parts for token in part]

    sequence = data.draw(texts())
    with tempfile.TemporaryDirectory() as folder:
        index = build(Path(folder) / "index", width, documents, shard_tokens, key_step)
        matches = index.longest_matches(sequence)
        assert list(zip(matches.lengths, matches.counts)) == reference.longest_matches(documents, sequence)
        assert matches.token_ids == sequence
        scores = index.infgram_probabilities(np.array(sequence, dtype=np.int64))
        expected = reference.infgram_probabilities(documents, sequence)
        assert list(zip(scores.suffix_lengths, scores.prompt_counts, scores.counts)) == expected
        for i, token in enumerate(sequence):  # the same as one call per token
            single = index.infgram_probability(sequence[:i], token)
            assert (single.suffix_length, single.probability) == (scores.suffix_lengths[i], scores.probabilities[i])


@given(corpora(), st.data(), st.integers(0, 4))
def test_attribution_spans_are_the_maximal_matches(case, data, min_length):
    width, alphabet, documents, shard_tokens, key_step = case
    parts = data.draw(st.lists(phrases_of(alphabet, documents), min_size=0, max_size=4))
    sequence = [token for part in parts for token in part]
    with tempfile.TemporaryDirectory() as folder:
        index = build(Path(folder) / "index", width, documents, shard_tokens, key_step)
        result = index.attribute(sequence, min_length=min_length, max_count=2, examples=1, context=1)
        assert [(s.start, s.end) for s in result.spans] == reference.maximal_matches(documents, sequence, min_length)
        for span in result.spans:
            piece = sequence[span.start : span.end]
            assert span.count == reference.count(documents, piece)
            assert span.num_documents == len(reference.documents(documents, piece))
            assert span.common == (span.num_documents > 2)
            assert len(span.documents) == (0 if span.common else 1)
