"""Counts by a metadata field and filtered counts and documents against the oracle.

Tiny corpora (2-4 symbol alphabets, token widths 1, 2 and 4, shards cut at random) get
random metadata: a language that may be missing, a year as a number, a string or missing,
a nested source, and now and then a value of another JSON type (true, null, a list). Each
case asks the same question from the value column written at build time and, with the
column taken out of the manifest (an index built before it existed), from ``metadata.bin``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

import infgram
from infgram import _reference as reference

from conftest import corpora

LANGUAGES = ["de", "fr", "en"]


@st.composite
def metadata_of(draw):
    metadata = {}
    language = draw(st.one_of(st.none(), st.sampled_from(LANGUAGES), st.sampled_from([True, None, [1, "de"]])))
    if language is not None or draw(st.booleans()):
        metadata["lang"] = language
    year = draw(st.one_of(st.none(), st.integers(1988, 2002), st.integers(1988, 2002).map(str)))
    if year is not None:
        metadata["year"] = year
    if draw(st.booleans()):
        metadata["meta"] = {"source": draw(st.sampled_from(["web", "books", "a.b"]))}
    return metadata


@st.composite
def where_of(draw):
    """A JSON where and the oracle's conditions for it."""
    where, conditions = {}, []
    if draw(st.booleans()):
        kind = draw(st.sampled_from(["eq", "in", "not"]))
        if kind == "eq":
            value = draw(st.sampled_from(LANGUAGES))
            where["lang"] = value
            conditions.append((["lang"], "eq", value))
        elif kind == "in":
            values = draw(st.lists(st.sampled_from(LANGUAGES + ["true"]), min_size=1, max_size=3))
            where["lang"] = {"in": values}
            conditions.append((["lang"], "in", values))
        else:
            value = draw(st.sampled_from(LANGUAGES))
            where["lang"] = {"not": value}
            conditions.append((["lang"], "not", value))
    if draw(st.booleans()):
        low, high = draw(st.integers(1987, 2003)), draw(st.integers(1987, 2003))
        where["year"] = {"gte": low, "lt": high}
        conditions += [(["year"], "gte", low), (["year"], "lt", high)]
    if draw(st.booleans()):
        where["meta.source"] = {"in": ["web", "a.b"]}
        conditions.append((["meta", "source"], "in", ["web", "a.b"]))
    return where, conditions


@st.composite
def cases(draw):
    width, alphabet, documents, shard_tokens, _ = draw(corpora())
    metadata = [draw(metadata_of()) for _ in documents]
    # Every field the questions name is present somewhere (a field no document has is an error).
    metadata[0] = {**metadata[0], "lang": "de", "year": 1990, "meta": {"source": "books"}}
    document = draw(st.sampled_from(documents))
    start = draw(st.integers(0, len(document)))
    query = draw(st.one_of(st.just(list(document[start : start + draw(st.integers(0, 3))])),
                           st.lists(st.sampled_from(alphabet), max_size=3)))
    by = draw(st.sampled_from([None, "lang", "year", "meta.source", "meta"]))
    where, conditions = draw(where_of())
    return width, documents, metadata, shard_tokens, query, by, where, conditions


def _build(folder: Path, width: int, documents, metadata, shard_tokens) -> Path:
    infgram.build_from_documents([{"ids": d, "metadata": m} for d, m in zip(documents, metadata)], folder,
                                 token_width=width, shard_tokens=shard_tokens, progress=False)
    return folder


def without_columns(directory: Path) -> None:
    """Make an index look built before the value columns: no file, no manifest entry."""
    manifest_path = directory / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for entry in manifest["shards"]:
        (directory / entry["files"].pop("metadata_values")["path"]).unlink()
    manifest_path.write_text(json.dumps(manifest))


