"""Indexes built with ``normalize=``: counts, documents and search against the brute-force
reference (documents and queries normalized by ``_reference.normalize``, then searched the
obvious way), on byte indexes (suffix array and FM) and a token index; documents shown as
written; the manifest; ``infgram add`` keeping the normalization."""

from __future__ import annotations

import functools
import json
import tempfile
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import infgram
from infgram import _reference as reference
from infgram.normalize import NORMALIZATIONS, OffsetMap, normalize_text, normalize_with_originals, restore
from infgram.tokenizer import load_tokenizer

from conftest import shared_tokenizer

# Letters in several cases, a ligature, ß, final sigma, a combining mark, full-width and
# circled digits: characters every normalization changes somehow.
ALPHABET = "aAbB ΣσςΟ.\nßẞﬁé\u0301Ǆǅǆ１①İ"
texts = st.text(alphabet=ALPHABET, min_size=1, max_size=14)


def utf8(text: str) -> list[int]:
    return list(text.encode("utf-8"))


@st.composite
def corpora(draw):
    documents = draw(st.lists(texts, min_size=1, max_size=4))
    queries = draw(st.lists(texts, min_size=1, max_size=3))
    for _ in range(draw(st.integers(0, 3))):  # pieces of the documents, in another case
        source = draw(st.sampled_from(documents))
        start = draw(st.integers(0, len(source) - 1))
        piece = source[start : draw(st.integers(start + 1, len(source)))]
        queries.append(piece.swapcase() if draw(st.booleans()) else piece)
    return documents, queries, draw(st.sampled_from(NORMALIZATIONS)), draw(st.sampled_from(["sa", "fm"]))


@settings(max_examples=40)
@given(case=corpora())
def test_byte_indexes_answer_as_the_reference(case):
    documents, queries, form, kind = case
    corpus = [utf8(reference.normalize(document, form)) for document in documents]
    with tempfile.TemporaryDirectory() as folder:
        infgram.build_from_documents(documents, Path(folder) / "i", normalize=form, kind=kind, progress=False)
        index = infgram.Index.open(Path(folder) / "i")
        assert index.num_tokens == sum(map(len, corpus))
        for query in queries:
            wanted = utf8(reference.normalize(query, form))
            assert index.count(query) == reference.count(corpus, wanted), (query, form)
            result = index.documents(query, limit=100)
            expected = [number for number, _ in reference.documents(corpus, wanted)]
            assert sorted(d.index for d in result.documents) == expected
            for document in result.documents:  # shown as written, the match marked on its characters
                assert document.text == documents[document.index] and ORIGINALS not in document.metadata
                low, high = document.spans[0]
                # Normalization works piece by piece (an ASCII character and the non-ASCII ones
                # after it), and lowering a Greek sigma depends on its piece: so the span is
                # normalized within the pieces that hold it.
                text = document.text
                while low > 0 and not text[low].isascii():
                    low -= 1
                while high < len(text) and not text[high].isascii():
                    high += 1
                assert reference.normalize(query, form) in reference.normalize(text[low:high], form)
            if kind == "sa":
                assert index.search([[query]], limit=0).num_documents == len(expected)
        assert index.count_batch(queries).tolist() == [index.count(q) for q in queries]
        assert [index.document(n).text for n in range(len(documents))] == documents


ORIGINALS = "infgram_originals"


@functools.lru_cache(maxsize=None)
def loaded(name: str):
    return load_tokenizer(shared_tokenizer(name))


@settings(max_examples=15)
@given(case=corpora())
def test_token_indexes_count_aligned_occurrences_of_normalized_text(case):
    documents, queries, form, _ = case
    tokenizer = loaded("llama3")
    spelled = [reference.spelled_tokens(tokenizer, reference.normalize(document, form)) for document in documents]
    with tempfile.TemporaryDirectory() as folder:
        infgram.build_from_documents(documents, Path(folder) / "i", tokenizer=tokenizer, normalize=form,
                                     progress=False)
        index = infgram.Index.open(Path(folder) / "i")
        for query in queries:
            normalized = reference.normalize(query, form)
            if any("\ufffd" in token for document in spelled for token in document):
                continue  # a token that is part of a character: the reference spells text, not bytes
            assert index.count(query) == len(reference.aligned_occurrences(spelled, normalized)), (query, spelled)
            result = index.documents(query, limit=100)
            assert sorted(d.index for d in result.documents) == reference.aligned_documents(spelled, normalized)
            assert all(d.text == documents[d.index] for d in result.documents)


