"""Malformed queries raise :class:`infgram.QueryError` saying what was expected, from Python and in batch."""

from __future__ import annotations

import json

import numpy as np
import pytest

import infgram
from infgram.query.encoding import MAX_QUERY_TOKENS


# -- bad queries ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def index(tmp_path_factory):
    folder = tmp_path_factory.mktemp("queries")
    infgram.build_from_documents(["the cat sat on the mat", "the dog ran"], folder / "index", progress=False)
    return infgram.Index.open(folder / "index")


BAD_QUERIES = {
    "id above the vocabulary": lambda ix: ix.count([300]),
    "separator id": lambda ix: ix.count([255]),
    "separator id in a prompt": lambda ix: ix.next_tokens([116, 255]),
    "negative id": lambda ix: ix.count([-1]),
    "float ids": lambda ix: ix.count([1.5, 2.0]),
    "float array": lambda ix: ix.count(np.array([116.0])),
    "2-D list": lambda ix: ix.count([[116, 104]]),
    "2-D array": lambda ix: ix.count(np.array([[116, 104], [101, 32]])),
    "scalar": lambda ix: ix.count(116),
    "None": lambda ix: ix.count(None),
    "bytes": lambda ix: ix.count(b"the"),
    "negative top_k": lambda ix: ix.next_tokens("the", top_k=-1),
    "negative top_k, ∞-gram": lambda ix: ix.infgram_next_tokens("the", top_k=-1),
    "next of two tokens": lambda ix: ix.probability("the", "ca"),
    "empty next": lambda ix: ix.probability("the", ""),
    "next id out of range": lambda ix: ix.probability("the", 300),
    "next separator": lambda ix: ix.infgram_probability("the", 255),
    "next of wrong type": lambda ix: ix.probability("the", 1.5),
    "limit too large": lambda ix: ix.documents("the", limit=10_001),
    "negative limit": lambda ix: ix.documents("the", limit=-1),
    "negative offset": lambda ix: ix.documents("the", offset=-1),
    "negative context": lambda ix: ix.documents("the", context=-1),
    "float limit": lambda ix: ix.documents("the", limit=2.0),
    "document past the end": lambda ix: ix.document(2),
    "negative document": lambda ix: ix.document(-1),
    "document as string": lambda ix: ix.document("0"),
    "too many ids": lambda ix: ix.count(np.zeros(MAX_QUERY_TOKENS + 1, dtype=np.int64)),
    "too many ids, batch": lambda ix: ix.count_batch(["the", [97] * (MAX_QUERY_TOKENS + 1)]),
}


@pytest.mark.parametrize("name", list(BAD_QUERIES))
def test_bad_query_raises_query_error(index, name):
    with pytest.raises(infgram.QueryError, match="expected"):
        BAD_QUERIES[name](index)


def test_separator_is_named_in_the_message(index):
    with pytest.raises(infgram.QueryError, match="the document separator"):
        index.count([255])


def test_text_query_over_max_tokens_in_byte_mode(index):
    with pytest.raises(infgram.QueryError, match="expected a query of at most"):
        index.count("a" * (MAX_QUERY_TOKENS + 1))


def test_query_with_lone_surrogate(index):
    with pytest.raises(infgram.QueryError, match="expected"):
        index.count("cat \ud800")


def test_negative_seed(index):
    with pytest.raises(infgram.QueryError, match="expected"):
        index.documents("the", seed=-1)


def test_large_2d_count_batch_is_not_one_long_query(index):
    bigrams = np.tile(np.array([[116, 104]]), (600_000, 1))  # "th", twice in the corpus
    counts = index.count_batch(bigrams)
    assert counts.shape == (600_000,) and int(counts.min()) == int(counts.max()) == 3


def test_2d_count_batch_row_over_max_tokens(index):
    row = np.full((1, MAX_QUERY_TOKENS + 1), 116)
    row[0, -1] = 300
    with pytest.raises(infgram.QueryError, match="expected"):
        index.count_batch(row)


def test_2d_count_batch_checks_ids(index):
    assert index.count_batch(np.array([[116, 104], [104, 101]])).tolist() == [3, 3]
    for bad in (np.array([[116, 255]]), np.array([[-1, 116]]), np.array([[116.0, 104.0]])):
        with pytest.raises(infgram.QueryError, match="expected"):
            index.count_batch(bad)


def test_text_query_on_a_pretokenized_index(tmp_path):
    infgram.build_from_documents([{"ids": [1, 2]}], tmp_path / "index", token_width=2, vocab_size=10, progress=False)
    pretokenized = infgram.Index.open(tmp_path / "index")
    with pytest.raises(infgram.UnsupportedOperationError, match="give queries as token ids"):
        pretokenized.count("text")
    with pytest.raises(infgram.QueryError, match="expected token ids from 0 to 9"):
        pretokenized.count([10])


def test_bad_batch_requests_become_error_replies(index):
    from infgram.service.batch import run_batch

    requests = ['{"op": "count", "ids": [1.5]}', '{"op": "count", "ids": "116"}', '{"op": "count", "text": 5}',
                '{"op": "count"}', '{"op": "probability", "prompt": "the"}', '{"op": "probability", "prompt": "a",'
                ' "next": "b", "next_id": 98}', '{"op": "probability", "prompt": "a", "next_id": true}',
                '{"op": "next_tokens", "text": "a", "top_k": "3"}', '{"op": "documents", "text": "a", "seed": 1.5}',
                '{"op": "count", "prompt_ids": [1], "text": "x", "ids": [1]}', 'null', '"count"', '{}']
    replies = [json.loads(r) for r in run_batch(index, requests)]
    assert len(replies) == len(requests)
    for request, reply in zip(requests, replies):
        assert reply["error"]["type"] == "QueryError", (request, reply)
        assert "expected" in reply["error"]["message"]


def test_batch_request_with_unhashable_op(index):
    from infgram.service.batch import run_batch

    replies = [json.loads(r) for r in run_batch(index, ['{"op": ["count"]}', '{"op": "count", "text": "the"}'])]
    assert replies[0]["error"]["type"] == "QueryError"
    assert replies[1] == {"op": "count", "count": 3}  # the cat, the mat, the dog


def test_batch_text_with_lone_surrogate(index):
    from infgram.service.batch import run_batch

    requests = ['{"op": "count", "text": "the"}', '{"op": "count", "text": "\\ud800"}',
                '{"op": "documents", "text": "x\\udc00"}']
    replies = [json.loads(r) for r in run_batch(index, requests)]
    assert replies[0] == {"op": "count", "count": 3}  # the cat, the mat, the dog
    assert replies[1]["error"]["type"] == replies[2]["error"]["type"] == "QueryError"


def test_batch_documents_with_negative_seed(index):
    from infgram.service.batch import run_batch

    replies = [json.loads(r) for r in run_batch(index, ['{"op": "documents", "text": "the", "seed": -1}'])]
    assert replies[0]["error"]["type"] == "QueryError"


def test_probability_command_without_next_is_a_one_line_error(tmp_path, capsys):
    from infgram import cli

    infgram.build_from_documents(["the cat"], tmp_path / "index", progress=False)
    assert cli.main(["probability", str(tmp_path / "index"), "the"]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("infgram: QueryError: expected the next token")