def check_documents_and_next_tokens(index, documents, metadata, query, by, where, key, conditions,
                                    expected_documents):
    """Filtered documents (with their counts per value of ``by``) and the filtered next-token
    distribution against the oracle; returns both results for further checks."""
    result = index.documents(query, where=where, limit=len(documents), by=by)
    assert [d.index for d in result.documents] == expected_documents
    if by is not None:
        values = [reference.metadata_value(metadata[number], key) for number in expected_documents]
        assert result.by == {value: values.count(value) for value in values if value is not None}
        assert result.missing == values.count(None)
    kept = [d if reference.meets(m, conditions) else [] for d, m in zip(documents, metadata)]
    distribution = index.next_tokens(query, where=where)
    assert [(t.id, t.count) for t in distribution.tokens] == reference.next_tokens(kept, query)
    return result, distribution


def ask_count(index, query, by, where):
    """(count, per value, missing) of a count with ``by``, else (count, {}, 0): the oracle's shape."""
    if by is not None:
        result = index.count(query, by=by, where=where or None)
        return result.count, result.by, result.missing
    return index.count(query, where=where or None), {}, 0


@given(cases())
def test_counts_by_metadata_match_reference(case):
    width, documents, metadata, shard_tokens, query, by, where, conditions = case
    key = by.split(".") if by is not None else None
    expected = reference.count_by(documents, metadata, query, key, conditions)
    expected_documents = reference.documents_where(documents, metadata, query, conditions)
    with tempfile.TemporaryDirectory() as folder:
        directory = _build(Path(folder) / "index", width, documents, metadata, shard_tokens)
        index = infgram.Index.open(directory)
        assert ask_count(index, query, by, where) == expected
        result, distribution = check_documents_and_next_tokens(index, documents, metadata, query, by, where, key,
                                                                conditions, expected_documents)
        assert result.num_documents == len(expected_documents) and result.num_documents_exact
        kept = [d if reference.meets(m, conditions) else [] for d, m in zip(documents, metadata)]
        assert distribution.prompt_count == reference.count(kept, query)
        without_columns(directory)
        old = infgram.Index.open(directory)
        assert ask_count(old, query, by, where) == expected
        assert old.documents(query, where=where, limit=0).num_documents == len(expected_documents)


@given(cases(), st.integers(0, 2**32 - 1))
def test_seeded_filtered_pages_cover_the_documents_once(case, seed):
    width, documents, metadata, shard_tokens, query, _, where, conditions = case
    expected = reference.documents_where(documents, metadata, query, conditions)
    with tempfile.TemporaryDirectory() as folder:
        index = infgram.Index.open(_build(Path(folder) / "index", width, documents, metadata, shard_tokens))
        pages = [index.documents(query, where=where, limit=2, offset=offset, seed=seed).documents
                 for offset in range(0, len(documents) + 2, 2)]
        assert sorted(d.index for page in pages for d in page) == expected


@given(st.lists(st.tuples(st.text(alphabet="ab ", min_size=1, max_size=10),
                          st.sampled_from(LANGUAGES + [None])), min_size=1, max_size=6),
       st.text(alphabet="ab ", min_size=1, max_size=3))
def test_command_line_conditions_match_json(records, text):
    """``lang!=de`` and ``lang in de,fr`` are the JSON conditions ``not`` and ``in``."""
    documents = [{"text": body, **({"lang": lang} if lang else {})} for body, lang in records]
    documents.append({"text": "x", "lang": "de"})
    with tempfile.TemporaryDirectory() as folder:
        infgram.build_from_documents(documents, Path(folder) / "i", progress=False)
        index = infgram.Index.open(Path(folder) / "i")
        assert index.count(text, where=["lang!=de"]) == index.count(text, where={"lang": {"not": "de"}})
        assert index.count(text, where=["lang in de,fr"]) == index.count(text, where={"lang": {"in": ["de", "fr"]}})
        by = index.count(text, by="lang")
        assert by.count == index.count(text) == sum(by.by.values()) + by.missing
