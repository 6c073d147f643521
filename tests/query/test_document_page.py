"""The seeded page of ``documents`` against the brute-force draw of ``_reference.seeded_documents``.

A seed names one order of the documents holding a query: its occurrences, numbered shard by
shard, form by form and in suffix order, are drawn in a seeded random order, and each
document is listed when one of its occurrences is first drawn (see
:mod:`infgram.query.documents`). The oracle sorts the suffixes of each shard by brute force
and draws with its own scalar copy of the permutation, so these tests check the numbering,
the vectorized permutation, the per-shard location and the dropping of removed documents
and of occurrences that are not whole words. Tiny corpora over 2-4 symbols, every token
width, small shards; suffix-array and FM indexes of one shard layout give one page.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import infgram
from infgram import _reference as reference
from infgram.query import documents as documents_module
from infgram.sampling import SeededPermutation

from conftest import build_id_index, corpora


def shard_layout(index, documents):
    """The documents of each shard of an index, as lists (the reference's input)."""
    sizes = [shard.num_documents for shard in index.shards]
    bounds = np.concatenate(([0], np.cumsum(sizes))).tolist()
    return [documents[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])]


def all_pages(index, query, seed, limit, **options):
    """Every page of a seeded order, concatenated, as (document, start)."""
    total = index.documents(query, limit=0, exact=True, **options).num_documents
    return [(d.index, d.start) for offset in range(0, total, limit)
            for d in index.documents(query, limit=limit, offset=offset, seed=seed, **options).documents]


@given(st.integers(0, 2**70), st.integers(0, 300))
def test_the_permutation_is_the_references_and_a_bijection(seed, size):
    values = SeededPermutation(seed, size).at(np.arange(size)).tolist()
    assert sorted(values) == list(range(size))
    assert values == [reference.seeded_permutation_value(seed, size, step) for step in range(size)]


@given(st.integers(0, 2**64), st.integers(2**20, 2**63), st.lists(st.integers(0, 2**63), min_size=1, max_size=20))
def test_the_permutation_of_large_sizes_is_the_references(seed, size, steps):
    steps = [step % size for step in steps]
    values = SeededPermutation(seed, size).at(np.array(steps, dtype=np.int64)).tolist()
    assert values == [reference.seeded_permutation_value(seed, size, step) for step in steps]
    assert all(0 <= value < size for value in values)


@st.composite
def id_cases(draw):
    width, alphabet, documents, shard_tokens, key_step = draw(corpora())
    query = draw(st.one_of(st.lists(st.sampled_from(alphabet), min_size=1, max_size=2),
                           st.sampled_from(documents).map(lambda document: list(document[:2]))))
    removed = draw(st.lists(st.integers(0, len(documents) - 1), min_size=min(1, len(documents) - 1), max_size=3,
                            unique=True))
    return width, documents, shard_tokens, key_step, query, removed, draw(st.integers(0, 2**32)), \
        draw(st.integers(1, 4))


@given(id_cases())
def test_seeded_pages_match_the_reference_draw(case):
    width, documents, shard_tokens, key_step, query, removed, seed, limit = case
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "index"
        index = build_id_index(path, width, documents, shard_tokens, key_step)
        if removed and len(removed) < len(documents):
            infgram.remove(path, documents=removed, progress=False)
            index = infgram.Index.open(path)
        else:
            removed = []
        expected = reference.seeded_documents(shard_layout(index, documents), [query], seed, 2 ** (8 * width) - 1,
                                              keep=lambda number, offset, length: number not in removed)
        assert all_pages(index, query, seed, limit) == [(number, offset) for number, offset, _ in expected]
        result = index.documents(query, limit=limit, seed=seed, context=1)
        assert result.num_documents == len(expected) and result.num_documents_exact
        for document, (number, offset, length) in zip(result.documents, expected):
            assert (document.index, document.start) == (number, offset)
            assert document.spans and document.window_start <= offset
        # The empty query draws documents: each live one equally likely first.
        live = [number for number in range(len(documents)) if number not in removed]
        order = [live[reference.seeded_permutation_value(seed, len(live), step)] for step in range(len(live))]
        assert [d.index for d in index.documents([], limit=len(live), seed=seed).documents] == order
        assert [d.index for d in index.documents([], limit=limit, offset=1, seed=seed).documents] == order[1:1 + limit]


@given(id_cases(), st.integers(0, 12))
def test_seeded_pages_within_a_budget_are_the_draws_that_fit(case, max_work):
    width, documents, shard_tokens, key_step, query, _, seed, limit = case
    with tempfile.TemporaryDirectory() as folder:
        index = build_id_index(Path(folder) / "index", width, documents, shard_tokens, key_step)
        layout, separator = shard_layout(index, documents), 2 ** (8 * width) - 1
        expected = reference.seeded_documents(layout, [query], seed, separator, max_work=max_work)
        result = index.documents(query, limit=limit, seed=seed, max_work=max_work)
        assert [(d.index, d.start) for d in result.documents] == [(n, o) for n, o, _ in expected[:limit]]
        everything = reference.seeded_documents(layout, [query], seed, separator)
        assert len(result.documents) <= result.num_documents <= len(everything)
        if result.num_documents_exact:
            assert result.num_documents == len(everything)


CHARACTERS = ["a", "b", "é", "_", " ", "-", "—", "A"]


