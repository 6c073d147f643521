"""inputs.py: which file names are read and how, and what a record becomes."""

from __future__ import annotations

from pathlib import Path

import pytest

import infgram
from infgram.build import inputs
from infgram.build.inputs import BlankLine, InputProblem, SourceDocument, input_format


@pytest.mark.parametrize("name, expected", [
    ("a.jsonl", ("jsonl", None)),
    ("a.json", ("json", None)),
    ("a.txt", ("txt", None)),
    ("a.parquet", ("parquet", None)),
    ("a.jsonl.gz", ("jsonl", "gz")),
    ("a.jsonl.zst", ("jsonl", "zst")),
    ("a.txt.gz", ("txt", "gz")),
    ("a.parquet.zst", ("parquet", "zst")),
    ("A.JSONL.GZ", ("jsonl", "gz")),
    ("data/part-0001.v2.json", ("json", None)),
    ("dir.with.dots/x.jsonl", ("jsonl", None)),
    ("a.csv", ("csv", None)),
    ("a.tsv.bz2", ("tsv", "bz2")),
    ("notes.md", ("md", None)),
    ("page.HTM.xz", ("htm", "xz")),
    ("data-00000-of-00001.arrow", ("arrow", None)),
])
def test_input_format_names(name, expected):
    assert input_format(Path(name)) == expected


@pytest.mark.parametrize("name", ["a", "a.gz", "a.zst", "a.tar.gz", "changelog.Debian.gz", "a.jsonl.gz.bak", "a.csv.7z"])
def test_unknown_names_are_errors(name):
    with pytest.raises(infgram.InputError, match="expected a name ending in") as error:
        input_format(Path(name))
    assert name in str(error.value)


def test_text_or_problem():
    assert inputs.text_or_problem("hi", "f", 3, "text") == "hi"
    assert inputs.text_or_problem("é€", "f", 3, "text") == "é€"
    for value, kind in [(None, inputs.MISSING_TEXT_FIELD), (3, inputs.MISSING_TEXT_FIELD),
                        ("", inputs.EMPTY_DOCUMENT), ("a\ud800", inputs.INVALID_UTF8)]:
        problem = inputs.text_or_problem(value, "f.jsonl", 3, "body")
        assert isinstance(problem, InputProblem) and problem.kind == kind
        assert problem.describe().startswith("f.jsonl:3: ")
    assert "'body'" in inputs.text_or_problem(None, "f", 1, "body").message


def test_problem_without_line_names_only_the_file():
    assert InputProblem("notes.txt", 0, inputs.INVALID_UTF8, "bad").describe() == "notes.txt: bad"


def test_read_records_yields_one_record_per_line(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_bytes(b'{"text": "one", "k": 1}\n\n[1]\n{"text": "two"}')  # no final newline
    records = list(inputs.read_records([path]))
    assert [type(r) for r in records] == [SourceDocument, BlankLine, InputProblem, SourceDocument]
    assert (records[0].text, records[0].metadata, records[0].line) == ("one", {"k": 1}, 1)
    assert records[1].line == 2 and records[2].line == 3 and records[3].line == 4


def test_expand_inputs_sorts_and_skips_hidden(tmp_path):
    (tmp_path / "b.jsonl").write_text("")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "z.txt").write_text("")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("")
    (tmp_path / ".hidden.jsonl").write_text("")
    assert inputs.expand_inputs([tmp_path]) == [tmp_path / "a" / "z.txt", tmp_path / "b.jsonl"]


def test_unknown_kinds_are_kept_as_problems_when_skipped(tmp_path):
    (tmp_path / "README").write_text("x")
    (tmp_path / "a.md").write_text("x")
    with pytest.raises(infgram.InputError, match="README: expected a name ending in"):
        inputs.expand_inputs([tmp_path])
    found = inputs.expand_inputs([tmp_path], selection=inputs.Selection(skip_unknown=True))
    assert found == [tmp_path / "README", tmp_path / "a.md"]
    problem, document = inputs.read_records(found)
    assert problem.kind == inputs.UNKNOWN_FORMAT and problem.describe().startswith(f"{tmp_path / 'README'}: skipped")
    assert isinstance(document, SourceDocument) and document.text == "x"


def test_a_single_path_is_one_input(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"text": "x"}\n')
    assert inputs.expand_inputs(str(path)) == inputs.expand_inputs([path]) == [path]


def test_python_documents_keep_extra_keys():
    assert inputs.python_metadata({"text": "t", "id": 3, "metadata": {"id": 3}}, 1) == {"id": 3}
    assert inputs.python_metadata({"ids": [1], "source": "s"}, 1) == {"source": "s"}