@settings(max_examples=200)
@given(text=st.text(max_size=20), form=st.sampled_from(NORMALIZATIONS))
def test_normalization_is_the_reference_kept_and_idempotent(text, form):
    normalized, originals = normalize_with_originals(text, form)
    assert normalized == normalize_text(text, form) == reference.normalize(text, form)
    assert restore(normalized, originals) == text
    assert normalize_text(normalized, form) == normalized
    mapping = OffsetMap(text, form)
    for low in range(len(normalized) + 1):
        for high in range(low, len(normalized) + 1):
            a, b = mapping.original(low, True), mapping.original(high, False)
            assert normalized[low:high] in normalize_text(text[a:b], form) or \
                unicodedata.normalize("NFKC", text[a:b]) != text[a:b] or form == "lowercase"


def test_manifest_records_it_and_plain_indexes_are_unchanged(tmp_path):
    infgram.build_from_documents(["Ab"], tmp_path / "n", normalize="lowercase", progress=False)
    infgram.build_from_documents(["Ab"], tmp_path / "p", progress=False)
    normalized = json.loads((tmp_path / "n" / "manifest.json").read_text())
    plain = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert normalized["format_version"] == 3 and normalized["tokenizer"] == {"kind": "bytes", "normalize": "lowercase"}
    assert plain["format_version"] == 2 and plain["tokenizer"] == {"kind": "bytes"}
    assert infgram.Index.open(tmp_path / "n").count([65, 98]) == 0  # ids are taken as they are
    with pytest.raises(infgram.BuildError, match="nfkc_casefold"):
        infgram.build_from_documents(["Ab"], tmp_path / "x", normalize="upper", progress=False)
    with pytest.raises(infgram.BuildError, match="other inputs or options"):
        infgram.build_from_documents(["Ab"], tmp_path / "p", normalize="nfkc", progress=False)
    with pytest.raises(infgram.IndexError if hasattr(infgram, "IndexError") else infgram.InfgramError,
                       match="tokenizer|other"):
        infgram.Index.open([tmp_path / "n", tmp_path / "p"])


def test_added_documents_are_normalized_the_same_way(tmp_path):
    infgram.build_from_documents(["The Cat"], tmp_path / "i", normalize="lowercase", progress=False)
    infgram.add(tmp_path / "i", [{"text": "THE CAT and Another cat"}], progress=False)
    index = infgram.Index.open(tmp_path / "i")
    assert index.count("CAT") == 3 and index.count("another") == 1
    assert index.document(1).text == "THE CAT and Another cat"


def test_the_command_line_builds_normalized_indexes(tmp_path, run):
    (tmp_path / "c.jsonl").write_text('{"text": "Straße STRASSE"}\n', encoding="utf-8")
    assert run("build", "--out", tmp_path / "i", "--normalize", "nfkc_casefold", tmp_path / "c.jsonl",
               "--quiet").returncode in (0, None)
    index = infgram.Index.open(tmp_path / "i")
    assert index.count("strasse") == 2


def test_info_says_the_normalization(tmp_path, run):
    infgram.build_from_documents(["Ab"], tmp_path / "n", normalize="nfkc_casefold", progress=False)
    infgram.build_from_documents(["Ab"], tmp_path / "p", progress=False)
    assert infgram.Index.open(tmp_path / "n").info()["normalization"] == "nfkc_casefold"
    assert infgram.Index.open(tmp_path / "p").info()["normalization"] is None
    assert json.loads(run("info", tmp_path / "n", "--json").stdout)["normalization"] == "nfkc_casefold"
    lines = run("info", tmp_path / "p").stdout.splitlines()
    assert any(line.split() == ["normalization", "none"] for line in lines), lines
    pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install -e '.[test]'")
    from fastapi.testclient import TestClient

    from infgram.service.server import Settings, create_app

    settings = Settings(indexes=[("n", str(tmp_path / "n"))], threads=1, expensive_threads=1)
    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/indexes").json()["indexes"][0]["info"]["normalization"] == "nfkc_casefold"