@st.composite
def text_cases(draw):
    alphabet = draw(st.lists(st.sampled_from(CHARACTERS), min_size=2, max_size=4, unique=True))
    texts = draw(st.lists(st.text(alphabet=alphabet, min_size=1, max_size=14), min_size=1, max_size=7))
    source = draw(st.sampled_from(texts))
    start = draw(st.integers(0, len(source) - 1))
    query = draw(st.one_of(st.just(source[start : start + draw(st.integers(1, 3))]),
                           st.text(alphabet=alphabet, min_size=1, max_size=2)))
    longest = max(len(text.encode()) for text in texts)
    shard_tokens = draw(st.one_of(st.none(), st.integers(longest + 1, longest + 30)))
    return texts, query, shard_tokens, draw(st.integers(0, 2**32)), draw(st.integers(1, 3)), \
        draw(st.sampled_from([1, 2, 128]))


def byte_starts(texts, occurrences):
    """(document, byte offset) of (document, character offset) occurrences."""
    return {(number, len(texts[number][:start].encode())) for number, start in occurrences}


@given(text_cases())
def test_suffix_array_and_fm_give_the_reference_page_with_words_and_case(case):
    texts, query, shard_tokens, seed, limit, sample_rate = case
    corpus = [list(text.encode()) for text in texts]
    with tempfile.TemporaryDirectory() as folder:
        for kind in ("sa", "fm"):
            infgram.build_from_documents([{"text": t, "metadata": {"n": i}} for i, t in enumerate(texts)],
                                         Path(folder) / kind, kind=kind, shard_tokens=shard_tokens,
                                         sample_rate=sample_rate if kind == "fm" else None, progress=False)
        sa, fm = infgram.Index.open(Path(folder) / "sa"), infgram.Index.open(Path(folder) / "fm")
        layout = shard_layout(sa, corpus)
        whole = byte_starts(texts, reference.whole_word_occurrences(texts, query))
        folded = reference.case_insensitive_occurrences(texts, query)
        spellings = sorted({texts[number][start : start + len(query)].encode() for number, start in folded})
        folded_whole = byte_starts(texts, reference.case_insensitive_occurrences(texts, query, whole_words=True))
        for options, forms, keep in (
            ({}, [query.encode()], None),
            ({"whole_words": True}, [query.encode()], lambda number, offset, _: (number, offset) in whole),
            ({"ignore_case": True}, spellings, None),
            ({"ignore_case": True, "whole_words": True}, spellings,
             lambda number, offset, _: (number, offset) in folded_whole),
        ):
            expected = reference.seeded_documents(layout, [list(form) for form in forms], seed, 255, keep=keep)
            expected = [(number, offset) for number, offset, _ in expected]
            assert all_pages(sa, query, seed, limit, **options) == expected, options
            assert all_pages(fm, query, seed, limit, **options) == expected, options
            for offset in (0, 1):
                page = dict(limit=limit, offset=offset, seed=seed, context=2, **options)
                assert fm.documents(query, **page) == sa.documents(query, **page)


def test_an_fm_page_locates_only_the_occurrences_it_draws(tmp_path, monkeypatch):
    """A frequent byte on an FM-index: a seeded page of one locates one occurrence, not all."""
    texts = [("ab" * 500) + str(number) for number in range(40)]  # 'a' occurs 20,000 times
    infgram.build_from_documents(texts, tmp_path / "fm", kind="fm", shard_tokens=5000, progress=False)
    index = infgram.Index.open(tmp_path / "fm")
    assert len(index.shards) > 1 and index.count("a") == 20_000
    drawn_rows: list[int] = []
    real = documents_module.drawn_occurrences

    def counting(shard, forms, form_numbers, rows, words=None):
        drawn_rows.append(len(rows))
        return real(shard, forms, form_numbers, rows, words)

    monkeypatch.setattr(documents_module, "drawn_occurrences", counting)
    located: list[int] = []
    for shard in index.shards:
        positions = shard.positions
        monkeypatch.setattr(shard, "positions", lambda lo, hi, positions=positions: (located.append(hi - lo),
                                                                                     positions(lo, hi))[1])
    rate = index.shards[0].locate_cost
    result = index.documents("a", limit=1, seed=3, max_work=20 * rate)
    assert sum(drawn_rows) == 1 and len(result.documents) == 1
    assert sum(located) <= 20  # the draw and the count share the budget: 20 locates in all
    assert not result.num_documents_exact and 1 <= result.num_documents <= 40
    drawn_rows.clear()
    for limit in (1, 5):  # the page does not depend on the budget, as long as its draws fit
        assert index.documents("a", limit=limit, seed=3, max_work=20 * rate).documents == \
            index.documents("a", limit=limit, seed=3, exact=True).documents
    assert max(drawn_rows) <= 5 * 2


def test_without_a_seed_the_page_is_in_index_order(tmp_path):
    infgram.build_from_documents(["b a", "a", "c", "a a"], tmp_path / "i", shard_tokens=5, progress=False)
    index = infgram.Index.open(tmp_path / "i")
    assert [(d.index, d.start) for d in index.documents("a", limit=5).documents] == [(0, 2), (1, 0), (3, 0)]
    assert [d.index for d in index.documents("a", limit=1, offset=1).documents] == [1]
    seeded = index.documents("a", limit=5, seed=0)
    assert sorted(d.index for d in seeded.documents) == [0, 1, 3] and seeded.num_documents == 3


@pytest.mark.parametrize("seed", [0, 1, 2**80])
def test_a_document_with_many_occurrences_tends_to_come_first(tmp_path, seed):
    """The documented bias: documents are drawn through their occurrences."""
    texts = ["x" * 200] + ["x"] * 5
    infgram.build_from_documents(texts, tmp_path / f"i{seed}", progress=False)
    index = infgram.Index.open(tmp_path / f"i{seed}")
    firsts = [index.documents("x", limit=1, seed=seed + step).documents[0].index for step in range(20)]
    assert firsts.count(0) >= 15
