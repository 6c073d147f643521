"""Whole words and ignoring case on byte indexes (suffix array and FM) against the oracle.

Tiny corpora over 2-4 characters drawn from word characters (ASCII, multibyte letters, the
underscore, a digit) and non-word ones (space, hyphen, a multibyte dash, a newline), so that
every kind of boundary, and UTF-8 characters of 2 and 3 bytes on either side, occur; tiny
shard sizes put documents at shard edges. Queries are pieces of the documents cut at any
character, and random strings.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import infgram
from infgram import _reference as reference

from conftest import piece_or_text

CHARACTERS = ["a", "b", "é", "_", "1", " ", "-", "—", "\n", "ǅ", "ǆ", "A", "ß", "ẞ"]


@st.composite
def cases(draw):
    alphabet = draw(st.lists(st.sampled_from(CHARACTERS), min_size=2, max_size=4, unique=True))
    documents = draw(st.lists(st.text(alphabet=alphabet, min_size=1, max_size=14), min_size=1, max_size=6))
    queries = draw(st.lists(piece_or_text(documents, alphabet, max_length=5), min_size=1, max_size=5))
    longest = max(len(d.encode()) for d in documents)
    shard_tokens = draw(st.one_of(st.none(), st.integers(longest + 1, longest + 20)))
    return documents, queries, shard_tokens


def documents_of(occurrences) -> list[int]:
    return sorted({number for number, _ in occurrences})


@pytest.mark.parametrize("kind", ["sa", "fm"])
@given(case=cases())
def test_whole_words_and_case_match_reference(kind, case):
    documents, queries, shard_tokens = case
    with tempfile.TemporaryDirectory() as folder:
        infgram.build_from_documents(documents, Path(folder) / "i", shard_tokens=shard_tokens, kind=kind,
                                     progress=False)
        index = infgram.Index.open(Path(folder) / "i")
        for query in queries:
            whole = reference.whole_word_occurrences(documents, query)
            assert index.count(query, whole_words=True) == len(whole), (query, whole)
            result = index.documents(query, whole_words=True, limit=100)
            assert sorted(d.index for d in result.documents) == documents_of(whole)
            assert result.num_documents == len(documents_of(whole)) and result.num_documents_exact
            for document in result.documents:  # the first whole-word match is the one shown
                first = min(start for number, start in whole if number == document.index)
                assert document.spans[0] == (first, first + len(query))

            folded = reference.case_insensitive_occurrences(documents, query)
            assert index.count(query, ignore_case=True) == len(folded)
            assert sum(form.count for form in index.forms(query, ignore_case=True)) == len(folded)
            folded_whole = reference.case_insensitive_occurrences(documents, query, whole_words=True)
            assert index.count(query, whole_words=True, ignore_case=True) == len(folded_whole)
            result = index.documents(query, whole_words=True, ignore_case=True, limit=100)
            assert sorted(d.index for d in result.documents) == documents_of(folded_whole)
            if kind == "sa":
                found = index.search([[query]], whole_words=True, limit=100)
                assert (found.num_documents, found.sites) == (len(documents_of(whole)), len(whole))
                found = index.search([[query]], whole_words=True, ignore_case=True, limit=0)
                assert (found.num_documents, found.sites) == (len(documents_of(folded_whole)), len(folded_whole))
        if kind == "sa":
            sets = [set(documents_of(reference.whole_word_occurrences(documents, q))) for q in queries]
            result = index.cooccurrence(queries, whole_words=True, document_counts=True)
            assert result.counts == [len(reference.whole_word_occurrences(documents, q)) for q in queries]
            assert result.document_counts == [len(s) for s in sets]
            assert result.pair_document_counts == [len(sets[a] & sets[b]) for a, b in result.pairs]
            if len(queries) >= 2:  # AND of two clauses, by scanning or by reading
                found = index.search([[queries[0]], [queries[1]]], whole_words=True, limit=0)
                assert found.num_documents == len(sets[0] & sets[1])


def test_whole_words_over_the_budget_are_refused(tmp_path):
    infgram.build_from_documents(["a a a a a", "a b"], tmp_path / "i", progress=False)
    index = infgram.Index.open(tmp_path / "i")
    with pytest.raises(infgram.LimitError, match="max_work"):
        index.count("a", whole_words=True, max_work=5)
    assert index.count("a", whole_words=True, max_work=6) == 6
    assert index.count("a", whole_words=True, max_work=1, exact=True) == 6
    result = index.documents("a", whole_words=True, max_work=2)
    assert not result.num_documents_exact and result.num_documents >= 1
    with pytest.raises(infgram.QueryError, match="whole_words to be true or false"):
        index.count("a", whole_words="yes")


def test_ignore_case_limits_and_refusals(tmp_path):
    infgram.build_from_documents(["ab" * 20], tmp_path / "i", progress=False)
    index = infgram.Index.open(tmp_path / "i")
    with pytest.raises(infgram.QueryError, match="ignore_case"):
        index.count([97, 98], ignore_case=True)
    assert index.count("AB" * 5, ignore_case=True) == 16  # only spellings that occur are extended
    from infgram.query import words
    with pytest.raises(infgram.LimitError, match="ignore_case") as raised:
        words.case_spellings("a" * 20, lambda pieces: [1] * len(pieces))
    assert (raised.value.option, raised.value.limit) == ("ignore_case", words.MAX_CASE_VARIANTS)
