"""Whole words in attribution and in batches of counts, against the brute-force reference.

Attribution: ``_reference.whole_word_spans`` (byte indexes: regular expressions on the
documents' text) and ``_reference.whole_word_token_spans`` (token indexes: the documents'
own tokens). Byte corpora are tiny texts over 2-4 characters, always with a space and a
non-word character, so that every kind of boundary occurs; the text attributed is made of
pieces of the documents and random characters; tiny shard sizes put documents at shard
edges. Counts: ``count_batch(..., whole_words=True)`` and the batch's ``count`` lines
against ``_reference.whole_word_occurrences`` and ``aligned_whole_word_occurrences``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import infgram
from infgram import _reference as reference
from infgram.service.batch import run_batch
from infgram.service.protocol import run_request

from conftest import build_tokenized_index, draw_word_text, loaded_tokenizer, piece_or_text

WORD_CHARACTERS = ["a", "b", "é", "_", "1"]
OTHER_CHARACTERS = ["-", "—", ".", "\n"]


@st.composite
def byte_cases(draw):
    alphabet = [" ", draw(st.sampled_from(OTHER_CHARACTERS))] + \
        draw(st.lists(st.sampled_from(WORD_CHARACTERS), min_size=0, max_size=2, unique=True))
    documents = draw(st.lists(st.text(alphabet=alphabet, min_size=1, max_size=14), min_size=1, max_size=6))
    text = "".join(draw(st.lists(piece_or_text(documents, alphabet), min_size=1, max_size=4)))
    longest = max(len(d.encode()) for d in documents)
    shard_tokens = draw(st.one_of(st.none(), st.integers(longest + 1, longest + 20)))
    return documents, text, shard_tokens, draw(st.integers(0, 4))


def first_byte_offsets(documents: list[str], piece: str) -> dict[int, int]:
    """The byte offset of the first whole-word occurrence of ``piece`` in each document holding one."""
    first: dict[int, int] = {}
    for number, start in reference.whole_word_occurrences(documents, piece):
        first.setdefault(number, len(documents[number][:start].encode("utf-8")))
    return first


@given(case=byte_cases())
def test_whole_word_attribution_on_byte_indexes_matches_the_reference(case):
    documents, text, shard_tokens, min_length = case
    with tempfile.TemporaryDirectory() as folder:
        infgram.build_from_documents(documents, Path(folder) / "i", shard_tokens=shard_tokens, progress=False)
        index = infgram.Index.open(Path(folder) / "i")
        result = index.attribute(text, min_length=min_length, max_count=2, examples=2, context=1, whole_words=True)
        expected = reference.whole_word_spans(documents, text, min_length)
        found = [(s.character_start, s.character_end, s.count, s.num_documents) for s in result.spans]
        assert found == [(a, b, count, len(holding)) for a, b, count, holding in expected], (documents, text)
        for span, (a, b, _, holding) in zip(result.spans, expected):
            assert span.text == text[a:b]
            assert span.end - span.start == len(text[a:b].encode("utf-8"))
            assert span.common == (len(holding) > 2)
            assert [d.index for d in span.documents] == ([] if span.common else holding[:2])
            first = first_byte_offsets(documents, text[a:b])
            assert [d.start for d in span.documents] == [first[d.index] for d in span.documents]
        queries = list(dict.fromkeys(text[a:b] for a in range(len(text)) for b in range(a + 1, min(len(text), a + 4) + 1)))
        counts = [len(reference.whole_word_occurrences(documents, query)) for query in queries]
        assert index.count_batch(queries, whole_words=True).tolist() == counts
        replies = [json.loads(line) for line in run_batch(index, [json.dumps(
            {"op": "count", "text": query, "whole_words": True}) for query in queries])]
        assert [reply["count"] for reply in replies] == counts


@st.composite
def token_cases(draw):
    words = ["cat", "sat", "on", "a", "mat", "ca", "t"]
    separators = [" ", " ", "  ", "\n", ". ", ",", "-"]
    _, documents, queries = draw_word_text(draw, words, separators, 5, 8)
    text = draw(st.sampled_from([" ".join(queries), "".join(queries), queries[0]]))
    return documents, text, queries, draw(st.one_of(st.none(), st.integers(40, 80))), draw(st.integers(0, 3))


@pytest.mark.parametrize("name", ["sp32k", "llama3"])
@settings(max_examples=15)
@given(case=token_cases())
def test_whole_word_attribution_on_token_indexes_matches_the_reference(name, case):
    documents, text, queries, shard_tokens, min_length = case
    tokenizer = loaded_tokenizer(name)

    def spell(token: int) -> str:
        piece = tokenizer.token_piece(token)
        return piece.replace("\u2581", " ") if "\u2581" in piece else tokenizer.decode([token])

    with tempfile.TemporaryDirectory() as folder:
        index = build_tokenized_index(Path(folder) / "i", documents, name, shard_tokens)
        result = index.attribute(text, min_length=min_length, max_count=2, examples=2, context=1, whole_words=True)
        tokens = [tokenizer.encode(document).tolist() for document in documents]
        expected = reference.whole_word_token_spans(tokens, tokenizer.encode(text).tolist(), spell, min_length)
        found = [(s.start, s.end, s.count, s.num_documents) for s in result.spans]
        assert found == [(i, j, count, len(holding)) for i, j, count, holding in expected], (documents, text)
        for span, (_, _, _, holding) in zip(result.spans, expected):
            assert [d.index for d in span.documents] == ([] if span.common else holding[:2])
            assert span.text and not span.text[0].isspace() and not span.text[-1].isspace()
        spelled = [reference.spelled_tokens(tokenizer, document) for document in documents]
        counts = [len(reference.aligned_whole_word_occurrences(spelled, query)) for query in queries]
        assert index.count_batch(queries, whole_words=True).tolist() == counts


def test_every_interface_attributes_whole_words(tmp_path, run):
    infgram.build_from_documents(["the cat sat on the mat", "a dog sat on a log"], tmp_path / "i", progress=False)
    index = infgram.Index.open(tmp_path / "i")
    text = "he cat sat on a log"
    assert [s.text for s in index.attribute(text, min_length=6).spans] == ["he cat sat on", "sat on a log"]
    spans = [(s.text, s.count) for s in index.attribute(text, min_length=6, whole_words=True).spans]
    assert spans == [("cat sat on", 1), ("sat on a log", 1)]
    shown = json.loads(run("attribute", tmp_path / "i", "--text", text, "--min-length", "6", "--whole-words",
                           "--json").stdout)
    assert [(s["text"], s["count"]) for s in shown["spans"]] == spans
    reply = run_request(index, {"op": "attribute", "text": text, "min_length": 6, "whole_words": True})
    assert [(s["text"], s["count"]) for s in reply["spans"]] == spans
    bad = run_request(index, {"op": "attribute", "text": text, "whole_words": "yes"})
    assert bad["error"]["type"] == "QueryError" and "whole_words" in bad["error"]["message"]
    with pytest.raises(infgram.QueryError, match="whole_words to be true or false"):
        index.attribute(text, whole_words=1)
    with pytest.raises(infgram.LimitError, match="max_work") as raised:
        index.attribute("sat on", min_length=1, whole_words=True, max_work=1)
    assert raised.value.option == "max_work"
    assert index.attribute("sat on", min_length=1, whole_words=True, max_work=1, exact=True).spans[0].count == 2
    with pytest.raises(infgram.QueryError, match="whole_words to be true or false"):
        index.count_batch(["cat"], whole_words="yes")
    with pytest.raises(infgram.QueryError, match="one string"):
        index.count_batch("cat", whole_words=True)


def test_whole_words_leave_out_removed_documents(tmp_path):
    infgram.build_from_documents(["a cat", "the cat", "cat", "cat sat"], tmp_path / "i", progress=False)
    infgram.remove(tmp_path / "i", documents=[1], progress=False)
    index = infgram.Index.open(tmp_path / "i")
    assert index.count("cat", whole_words=True) == index.count("cat") == 3
    assert index.cooccurrence(["cat"], whole_words=True, document_counts=True).document_counts == [3]
    span = index.attribute("cat sat", min_length=1, whole_words=True).spans[0]
    assert (span.text, span.count, span.num_documents) == ("cat sat", 1, 1)
    span = index.attribute("cat", min_length=1, whole_words=True).spans[0]
    assert (span.count, [d.index for d in span.documents]) == (3, [0, 2, 3])


def test_pretokenized_and_fm_indexes_refuse(tmp_path):
    infgram.build_from_documents([{"ids": [1, 2, 3]}], tmp_path / "ids", token_width=2, progress=False)
    with pytest.raises(infgram.UnsupportedOperationError, match="token ids"):
        infgram.Index.open(tmp_path / "ids").attribute([1, 2], min_length=1, whole_words=True)
    infgram.build_from_documents(["a cat"], tmp_path / "fm", kind="fm", progress=False)
    with pytest.raises(infgram.UnsupportedOperationError, match="suffix-array"):
        infgram.Index.open(tmp_path / "fm").attribute("a cat", whole_words=True)


def test_http_answers_whole_words_as_the_batch_does(tmp_path):
    pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install -e '.[test]'")
    from fastapi.testclient import TestClient

    from infgram.service.server import Settings, create_app

    infgram.build_from_documents(["the cat sat on the mat", "a dog sat on a log"], tmp_path / "i", progress=False)
    index = infgram.Index.open(tmp_path / "i")
    settings = Settings(indexes=[("i", str(tmp_path / "i"))], threads=1, expensive_threads=1)
    request = {"text": "he cat sat on a log", "min_length": 6, "whole_words": True}
    with TestClient(create_app(settings)) as client:
        reply = client.post("/v1/attribute", json=request)
        assert reply.status_code == 200
        assert reply.json() == json.loads(json.dumps(run_request(index, {"op": "attribute", **request})))
        assert [span["text"] for span in reply.json()["spans"]] == ["cat sat on", "sat on a log"]
        for op, body in (("attribute", {"text": "cat", "whole_words": "yes"}),
                         ("count", {"text": "cat", "whole_words": "yes"}),
                         ("documents", {"text": "cat", "inside_tokens": 1})):
            bad = client.post(f"/v1/{op}", json=body)
            assert bad.status_code == 400, (op, bad.text)
            error = bad.json()["error"]
            assert error["type"] == "QueryError" and "true or false" in error["message"], error
        lines = "".join(json.dumps({"op": "count", "text": text, "whole_words": True}) + "\n" for text in ("cat", "at"))
        counts = [json.loads(line)["count"] for line in client.post("/v1/batch", content=lines).text.splitlines()]
        assert counts == index.count_batch(["cat", "at"], whole_words=True).tolist() == [1, 0]
