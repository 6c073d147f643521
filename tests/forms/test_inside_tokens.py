"""``inside_tokens``: whether a string also occurs starting or ending strictly inside a token,
against the brute-force ``_reference.inside_token_occurrences`` (which tokenizes every
document), and the notice in the replies that list ``forms``."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import infgram
from infgram import _reference as reference
from infgram.service.protocol import run_request

from conftest import build_tokenized_index as build, draw_word_text, loaded_tokenizer as loaded

WORDS = ["natural", "language", "languages", "nat", "ural", "a", "lang", "supernatural"]
SEPARATORS = [" ", "  ", "\n", ". ", ",", " (", "-", ""]


@st.composite
def corpora(draw):
    vocabulary, documents, queries = draw_word_text(draw, WORDS, SEPARATORS, 4, 6)
    queries += draw(st.lists(st.sampled_from(WORDS + ["xyz", "natural language"]), max_size=3))
    return documents, queries, draw(st.one_of(st.none(), st.integers(30, 60)))


@pytest.mark.parametrize("name", ["sp32k", "llama3"])
@settings(max_examples=15)
@given(case=corpora())
def test_inside_tokens_matches_the_reference(name, case):
    documents, queries, shard_tokens = case
    spelled = [reference.spelled_tokens(loaded(name), document) for document in documents]
    with tempfile.TemporaryDirectory() as folder:
        index = build(Path(folder) / "i", documents, name, shard_tokens)
        for query in queries:
            expected = bool(reference.inside_token_occurrences(spelled, query))
            assert index.inside_tokens(query) is expected, (query, spelled)


@pytest.mark.parametrize("name", ["sp32k", "llama3"])
def test_replies_with_forms_carry_the_notice(name, tmp_path):
    index = build(tmp_path / "i", ["We study languages and natural language."], name)
    assert index.inside_tokens("language") is True  # in "languages"
    assert index.inside_tokens("natural language") is False
    assert "inside_tokens" not in run_request(index, {"op": "count", "text": "language"})  # asked for only
    reply = run_request(index, {"op": "count", "text": "language", "inside_tokens": True})
    assert reply["inside_tokens"] is True and "byte index" in reply["notice"] and "'language'" in reply["notice"]
    reply = run_request(index, {"op": "count", "text": "natural language", "inside_tokens": True})
    assert reply["inside_tokens"] is False and "notice" not in reply
    for request in ({"op": "documents", "text": "language"}, {"op": "next_tokens", "prompt": "language"},
                    {"op": "probability", "prompt": "language", "next": " and"},
                    {"op": "search", "cnf": [["natural"], ["language"]]},
                    {"op": "search", "cnf": '"natural" AND language'},
                    {"op": "cooccurrence", "phrases": ["natural", "language"]}):
        reply = run_request(index, {**request, "inside_tokens": True})
        assert reply["inside_tokens"] is True and "'language'" in reply["notice"], (request, reply)


def test_byte_indexes_and_ids_have_no_forms_inside_tokens(tmp_path):
    infgram.build_from_documents(["languages"], tmp_path / "b", progress=False)
    index = infgram.Index.open(tmp_path / "b")
    assert index.inside_tokens("language") is False and index.inside_tokens([97]) is False
    assert "inside_tokens" not in run_request(index, {"op": "count", "text": "language", "inside_tokens": True})


@pytest.mark.parametrize("name", ["sp32k"])
def test_python_results_carry_what_the_replies_carry(name, tmp_path, run):
    """One name from Python to JSON: ``inside_tokens=True`` fills in the result's
    ``inside_tokens`` and ``notice``, as ``"inside_tokens": true`` does in a reply."""
    index = build(tmp_path / "i", ["We study languages and natural language."], name)
    assert index.documents("language").inside_tokens is None  # not asked
    calls = {"documents": lambda **asked: index.documents("language", **asked),
             "next_tokens": lambda **asked: index.next_tokens("language", **asked),
             "probability": lambda **asked: index.probability("language", " and", **asked),
             "search": lambda **asked: index.search('"natural" AND language', **asked),
             "cooccurrence": lambda **asked: index.cooccurrence(["natural", "language"], **asked)}
    requests = {"documents": {"text": "language"}, "next_tokens": {"prompt": "language"},
                "probability": {"prompt": "language", "next": " and"}, "search": {"cnf": '"natural" AND language'},
                "cooccurrence": {"phrases": ["natural", "language"]}}
    for op, call in calls.items():
        result = call(inside_tokens=True)
        assert result.inside_tokens is True and "'language'" in result.notice, op
        reply = run_request(index, {"op": op, **requests[op], "inside_tokens": True})
        assert {key: reply[key] for key in ("inside_tokens", "notice")} == \
            {key: result.to_dict()[key] for key in ("inside_tokens", "notice")}
        assert "inside_tokens" not in call().to_dict()
    assert index.documents("natural language", inside_tokens=True).inside_tokens is False
    assert index.inside_tokens_fields(["natural language", [1, 2]]) == {"inside_tokens": False}
    with pytest.raises(infgram.QueryError, match="inside_tokens to be true or false"):
        index.documents("language", inside_tokens="yes")
    shown = run("count", tmp_path / "i", "language", "--inside-tokens")
    assert shown.stdout.strip() == str(index.count("language")) and "byte index" in shown.stderr
    assert "infgram:" not in run("count", tmp_path / "i", "language").stderr
    reply = json.loads(run("documents", tmp_path / "i", "language", "--inside-tokens", "--json").stdout)
    assert reply["inside_tokens"] is True and "'language'" in reply["notice"]
    reply = json.loads(run("count", tmp_path / "i", "natural language", "--inside-tokens", "--json").stdout)
    batch = run_request(index, {"op": "count", "text": "natural language", "inside_tokens": True})
    assert reply == {key: value for key, value in batch.items() if key != "op"}  # forms too, as the batch
    assert reply["count"] == 1 and reply["inside_tokens"] is False and reply["forms"]


def test_undecided_is_said_not_guessed(tmp_path, monkeypatch):
    index = build(tmp_path / "i", ["We study languages."], "sp32k")
    monkeypatch.setattr(type(index), "inside_tokens", lambda self, query: None)
    fields = index.inside_tokens_fields(["language"])
    assert fields["inside_tokens"] is None and "could not decide" in fields["notice"]
    reply = run_request(index, {"op": "documents", "text": "language", "inside_tokens": True})
    assert reply["inside_tokens"] is None and "could not decide" in reply["notice"]
