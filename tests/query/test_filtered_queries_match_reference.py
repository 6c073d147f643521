"""Filtered probability, ∞-gram, search, attribution and contamination against the oracle.

A filtered question is the unfiltered one asked of the matching documents alone
(``_reference.subcorpus``): tiny corpora with random metadata (the strategies of
``test_metadata_matches_reference``), random conditions, shards cut at random, token widths
1, 2 and 4, empty prompts, and indexes with and without the value column.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import infgram
from infgram import _reference as reference

from conftest import corpora
from test_metadata_matches_reference import LANGUAGES, _build, metadata_of, where_of, without_columns


@st.composite
def cases(draw):
    width, alphabet, documents, shard_tokens, _ = draw(corpora())
    metadata = [draw(metadata_of()) for _ in documents]
    metadata[0] = {**metadata[0], "lang": "de", "year": 1990, "meta": {"source": "books"}}
    where, conditions = draw(where_of())
    if not where:  # always a filter: the unfiltered answers are tested elsewhere
        where, conditions = {"lang": {"not": "fr"}}, [(["lang"], "not", "fr")]

    def sequence(max_size):
        document = draw(st.sampled_from(documents))
        start = draw(st.integers(0, len(document)))
        return draw(st.one_of(st.just(list(document[start : start + draw(st.integers(0, max_size))])),
                              st.lists(st.sampled_from(alphabet), max_size=max_size)))

    prompt = sequence(4)
    text = sequence(6) + sequence(3)
    next_id = draw(st.sampled_from(alphabet))
    return width, alphabet, documents, metadata, shard_tokens, where, conditions, prompt, text, next_id


def _distribution(result):
    return [(token.id, token.count) for token in result.tokens]


def _check_ngrams(index, documents, metadata, where, conditions, prompt, text, next_id):
    kept, _ = reference.subcorpus(documents, metadata, conditions)
    probability = index.probability(prompt, next_id, where=where)
    assert (probability.prompt_count, probability.count) == reference.probability_where(
        documents, metadata, prompt, next_id, conditions)
    single = index.infgram_probability(prompt, next_id, where=where)
    assert (single.suffix_length, single.prompt_count, single.count) == reference.infgram_probability_where(
        documents, metadata, prompt, next_id, conditions)
    distribution = index.infgram_next_tokens(prompt, where=where)
    length, tokens = reference.infgram_next_tokens_where(documents, metadata, prompt, conditions)
    assert (distribution.suffix_length, _distribution(distribution)) == (length, tokens)
    assert distribution.prompt_count == reference.count(kept, prompt[len(prompt) - length:])
    scores = index.infgram_probabilities(np.array(text, dtype=np.int64), where=where)
    assert list(zip(scores.suffix_lengths, scores.prompt_counts, scores.counts)) == \
        reference.infgram_probabilities_where(documents, metadata, text, conditions)


@given(cases())
def test_filtered_ngrams_and_infgrams_match_reference(case):
    width, _, documents, metadata, shard_tokens, where, conditions, prompt, text, next_id = case
    with tempfile.TemporaryDirectory() as folder:
        directory = _build(Path(folder) / "index", width, documents, metadata, shard_tokens)
        _check_ngrams(infgram.Index.open(directory), documents, metadata, where, conditions, prompt, text, next_id)
        without_columns(directory)  # an index built before the value column: metadata.bin is read instead
        _check_ngrams(infgram.Index.open(directory), documents, metadata, where, conditions, prompt, text, next_id)


@given(cases(), st.data())
def test_filtered_search_matches_reference(case, data):
    width, alphabet, documents, metadata, shard_tokens, where, conditions, prompt, text, _ = case
    phrase = st.lists(st.sampled_from(alphabet), min_size=1, max_size=2)
    cnf = data.draw(st.lists(st.lists(phrase, min_size=1, max_size=2), min_size=1, max_size=3))
    within = data.draw(st.one_of(st.none(), st.integers(0, 4)))
    with tempfile.TemporaryDirectory() as folder:
        index = infgram.Index.open(_build(Path(folder) / "index", width, documents, metadata, shard_tokens))
        result = index.search(cnf, within=within, limit=len(documents), where=where)
        matching, sites = reference.search_where(documents, metadata, cnf, conditions, within)
        assert [d.index for d in result.documents] == matching
        assert (result.num_documents, result.sites) == (len(matching), len(sites))
        assert [d.start for d in result.documents] == [min(start for number, start, _ in sites if number == d.index)
                                                       for d in result.documents]


@given(cases(), st.integers(0, 3))
def test_filtered_attribution_matches_reference(case, min_length):
    width, _, documents, metadata, shard_tokens, where, conditions, _, text, _ = case
    kept, numbers = reference.subcorpus(documents, metadata, conditions)
    with tempfile.TemporaryDirectory() as folder:
        index = infgram.Index.open(_build(Path(folder) / "index", width, documents, metadata, shard_tokens))
        result = index.attribute(text, min_length=min_length, max_count=2, examples=2, context=1, where=where)
        assert [(s.start, s.end) for s in result.spans] == reference.maximal_matches_where(
            documents, metadata, text, min_length, conditions)
        for span in result.spans:
            piece = text[span.start : span.end]
            assert span.count == reference.count(kept, piece)
            holding = [numbers[number] for number, _ in reference.documents(kept, piece)]
            assert span.num_documents == len(holding)
            assert span.common == (len(holding) > 2)
            assert [d.index for d in span.documents] == ([] if span.common else holding[:2])


@settings(max_examples=30)
@given(st.lists(st.tuples(st.text(alphabet="ab ", min_size=1, max_size=12), st.sampled_from(LANGUAGES + [None])),
                min_size=1, max_size=6),
       st.text(alphabet="ab ", min_size=1, max_size=16), st.integers(1, 4), st.sampled_from(LANGUAGES))
def test_filtered_contamination_matches_reference(records, entry, width, language):
    texts = [text for text, _ in records] + ["x"]
    metadata = [{"lang": lang} if lang else {} for _, lang in records] + [{"lang": "de"}]
    if not entry.strip():
        entry = "a"
    conditions = [(["lang"], "eq", language)]
    with tempfile.TemporaryDirectory() as folder:
        infgram.build_from_documents([{"text": t, **m} for t, m in zip(texts, metadata)], Path(folder) / "i",
                                     progress=False)
        index = infgram.Index.open(Path(folder) / "i")
        from infgram.apps.contamination import contamination

        found = contamination(index, [entry], width=width, where={"lang": language})[0]
        assert (found.windows, found.found) == reference.contamination_where(texts, metadata, entry, conditions, width)
        if found.example is not None:
            assert reference.meets(metadata[found.example["document"]], conditions)
