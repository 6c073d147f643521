"""n-gram novelty and the Creativity Index against brute force: token units on id indexes
(widths 1/2/4, shard boundaries), word units on byte indexes."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import infgram
from infgram import _reference as reference
from infgram.errors import QueryError
from infgram.lm import creativity, novelty
from infgram.service.protocol import run_request

from conftest import build_id_index as build, corpora


@st.composite
def id_cases(draw):
    width, alphabet, documents, shard_tokens, key_step = draw(corpora())
    texts = draw(st.lists(st.lists(st.sampled_from(alphabet), max_size=10), min_size=1, max_size=4))
    return width, documents, shard_tokens, key_step, texts


@settings(max_examples=max(20, settings().max_examples // 3))
@given(id_cases(), st.integers(1, 12), st.lists(st.integers(1, 8), min_size=1, max_size=3))
def test_token_novelty_and_uniqueness_match_brute_force(case, max_n, lengths):
    width, documents, shard_tokens, key_step, texts = case
    with tempfile.TemporaryDirectory() as folder:
        index = build(Path(folder) / "index", width, documents, shard_tokens, key_step)
        for text in texts:
            assert novelty(index, text, max_n).novelty == reference.novelty(documents, text, max_n)
            result = creativity(index, text, lengths)
            expected = [reference.uniqueness(documents, text, length) for length in lengths]
            assert result.uniqueness == expected
            assert result.creativity_index == (sum(expected) if text else None)


def word_spans(data: bytes):
    return [match.span() for match in re.finditer(rb"\S+", data)]


@settings(max_examples=max(20, settings().max_examples // 3))
@given(st.lists(st.text("ab \n", min_size=1, max_size=12), min_size=1, max_size=4),
       st.lists(st.text("ab \n", max_size=14), min_size=1, max_size=3), st.integers(1, 5))
def test_word_novelty_and_uniqueness_on_a_byte_index_match_brute_force(documents, texts, length):
    with tempfile.TemporaryDirectory() as folder:
        infgram.build_from_documents(documents, Path(folder) / "i", progress=False)
        index = infgram.Index.open(Path(folder) / "i")
        corpus = [list(d.encode()) for d in documents]
        for text in texts:
            data = text.encode()
            spans = word_spans(data)
            assert novelty(index, text, 5).novelty == reference.novelty(corpus, list(data), 5, spans)
            assert creativity(index, text, length).uniqueness == [reference.uniqueness(corpus, list(data), length, spans)]


def test_the_ops_answer_and_check_their_fields(tmp_path):
    index = build(tmp_path / "i", 2, [[1, 2, 3], [3, 2, 1]], None)
    assert run_request(index, {"op": "novelty", "ids": [1, 2, 4], "max_n": 4}) == \
        {"op": "novelty", "unit": "token", "num_units": 3, "novelty": [1 / 3, 0.5, 1.0, None]}
    reply = run_request(index, {"op": "creativity", "ids": [1, 2, 3, 2], "min_length": 3})
    assert reply["uniqueness"] == [0.25] and reply["creativity_index"] == 0.25
    assert run_request(index, {"op": "creativity", "ids": []})["min_lengths"] == list(range(5, 13))
    assert run_request(index, {"op": "creativity", "ids": [1], "min_length": [0]})["error"]["type"] == "QueryError"
    assert run_request(index, {"op": "novelty", "ids": [1], "max_n": -1})["error"]["type"] == "QueryError"


def test_an_empty_text_has_no_shares(tmp_path):
    index = build(tmp_path / "i", 1, [[1, 2]], None)
    assert novelty(index, [], 2).novelty == [None, None]
    assert creativity(index, [], [1, 2]).uniqueness == [None, None]
    with pytest.raises(QueryError):
        creativity(index, [1], "5")
