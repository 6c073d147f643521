"""Counts by metadata, filters and ``stats`` through every transport, and every way they refuse.

The answers themselves are checked against the oracle in
``tests/query/test_metadata_matches_reference.py``; here: the command line, the batch and
HTTP replies, the work budget (with and without the value column), removed documents, whole
words, a damaged column file, and the error for each bad input.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import infgram
from infgram.errors import IndexFormatError, LimitError, QueryError
from infgram.format.metadata import parse_condition, parse_where
from infgram.query.metadata import METADATA_UNITS_PER_DOCUMENT
from infgram.service.batch import run_batch

from conftest import run_cli

DOCUMENTS = [
    {"text": "a rose is a rose", "lang": "en", "year": 1995, "meta": {"source": "web"}},
    {"text": "eine rose ist eine rose", "lang": "de", "year": 2001, "meta": {"source": "books"}},
    {"text": "une rose", "lang": "fr", "year": "1999"},
    {"text": "rose rose rose"},
]


@pytest.fixture(scope="module")
def index_directory(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("metadata") / "index"
    infgram.build_from_documents(DOCUMENTS, directory, shard_tokens=30, progress=False)
    return directory


@pytest.fixture(scope="module")
def index(index_directory):
    return infgram.Index.open(index_directory)


def test_count_by_and_where(index):
    result = index.count("rose", by="lang")
    assert (result.count, result.by, result.missing) == (8, {"de": 2, "en": 2, "fr": 1}, 3)
    assert index.count("rose", by="meta.source").by == {"books": 2, "web": 2}
    assert index.count("rose", where={"year": {"gte": 1990, "lt": 2000}}) == 3  # 1995, and "1999" as a number
    assert index.count("rose", where=["lang!=de"]) == 3  # a document without lang is not lang!=de
    assert index.count("rose", where={"lang": {"in": ["de", "fr"]}}, by="year").by == {"2001": 2, "1999": 1}
    assert index.count("", by="lang").by == {"en": 16, "de": 23, "fr": 8}  # the empty query: every token
    assert index.count("tulip", by="lang").count == 0


def test_filtered_documents(index):
    result = index.documents("rose", where={"lang": {"not": "en"}}, context=2)
    assert [d.index for d in result.documents] == [1, 2] and result.num_documents == 2
    assert result.documents[0].text == "e rose i"
    assert index.documents("", where=["lang=de"]).num_documents == 1
    result = index.documents("rose", by="lang", limit=0)
    assert (result.num_documents, result.by, result.missing) == (4, {"de": 1, "en": 1, "fr": 1}, 1)
    assert result.to_dict()["by"] == {"de": 1, "en": 1, "fr": 1}
    assert "by" not in index.documents("rose").to_dict()


def test_filtered_next_tokens(index, index_directory):
    assert [(t.text, t.count) for t in index.next_tokens("rose", where=["lang=de"]).tokens] == [(" ", 1), (None, 1)]
    limited = infgram.Index.open(index_directory)
    limited.max_work_ceiling = 10  # as a server's --max-work sets it
    with pytest.raises(LimitError, match="lengthen the prompt"):
        limited.next_tokens("", where=["lang=de"])  # every token of the index: 55 units
    found = run_cli("next", index_directory, "rose", "--where", "lang=fr", "--json")
    assert json.loads(found.stdout)["prompt_count"] == 1


def test_count_by_whole_words_and_ignore_case(tmp_path):
    infgram.build_from_documents([{"text": "cat cats", "k": "a"}, {"text": "Cat", "k": "b"}], tmp_path / "i",
                                 progress=False)
    index = infgram.Index.open(tmp_path / "i")
    assert index.count("cat", by="k", whole_words=True).by == {"a": 1}
    assert index.count("cat", by="k", ignore_case=True).by == {"a": 2, "b": 1}


def test_removed_documents_are_not_counted(tmp_path):
    infgram.build_from_documents(DOCUMENTS, tmp_path / "i", progress=False)
    infgram.remove(tmp_path / "i", where=["year>=2000"], progress=False)
    index = infgram.Index.open(tmp_path / "i")
    assert index.count("rose", by="lang").by == {"en": 2, "fr": 1}
    assert index.documents("rose", where={"lang": {"in": ["de", "en"]}}).num_documents == 1


def test_after_compact_and_on_an_fm_index(tmp_path, index):
    infgram.build_from_documents(DOCUMENTS, tmp_path / "i", shard_tokens=30, progress=False)
    infgram.remove(tmp_path / "i", documents=[0], progress=False)
    infgram.compact(tmp_path / "i", progress=False)
    compacted = infgram.Index.open(tmp_path / "i")
    assert "metadata_values" in compacted.manifest["shards"][0]["files"]
    assert compacted.count("rose", by="lang").by == {"de": 2, "fr": 1}
    infgram.build_from_documents(DOCUMENTS, tmp_path / "fm", kind="fm", progress=False)
    fm = infgram.Index.open(tmp_path / "fm")
    assert fm.count("rose", by="lang") == index.count("rose", by="lang")
    assert fm.documents("rose", where=["lang in de,fr"]).num_documents == 2


def test_a_key_no_document_has_names_the_keys(index):
    for call in (lambda: index.count("rose", by="language"), lambda: index.count("rose", where={"language": "de"}),
                 lambda: index.documents("rose", where=["meta.src=web"])):
        with pytest.raises(QueryError, match="which no document has; the fields are: lang, meta.source, year"):
            call()


@pytest.mark.parametrize("by, where, message", [
    (7, None, "expected by to be a metadata field name"),
    ("", None, "expected by to be a metadata field name"),
    ("a..b", None, "an empty key between dots"),
    (None, {"lang": {"like": "d"}}, "expected the operators of a condition on 'lang'"),
    (None, {"lang": {"in": "de"}}, "expected a list of values for 'in'"),
    (None, {"year": {"gte": True}}, "expected a number or a string as the bound"),
    (None, {"lang": {}}, "expected an operator in the condition"),
    (None, {"lang": {"eq": [1]}}, "expected a JSON scalar"),
    (None, 5, "expected where to be an object"),
    (None, ["lang"], "expected a condition KEY=VALUE"),
    (None, ["=de"], "expected a condition KEY=VALUE"),
])
def test_bad_by_and_where_are_query_errors(index, by, where, message):
    with pytest.raises(Exception, match=message) as raised:
        index.count("rose", by=by, where=where)
    assert isinstance(raised.value, (QueryError, infgram.errors.InputError))


def test_command_line_conditions():
    assert parse_condition("year>=1990").values == (1990.0,)
    assert parse_condition("url=a=b").values == ("a=b",)
    assert parse_condition("name>=abc").values == ("abc",)
    assert parse_condition("lang not in de, fr").values == ("de", "fr")
    assert parse_condition("a\\.b=1").path == ("a.b",)
    assert parse_where(["x=1", "y<2"]).describe() == "x=1 y<2"


def test_the_budget_counts_occurrences_and_metadata_read(tmp_path, index):
    with pytest.raises(LimitError, match="max_work") as raised:
        index.count("rose", by="lang", max_work=7)
    assert raised.value.fields["option"] == "max_work" and raised.value.fields["needed"] == 8
    assert index.count("rose", by="lang", max_work=8).count == 8
    with pytest.raises(LimitError):
        index.documents("rose", where=["lang=de"], max_work=3)
    # Without the column, every document's metadata is read once: that costs too.
    infgram.build_from_documents(DOCUMENTS, tmp_path / "old", progress=False)
    manifest = json.loads((tmp_path / "old" / "manifest.json").read_text())
    for entry in manifest["shards"]:
        (tmp_path / "old" / entry["files"].pop("metadata_values")["path"]).unlink()
    (tmp_path / "old" / "manifest.json").write_text(json.dumps(manifest))
    old = infgram.Index.open(tmp_path / "old")
    needed = 8 + len(DOCUMENTS) * METADATA_UNITS_PER_DOCUMENT
    with pytest.raises(LimitError) as raised:
        old.count("rose", by="lang", max_work=needed - 1)
    assert raised.value.fields["needed"] == needed
    assert old.count("rose", by="lang", max_work=needed) == index.count("rose", by="lang")
    assert old.count("rose", by="lang", max_work=8) == index.count("rose", by="lang")  # read once, then kept


def test_a_field_left_out_of_the_column_is_read_once(tmp_path, monkeypatch):
    from infgram.format import metadata as format_metadata

    monkeypatch.setattr(format_metadata, "MAX_COLUMN_VALUES", 2)  # lang has 3 values: left out
    infgram.build_from_documents(DOCUMENTS, tmp_path / "i", progress=False)
    index = infgram.Index.open(tmp_path / "i")
    needed = 8 + len(DOCUMENTS) * METADATA_UNITS_PER_DOCUMENT
    with pytest.raises(LimitError):
        index.count("rose", by="lang", max_work=needed - 1)
    assert index.count("rose", by="lang", max_work=needed).by == {"de": 2, "en": 2, "fr": 1}
    assert index.count("rose", by="lang", max_work=8).by == {"de": 2, "en": 2, "fr": 1}
    assert index.count("rose", by="meta", max_work=needed).by == {'{"source":"books"}': 2, '{"source":"web"}': 2}
    stats = infgram.query.metadata.metadata_statistics(index)
    assert {field["field"]: field["num_values"] for field in stats["fields"]} == {"lang": None, "meta.source": 2,
                                                                                  "year": None}


def test_a_damaged_column_is_an_index_format_error(tmp_path):
    infgram.build_from_documents(DOCUMENTS, tmp_path / "i", progress=False)
    path = tmp_path / "i" / "shard-00000" / "metadata_values.bin"
    data = bytearray(path.read_bytes())
    data[64 + 8] = ord("[")  # the directory is no longer an object
    path.write_bytes(bytes(data))
    index = infgram.Index.open(tmp_path / "i")
    with pytest.raises(IndexFormatError, match="metadata_values.bin (holds a damaged directory|does not match its checksum)"):
        index.count("rose", by="lang")
    with pytest.raises(IndexFormatError, match="checksum"):
        index.verify()


def test_batch_replies(index):
    lines = [json.dumps(line) for line in (
        {"op": "count", "text": "rose", "by": "lang", "where": {"year": {"lt": 2000}}},
        {"op": "count", "text": "rose", "where": ["lang=de"]},
        {"op": "documents", "text": "rose", "where": {"lang": "fr"}, "limit": 1, "context": 0},
        {"op": "count", "text": "rose", "by": "lnag"},
        {"op": "count", "text": "rose", "by": ["lang"]},
    )]
    replies = [json.loads(line) for line in run_batch(index, lines)]
    assert replies[0] == {"op": "count", "count": 3, "by": {"en": 2, "fr": 1}, "missing": 0}
    assert replies[1] == {"op": "count", "count": 2}
    assert replies[2]["num_documents"] == 1 and replies[2]["documents"][0]["index"] == 2
    assert "lang, meta.source, year" in replies[3]["error"]["message"]
    assert "expected by to be a metadata field name" in replies[4]["error"]["message"]


def test_http_replies(index_directory):
    testclient = pytest.importorskip("fastapi.testclient")
    from infgram.service.server import Settings, create_app

    settings = Settings(indexes=[("i", str(index_directory))], threads=1, expensive_threads=1)
    with testclient.TestClient(create_app(settings)) as client:
        reply = client.post("/v1/count", json={"text": "rose", "by": "lang"})
        assert reply.status_code == 200 and reply.json()["by"] == {"de": 2, "en": 2, "fr": 1}
        reply = client.post("/v1/count", json={"text": "rose", "where": {"lang": {"nope": 1}}})
        assert reply.status_code == 400 and "operators" in reply.json()["error"]["message"]
        reply = client.post("/v1/documents", json={"text": "rose", "where": ["lang=en"]})
        assert reply.status_code == 200 and reply.json()["num_documents"] == 1


def test_command_line(index_directory, tmp_path):
    found = run_cli("count", index_directory, "rose", "--by", "lang")
    assert found.returncode == 0, found.stderr
    assert found.stdout.splitlines() == ["8", "  de\t2", "  en\t2", "  fr\t1", "  (missing lang)\t3"]
    found = run_cli("count", index_directory, "rose", "--where", "year>=1990", "--where", "year<2000", "--json")
    assert json.loads(found.stdout) == {"count": 3}
    found = run_cli("documents", index_directory, "rose", "--where", "lang in de,fr", "--json")
    assert json.loads(found.stdout)["num_documents"] == 2
    found = run_cli("count", index_directory, "rose", "--by", "lnag")
    assert found.returncode != 0 and "the fields are: lang, meta.source, year" in found.stderr
    found = run_cli("stats", index_directory, "--json", "--plot", tmp_path / "stats.html")
    stats = json.loads(found.stdout)
    lang = next(field for field in stats["fields"] if field["field"] == "lang")
    assert lang["num_values"] == 3 and lang["missing"] == {"num_documents": 1, "num_tokens": 14}
    assert lang["values"][0] == {"value": "de", "num_documents": 1, "num_tokens": 23}
    assert (tmp_path / "stats.html").read_text().count("<svg") == 3
    found = run_cli("stats", index_directory)
    assert "lang: 3 values in 3 documents (47 tokens); missing in 1" in found.stdout
    found = run_cli("stats", "--help")  # stats reads no query: no --ids, no query tokenizer
    assert "--top" in found.stdout and "--ids" not in found.stdout and "--tokenizer" not in found.stdout
    found = run_cli("stats", index_directory, "--ids")
    assert found.returncode == 2 and "unrecognized arguments: --ids" in found.stderr
