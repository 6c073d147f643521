"""Queries of the wrong type or shape get a QueryError that says what was expected, never
another exception (a reliability pass found ValueError, TypeError and OverflowError here)."""

from __future__ import annotations

import numpy as np
import pytest

import infgram


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad-queries")
    infgram.build_from_documents(["the cat sat", "the dog ran", "a cat ran"], folder / "index", progress=False)
    return infgram.Index.open(folder / "index")


RAGGED = [[1, 2], [3]]
CALLS = {
    "count": lambda index, q: index.count(q),
    "probability": lambda index, q: index.probability(q, "a"),
    "next_tokens": lambda index, q: index.next_tokens(q),
    "infgram_probability": lambda index, q: index.infgram_probability(q, "a"),
    "infgram_next_tokens": lambda index, q: index.infgram_next_tokens(q),
    "infgram_probabilities": lambda index, q: index.infgram_probabilities(q),
    "longest_matches": lambda index, q: index.longest_matches(q),
    "documents": lambda index, q: index.documents(q),
    "search": lambda index, q: index.search([[q]]),
    "cooccurrence": lambda index, q: index.cooccurrence([q, "cat"]),
    "attribute": lambda index, q: index.attribute(q),
    "count_batch": lambda index, q: index.count_batch([q]),
}


@pytest.mark.parametrize("operation", list(CALLS))
@pytest.mark.parametrize("query", [RAGGED, 3.5, {"text": "cat"}, b"cat", [1.5], [[1, 2], [3, 4]], None, [2**70]],
                         ids=["ragged", "float", "dict", "bytes", "float ids", "2-D", "None", "huge id"])
def test_every_method_names_a_bad_query(index, operation, query):
    with pytest.raises(infgram.QueryError):
        CALLS[operation](index, query)


def test_count_batch_refuses_a_single_string_and_a_number(index):
    with pytest.raises(infgram.QueryError, match="one string"):
        index.count_batch("abc")
    with pytest.raises(infgram.QueryError, match="list of queries"):
        index.count_batch(5)


def test_numpy_integers_are_accepted_as_numbers(index):
    result = index.documents("cat", context=np.uint64(7), limit=np.int32(1), offset=np.int64(0))
    assert result.num_documents == 2 and len(result.documents) == 1
    assert index.next_tokens("the ", top_k=np.uint8(1)).tokens[0].count == 1


@pytest.mark.parametrize("arguments", [{"limit": -1}, {"limit": 10**6}, {"offset": 1.5}, {"context": True},
                                       {"seed": "x"}, {"max_work": -5}, {"exact": "yes"}])
def test_bad_paging_and_budget_arguments(index, arguments):
    with pytest.raises(infgram.QueryError):
        index.documents("cat", **arguments)


def test_bad_cooccurrence_pairs(index):
    for pairs in ([10], [[0, 5]], [[0]], "01", [[True, 0]]):
        with pytest.raises(infgram.QueryError, match="pair"):
            index.cooccurrence(["cat", "dog"], pairs)


def test_a_huge_text_on_a_tokenized_index_is_refused_before_tokenizing(tmp_path):
    from conftest import shared_tokenizer

    infgram.build_from_documents(["the cat sat"], tmp_path / "index", tokenizer=shared_tokenizer("sp32k"), progress=False)
    index = infgram.Index.open(tmp_path / "index")
    with pytest.raises(infgram.QueryError, match="characters"):
        index.count("a" * 2_000_000)
