"""Indexes that change, against the brute-force oracle on tiny random corpora.

A random sequence of add, remove and compact is applied to an index; after every step each
query type must answer as the oracle does on the model corpus, where a removed document is
an empty document (so document numbers match: removed numbers stay gaps). Tiny shard sizes
put documents, matches and removals at shard boundaries; alphabets of 2-4 symbols and every
token width exercise the subtraction of removed rows in next-token runs.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import infgram
from infgram import _reference as reference
from infgram.change import add, compact, remove

from conftest import build_id_index as build, corpora


@st.composite
def changes(draw):
    width, alphabet, documents, shard_tokens, key_step = draw(corpora())
    longest_allowed = (shard_tokens - 1) if shard_tokens else 14
    new_document = st.lists(st.sampled_from(alphabet), min_size=1, max_size=min(14, longest_allowed))
    steps = draw(st.lists(st.one_of(
        st.tuples(st.just("add"), st.lists(new_document, min_size=1, max_size=4)),
        st.tuples(st.just("remove"), st.lists(st.integers(0, 40), min_size=1, max_size=4)),
        st.tuples(st.just("compact"), st.none()),
    ), min_size=1, max_size=4))
    queries = draw(st.lists(st.lists(st.sampled_from(alphabet), min_size=0, max_size=5), min_size=1, max_size=5))
    text = draw(st.lists(st.sampled_from(alphabet), min_size=1, max_size=10))
    return width, alphabet, documents, shard_tokens, key_step, steps, queries, text


def pairs(tokens):
    return [(t.id, t.count) for t in tokens]


def check_answers(index: infgram.Index, model: list[list[int]], removed: set[int], alphabet, queries, text) -> None:
    """Every query type of ``index`` against the oracle on ``model`` (removed documents empty)."""
    live = [number for number in range(len(model)) if number not in removed]
    assert index.num_documents == len(model)
    assert index.num_tokens == sum(len(d) for d in model)
    assert index.count_batch(queries).tolist() == [reference.count(model, q) for q in queries]
    for query in queries:
        assert index.count(query) == reference.count(model, query)
        result = index.next_tokens(query)
        assert (result.prompt_count, pairs(result.tokens)) == \
            (reference.count(model, query), reference.next_tokens(model, query))
        length, expected = reference.infgram_next_tokens(model, query)
        result = index.infgram_next_tokens(query)
        assert (result.suffix_length, pairs(result.tokens)) == (length, expected)
        for next_id in alphabet:
            result = index.probability(query, next_id)
            assert (result.prompt_count, result.count) == reference.probability(model, query, next_id)
            result = index.infgram_probability(query, next_id)
            assert (result.suffix_length, result.prompt_count, result.count) == \
                reference.infgram_probability(model, query, next_id)
        found = index.documents(query, limit=len(model) + 1)
        expected_documents = reference.documents(model, query)
        if not query:
            expected_documents = [(number, 0) for number in live]
        assert found.num_documents == len(expected_documents)
        assert [(d.index, d.start) for d in found.documents] == expected_documents
    result = index.infgram_probabilities(text)
    assert list(zip(result.suffix_lengths, result.prompt_counts, result.counts)) == \
        reference.infgram_probabilities(model, text)
    result = index.longest_matches(text)
    assert list(zip(result.lengths, result.counts)) == reference.longest_matches(model, text)
    phrases = [q for q in queries if q][:2]
    if phrases:
        cnf = [[phrase] for phrase in phrases]
        expected_search, _ = reference.search(model, cnf)
        assert [d.index for d in index.search(cnf, limit=len(model) + 1).documents] == expected_search
    for number in range(len(model)):
        if number in removed:
            with pytest.raises(infgram.DocumentRemovedError):
                index.document(number)
        else:
            assert index.document(number).metadata.get("n", number) == number


@settings(max_examples=25)
@given(changes())
def test_every_change_answers_as_the_reference(case):
    width, alphabet, documents, shard_tokens, key_step, steps, queries, text = case
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder) / "index"
        index = build(directory, width, documents, shard_tokens, key_step)
        model = [list(d) for d in documents]
        removed: set[int] = set()
        generation = 0
        for action, argument in steps:
            if action == "add":
                add(directory, [{"ids": d, "metadata": {"n": len(model) + i}} for i, d in enumerate(argument)],
                    progress=False)
                model += [list(d) for d in argument]
            elif action == "remove":
                chosen = sorted({number % len(model) for number in argument})
                remove(directory, documents=chosen, progress=False)
                for number in chosen:
                    model[number] = []
                    removed.add(number)
            else:
                compact(directory, progress=False)
            reopened = infgram.Index.open(directory)
            check_answers(reopened, model, removed, alphabet, queries, text)
            # The old handle moves to the new generation, if the step wrote one.
            assert index.reload() is (reopened.generation != generation)
            generation = reopened.generation
            assert index.count_batch(queries).tolist() == reopened.count_batch(queries).tolist()


@settings(max_examples=15)
@given(corpora(), st.data())
def test_build_then_add_equals_one_build(case, data):
    """build(A) + add(B) answers as build(A + B), document numbers included."""
    width, alphabet, documents, shard_tokens, key_step = case
    cut = data.draw(st.integers(1, len(documents)))
    queries = data.draw(st.lists(st.lists(st.sampled_from(alphabet), min_size=1, max_size=4), min_size=1, max_size=5))
    with tempfile.TemporaryDirectory() as folder:
        changed = build(Path(folder) / "changed", width, documents[:cut], shard_tokens, key_step)
        if cut < len(documents):
            add(changed.directory, [{"ids": d, "metadata": {"n": cut + i}} for i, d in enumerate(documents[cut:])],
                progress=False)
            changed.reload()
        whole = build(Path(folder) / "whole", width, documents, shard_tokens, key_step)
        assert changed.count_batch(queries).tolist() == whole.count_batch(queries).tolist()
        for query in queries:
            assert pairs(changed.next_tokens(query).tokens) == pairs(whole.next_tokens(query).tokens)
            assert [(d.index, d.start) for d in changed.documents(query, limit=50).documents] == \
                [(d.index, d.start) for d in whole.documents(query, limit=50).documents]
        for number in range(len(documents)):
            assert changed.document(number).text == whole.document(number).text
