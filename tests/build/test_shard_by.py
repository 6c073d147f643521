"""``build --shard-by``: failure paths, resuming, the command line, add and compact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import infgram
from infgram.build import grouping
from infgram.errors import BuildError, InputError
from infgram.format import KILL_AT_VARIABLE

DOCUMENTS = [{"text": "a rose is a rose", "lang": "fr", "date": "1995-03-02"},
             {"text": "rose red", "date": "2001-01-01"},
             {"text": "eine rose", "lang": "de", "date": "1995-12-31"},
             {"text": "rose rose rose", "lang": "fr", "date": "1989-07-14"}]


def _jsonl(folder: Path, documents=DOCUMENTS) -> Path:
    path = folder / "corpus.jsonl"
    path.write_text("".join(json.dumps(document) + "\n" for document in documents))
    return path


def test_more_than_ten_thousand_values_is_an_error_suggesting_a_bucket(tmp_path, monkeypatch):
    monkeypatch.setattr(grouping, "MAX_SHARD_VALUES", 2)
    with pytest.raises(BuildError, match=r"at most 2 distinct values.*year\(date\)"):
        infgram.build_from_documents(DOCUMENTS, tmp_path / "i", shard_by="date", progress=False)
    assert not (tmp_path / "i" / grouping.SPILL_NAME).exists()  # the spill files are gone


def test_the_limit_is_ten_thousand():
    assert grouping.MAX_SHARD_VALUES == 10_000


@pytest.mark.parametrize("rule", ["year(date", "bucket(date)", "bucket(date, -1)", "decade(date)", "year(a, b)", ""])
def test_a_bad_rule_is_an_error_naming_the_rules(tmp_path, rule):
    with pytest.raises(InputError, match="expected"):
        infgram.build_from_documents(DOCUMENTS, tmp_path / "i", shard_by=rule, progress=False)
    assert not (tmp_path / "i").exists() or not (tmp_path / "i" / "manifest.json").exists()


def test_a_field_no_document_has_is_an_error(tmp_path):
    with pytest.raises(BuildError, match="found none that has it"):
        infgram.build_from_documents(DOCUMENTS, tmp_path / "i", shard_by="langauge", progress=False)


def test_a_value_a_bucket_cannot_read_is_a_problem(tmp_path):
    documents = DOCUMENTS + [{"text": "late", "date": "soon"}]
    with pytest.raises(InputError, match="expected date to be a date"):
        infgram.build_from_documents(documents, tmp_path / "i", shard_by="year(date)", progress=False)
    report = infgram.build_from_documents(documents, tmp_path / "j", shard_by="year(date)", on_error="skip",
                                          progress=False)
    assert report.problems == {grouping.SHARD_VALUE_PROBLEM: 1} and report.num_documents == 4


def test_buckets_and_nested_fields(tmp_path):
    infgram.build_from_documents(DOCUMENTS, tmp_path / "i", shard_by="year(date)", progress=False)
    manifest = json.loads((tmp_path / "i" / "manifest.json").read_text())
    assert [entry["shard_by"]["value"] for entry in manifest["shards"]] == ["1989", "1995", "2001"]
    index = infgram.Index.open(tmp_path / "i")
    assert index.count("rose", by="lang").by == {"fr": 5, "de": 1}
    nested = [{"text": d["text"], "meta": {"lang": d["lang"]}} if "lang" in d else {"text": d["text"]}
              for d in DOCUMENTS]
    infgram.build_from_documents(nested, tmp_path / "n", shard_by="meta.lang", progress=False)
    result = infgram.Index.open(tmp_path / "n").count("rose", by="meta.lang")
    assert (result.by, result.missing) == ({"fr": 5, "de": 1}, 1)


def test_spilled_in_small_batches_the_index_is_the_same(tmp_path, monkeypatch):
    corpus = _jsonl(tmp_path)
    infgram.build(corpus, tmp_path / "a", shard_by="lang", progress=False)
    monkeypatch.setattr(grouping, "SPILL_BUFFER_BYTES", 1)  # every document written out at once
    infgram.build(corpus, tmp_path / "b", shard_by="lang", progress=False)
    for path in sorted((tmp_path / "a").rglob("*")):
        if path.is_file():
            assert path.read_bytes() == (tmp_path / "b" / path.relative_to(tmp_path / "a")).read_bytes(), path


def test_an_interrupted_build_resumes_to_identical_bytes(tmp_path):
    corpus = _jsonl(tmp_path, DOCUMENTS * 50)
    arguments = [sys.executable, "-m", "infgram.cli", "build", str(corpus), "--shard-by", "lang",
                 "--shard-tokens", "400", "--quiet"]
    subprocess.run(arguments + ["--out", str(tmp_path / "whole")], check=True, capture_output=True)
    killed = subprocess.run(arguments + ["--out", str(tmp_path / "again")], capture_output=True,
                            env={**os.environ, KILL_AT_VARIABLE: "shard-published:2"})
    assert killed.returncode != 0 and not (tmp_path / "again" / "manifest.json").exists()
    subprocess.run(arguments + ["--out", str(tmp_path / "again")], check=True, capture_output=True)
    whole = sorted(p.relative_to(tmp_path / "whole") for p in (tmp_path / "whole").rglob("*") if p.is_file())
    again = sorted(p.relative_to(tmp_path / "again") for p in (tmp_path / "again").rglob("*") if p.is_file())
    assert whole == again
    for path in whole:
        assert (tmp_path / "whole" / path).read_bytes() == (tmp_path / "again" / path).read_bytes(), path


def test_command_line_build_and_report(tmp_path):
    corpus = _jsonl(tmp_path)
    out = subprocess.run([sys.executable, "-m", "infgram.cli", "build", str(corpus), "--out", str(tmp_path / "i"),
                          "--shard-by", "lang", "--json"], check=True, capture_output=True, text=True).stdout
    report = json.loads(out)
    assert [run[1:] for run in report["document_numbers"]] == [[3, 1, 0], [1, 1, 1], [4, 1, 2], [2, 1, 3]]
    counted = subprocess.run([sys.executable, "-m", "infgram.cli", "count", str(tmp_path / "i"), "rose", "--by", "lang",
                              "--where", "lang!=de", "--json"], check=True, capture_output=True, text=True).stdout
    assert json.loads(counted)["by"] == {"fr": 5}


def test_ray_refuses_shard_by(tmp_path):
    from infgram.distributed.builder import build

    with pytest.raises(BuildError, match="--shard-by with --ray"):
        build([_jsonl(tmp_path)], tmp_path / "i", shard_by="lang", progress=False)


def test_add_and_compact_keep_one_value_per_shard(tmp_path):
    infgram.build_from_documents(DOCUMENTS * 3, tmp_path / "i", shard_by="lang", shard_tokens=20, progress=False)
    infgram.add(tmp_path / "i", [{"text": "rose", "lang": "de"}, {"text": "rosa", "lang": "es"}], progress=False)
    index = infgram.Index.open(tmp_path / "i")
    before = index.count("ros", by="lang")
    assert (before.by, before.missing) == ({"fr": 15, "de": 4, "es": 1}, 3)
    manifest = json.loads((tmp_path / "i" / "manifest.json").read_text())
    values = [entry["shard_by"]["value"] for entry in manifest["shards"]]
    assert values.count("fr") > 1 and values[-2:] == ["de", "es"]
    infgram.compact(tmp_path / "i", shard_tokens=10_000, progress=False)
    manifest = json.loads((tmp_path / "i" / "manifest.json").read_text())
    assert [entry["shard_by"]["value"] for entry in manifest["shards"]] == ["de", "fr", None, "de", "es"]
    assert infgram.Index.open(tmp_path / "i").count("ros", by="lang") == before


def test_adding_only_documents_lacking_the_field_is_an_error(tmp_path):
    infgram.build_from_documents(DOCUMENTS, tmp_path / "i", shard_by="lang", progress=False)
    with pytest.raises(BuildError, match="an add to a --shard-by index"):
        infgram.add(tmp_path / "i", [{"text": "rose"}], progress=False)
    assert infgram.Index.open(tmp_path / "i").count("rose", by="lang").by == {"fr": 5, "de": 1}


def test_plain_indexes_record_no_shard_by(tmp_path):
    report = infgram.build(_jsonl(tmp_path), tmp_path / "i", progress=False)
    manifest = json.loads((tmp_path / "i" / "manifest.json").read_text())
    stored = json.loads((tmp_path / "i" / "build-report.json").read_text())
    assert "shard_by" not in manifest["build"] and all("shard_by" not in e for e in manifest["shards"])
    assert report.document_numbers is None and "document_numbers" not in stored


def test_many_different_filters_are_remembered_within_a_bound_and_answered_alike(tmp_path, monkeypatch):
    from infgram.query import metadata

    monkeypatch.setattr(metadata, "_MAX_REMEMBERED", 2)
    infgram.build_from_documents(DOCUMENTS, tmp_path / "i", shard_by="lang", progress=False)
    index = infgram.Index.open(tmp_path / "i")
    filters = [{"lang": "fr"}, {"lang": "de"}, {"lang": {"not": "fr"}}, {"lang": {"in": ["de", "fr"]}}, ["lang!=de"]]
    expected = [sum(document["text"].count("rose") for document in DOCUMENTS
                    if metadata.parse_where(where).matches(document)) for where in filters]
    for _ in range(3):  # asked again after the memory was cleared: the same answers
        assert [index.count("rose", where=where) for where in filters] == expected


def test_a_spill_file_that_is_not_this_builds_is_an_index_format_error(tmp_path):
    from infgram.build.inputs import SourceDocument
    from infgram.errors import IndexFormatError
    from infgram.format.metadata import parse_shard_rule

    groups = grouping.ValueGroups(tmp_path, parse_shard_rule("lang"))
    list(groups.route(SourceDocument(d["text"], {"lang": d["lang"]} if "lang" in d else {}) for d in DOCUMENTS))
    assert [path.read_bytes()[:64] == grouping.SPILL_HEADER for path in groups.files.values()] == [True] * 3
    damaged = groups.files["fr"]
    damaged.write_bytes(b"\x80\x05" + damaged.read_bytes()[64:])  # a bare pickle, as files were written before
    with pytest.raises(IndexFormatError, match=r"expected .*00000.pickle to be a spill file of this build.*remove the folder"):
        list(groups.documents("fr"))
    assert [d.text for d in groups.documents("de")] == ["eine rose"]
    groups.close()
