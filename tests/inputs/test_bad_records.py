"""Bad input records and files: what is raised, that the message names the place, and what is left behind.

A bad record stops the build with :class:`infgram.InputError` naming ``file:line``
(``on_error="fail"``, the default; no index opens afterwards) or is skipped and counted
(``on_error="skip"``: every record read is a document, a blank line or a problem). Output
directories that hold something else are refused.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil

import pytest

import infgram

GOOD = b'{"text": "a good document", "id": 1}\n'
GOOD_TOO = b'{"text": "another good one", "id": 2}\n'

# (problem kind in the build report, the bad line)
BAD_LINES = {
    "invalid_json": ("invalid_json", b'{"text": "unterminated\n'),
    "json_array": ("not_an_object", b'["text", "an array, not an object"]\n'),
    "json_string": ("not_an_object", b'"just a string"\n'),
    "missing_text": ("missing_text_field", b'{"body": "the text is under another name"}\n'),
    "non_string_text": ("missing_text_field", b'{"text": 42}\n'),
    "null_text": ("missing_text_field", b'{"text": null}\n'),
    "list_text": ("missing_text_field", b'{"text": ["a", "b"]}\n'),
    "invalid_utf8": ("invalid_utf8", b'{"text": "caf\xe9 in latin-1"}\n'),
    "truncated_utf8": ("invalid_utf8", b'{"text": "euro \xe2\x82"}\n'),
    "lone_surrogate": ("invalid_utf8", b'{"text": "broken \\ud800 pair"}\n'),
    "empty_document": ("empty_document", b'{"text": ""}\n'),
}


def _report_accounts_for_every_record(report: infgram.BuildReport) -> None:
    assert report.records_read == report.num_documents + report.blank_lines + report.num_problems
    assert report.num_problems == sum(report.problems.values())


def _assert_no_index(directory) -> None:
    with pytest.raises(infgram.IndexFormatError):
        infgram.Index.open(directory)


# -- bad records ----------------------------------------------------------------------------------

@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_bad_line_fails_the_build_naming_file_and_line(tmp_path, case):
    kind, line = BAD_LINES[case]
    path = tmp_path / "corpus.jsonl"
    path.write_bytes(GOOD + line + GOOD_TOO)
    with pytest.raises(infgram.InputError) as error:
        infgram.build([path], tmp_path / "index", progress=False)
    assert f"{path}:2: " in str(error.value)
    assert "--on-error skip" in str(error.value)
    _assert_no_index(tmp_path / "index")


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_bad_line_is_skipped_and_counted(tmp_path, case):
    kind, line = BAD_LINES[case]
    path = tmp_path / "corpus.jsonl"
    path.write_bytes(GOOD + line + GOOD_TOO)
    report = infgram.build([path], tmp_path / "index", on_error="skip", progress=False)
    assert report.problems == {kind: 1}
    assert (report.records_read, report.num_documents, report.blank_lines) == (3, 2, 0)
    _report_accounts_for_every_record(report)
    assert len(report.first_problems) == 1 and report.first_problems[0].startswith(f"{path}:2: ")
    index = infgram.Index.open(tmp_path / "index")
    assert [index.document(i).metadata for i in range(index.num_documents)] == [{"id": 1}, {"id": 2}]
    stored = json.loads((tmp_path / "index" / "build-report.json").read_text())
    assert stored["problems"] == {kind: 1} and stored["records_read"] == 3


def test_blank_lines_are_counted_not_errors(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_bytes(b"\n" + GOOD + b"   \n\t\r\n" + GOOD_TOO + b"\n")
    report = infgram.build([path], tmp_path / "index", progress=False)  # on_error="fail": blanks are fine
    assert (report.records_read, report.num_documents, report.blank_lines, report.problems) == (6, 2, 4, {})
    _report_accounts_for_every_record(report)


def test_every_kind_at_once_is_accounted_for(tmp_path):
    path = tmp_path / "corpus.jsonl.gz"
    lines = [GOOD, b"\n"] + [line for _, line in BAD_LINES.values()] + [b"  \n", GOOD_TOO]
    path.write_bytes(gzip.compress(b"".join(lines)))
    report = infgram.build([path], tmp_path / "index", on_error="skip", progress=False)
    expected: dict[str, int] = {}
    for kind, _ in BAD_LINES.values():
        expected[kind] = expected.get(kind, 0) + 1
    assert report.problems == expected
    assert (report.records_read, report.num_documents, report.blank_lines) == (len(lines), 2, 2)
    _report_accounts_for_every_record(report)
    # first_problems lists them in input order, each with its line number.
    assert [p.split(": ", 1)[0] for p in report.first_problems] == [f"{path}:{n}" for n in range(3, 3 + len(BAD_LINES))]
    assert "skipped with problems" in report.summary()


@pytest.mark.parametrize("on_error", ["fail", "skip"])
def test_lone_surrogate_in_metadata_is_a_problem_not_a_crash(tmp_path, on_error):
    path = tmp_path / "corpus.jsonl"
    path.write_bytes(GOOD + b'{"text": "fine text", "title": "bad \\ud800 title"}\n' + GOOD_TOO)
    if on_error == "fail":
        with pytest.raises(infgram.InputError, match=f"{path}:2"):
            infgram.build([path], tmp_path / "index", progress=False)
    else:
        report = infgram.build([path], tmp_path / "index", on_error="skip", progress=False)
        _report_accounts_for_every_record(report)
        assert report.num_problems == 1


def test_txt_with_invalid_utf8_names_the_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"caf\xe9\n")
    with pytest.raises(infgram.InputError, match=str(path)) as error:
        infgram.build([path], tmp_path / "index", progress=False)
    assert "UTF-8" in str(error.value)
    report = infgram.build([path, _good_jsonl(tmp_path)], tmp_path / "skip", on_error="skip", progress=False)
    assert report.problems == {"invalid_utf8": 1}
    _report_accounts_for_every_record(report)


def test_empty_txt_is_an_empty_document(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    with pytest.raises(infgram.InputError, match=f"{path}: the document is empty"):
        infgram.build([path], tmp_path / "index", progress=False)


def _good_jsonl(tmp_path):
    path = tmp_path / "good.jsonl"
    path.write_bytes(GOOD)
    return path


def test_nothing_left_to_index_is_a_build_error(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_bytes(b'{"text": ""}\n\n')
    with pytest.raises(infgram.BuildError, match="nothing to index"):
        infgram.build([path], tmp_path / "index", on_error="skip", progress=False)
    _assert_no_index(tmp_path / "index")


# -- bad files ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["archive.tar.gz", "README", "changelog.Debian.gz"])
def test_a_file_of_unknown_kind_stops_the_build_by_default(tmp_path, name):
    path = tmp_path / name
    path.write_text("whatever")
    with pytest.raises(infgram.InputError, match="expected a name ending in") as error:
        infgram.build([_good_jsonl(tmp_path), path], tmp_path / "index", progress=False)
    assert str(path) in str(error.value)
    # Inside a directory it is no different.
    folder = tmp_path / "folder"
    folder.mkdir()
    shutil.copy(path, folder / name)
    shutil.copy(_good_jsonl(tmp_path), folder / "good.jsonl")
    with pytest.raises(infgram.InputError, match="expected a name ending in") as error:
        infgram.build([folder], tmp_path / "index2", progress=False)
    assert str(folder / name) in str(error.value)


def test_nonexistent_input_path(tmp_path):
    missing = tmp_path / "missing.jsonl"
    with pytest.raises(infgram.InputError, match="does not exist") as error:
        infgram.build([_good_jsonl(tmp_path), missing], tmp_path / "index", on_error="skip", progress=False)
    assert str(missing) in str(error.value)
    with pytest.raises(infgram.InputError, match="no input files"):
        infgram.build([], tmp_path / "index", progress=False)


def _parquet(table) -> bytes:
    pq = pytest.importorskip("pyarrow.parquet")
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("on_error", ["fail", "skip"])
def test_compressed_parquet_without_the_text_column(tmp_path, on_error):
    pa = pytest.importorskip("pyarrow")
    path = tmp_path / "rows.parquet.gz"
    path.write_bytes(gzip.compress(_parquet(pa.table({"body": ["x"], "id": [1]}))))
    with pytest.raises(infgram.InputError, match="has no column 'text'") as error:
        infgram.build([path], tmp_path / "index", on_error=on_error, progress=False)
    assert str(path) in str(error.value) and "body" in str(error.value)


def test_parquet_without_the_text_column(tmp_path):
    pa = pytest.importorskip("pyarrow")
    path = tmp_path / "rows.parquet"
    path.write_bytes(_parquet(pa.table({"body": ["x"], "id": [1]})))
    with pytest.raises(infgram.InputError, match="has no column 'text'"):
        infgram.build([path], tmp_path / "index", progress=False)


def test_parquet_rows_with_bad_text_name_file_and_row(tmp_path):
    pa = pytest.importorskip("pyarrow")
    path = tmp_path / "rows.parquet.gz"
    path.write_bytes(gzip.compress(_parquet(pa.table({"text": ["good row", None, "", "good again"]}))))
    with pytest.raises(infgram.InputError, match=f"{path}:2: "):
        infgram.build([path], tmp_path / "index", progress=False)
    report = infgram.build([path], tmp_path / "skip", on_error="skip", progress=False)
    assert report.problems == {"missing_text_field": 1, "empty_document": 1}
    assert [p.split(": ", 1)[0] for p in report.first_problems] == [f"{path}:2", f"{path}:3"]
    _report_accounts_for_every_record(report)


def test_not_parquet_at_all(tmp_path):
    path = tmp_path / "rows.parquet.gz"
    path.write_bytes(gzip.compress(b"this is not parquet"))
    with pytest.raises(infgram.InputError, match="as Parquet") as error:
        infgram.build([path], tmp_path / "index", progress=False)
    assert str(path) in str(error.value)


# -- token ids and sizes --------------------------------------------------------------------------

PRETOKENIZED = [{"ids": [1, 2, 3]}, {"ids": [4, 10]}, {"ids": [-1, 2]}, {"ids": [9, 9]}, {"ids": [7, 65535]}]


def test_pretokenized_ids_out_of_range_fail(tmp_path):
    with pytest.raises(infgram.InputError, match="<python>:2: expected token ids from 0 to 9, found 10"):
        infgram.build_from_documents(PRETOKENIZED, tmp_path / "index", token_width=2, vocab_size=10, progress=False)
    _assert_no_index(tmp_path / "index")


def test_pretokenized_ids_out_of_range_skip(tmp_path):
    report = infgram.build_from_documents(PRETOKENIZED, tmp_path / "index", token_width=2, vocab_size=10,
                                          on_error="skip", progress=False)
    assert report.problems == {"token_out_of_range": 3}
    assert (report.records_read, report.num_documents, report.num_tokens) == (5, 2, 5)
    _report_accounts_for_every_record(report)
    assert [p.split(": ", 1)[0] for p in report.first_problems] == ["<python>:2", "<python>:3", "<python>:5"]
    assert "found -1" in report.first_problems[1] and "found 65535" in report.first_problems[2]
    index = infgram.Index.open(tmp_path / "index")
    assert index.count([9, 9]) == 1 and index.count([1, 2, 3]) == 1


@pytest.mark.parametrize("ids", [[[1, 2]], [1.5], "12"])
def test_pretokenized_ids_not_a_flat_integer_list(tmp_path, ids):
    documents = [{"ids": [1, 2]}, {"ids": ids}]
    with pytest.raises(infgram.InputError, match="<python>:2: expected a flat list of integer token ids"):
        infgram.build_from_documents(documents, tmp_path / "fail", token_width=2, vocab_size=10, progress=False)
    report = infgram.build_from_documents(documents, tmp_path / "skip", token_width=2, vocab_size=10,
                                          on_error="skip", progress=False)
    assert report.problems == {"token_out_of_range": 1} and report.num_documents == 1
    _report_accounts_for_every_record(report)


def test_the_first_problem_in_input_order_is_reported(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_text('{"text": "ok"}\n' + json.dumps({"text": "x" * 30}) + '\n{"text": oops}\n')
    with pytest.raises(infgram.InputError, match=f"{path}:2: the document has 30 tokens"):
        infgram.build([path], tmp_path / "fail", shard_tokens=10, progress=False)
    report = infgram.build([path], tmp_path / "skip", shard_tokens=10, on_error="skip", progress=False)
    assert [p.split(": ", 1)[0] for p in report.first_problems] == [f"{path}:2", f"{path}:3"]


def test_document_too_large_for_a_shard(tmp_path):
    documents = ["short", "x" * 30, "fine"]
    with pytest.raises(infgram.InputError, match="<python>:2: the document has 30 tokens"):
        infgram.build_from_documents(documents, tmp_path / "fail", shard_tokens=10, progress=False)
    report = infgram.build_from_documents(documents, tmp_path / "skip", shard_tokens=10, on_error="skip", progress=False)
    assert report.problems == {"document_too_large": 1}
    assert report.num_documents == 2
    _report_accounts_for_every_record(report)
    # From a file the message names file:line.
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in documents))
    with pytest.raises(infgram.InputError, match=f"{path}:2: the document has 30 tokens"):
        infgram.build([path], tmp_path / "file", shard_tokens=10, progress=False)


def test_build_options_are_checked(tmp_path):
    path = _good_jsonl(tmp_path)
    for options, message in [({"on_error": "ignore"}, "on_error"), ({"shard_tokens": 1}, "shard_tokens"),
                             ({"memory": "lots"}, "memory size"), ({"memory": "9"}, "too small"),
                             ({"tokenizer": tmp_path / "nope.json"}, "not a file")]:
        with pytest.raises(infgram.BuildError, match=message):
            infgram.build([path], tmp_path / "index", progress=False, **options)


# -- output directories ---------------------------------------------------------------------------

def test_output_dir_not_empty_and_not_an_index(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    with pytest.raises(infgram.BuildError, match="not empty"):
        infgram.build([_good_jsonl(tmp_path)], out, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(infgram.BuildError, match="is a file"):
        infgram.build([_good_jsonl(tmp_path)], tmp_path / "file", progress=False)


def _corpus(path, count, word="word"):
    path.write_text("".join(json.dumps({"text": f"{word} number {i} of the corpus", "n": i}) + "\n" for i in range(count)))
    return path


def test_rebuild_with_other_inputs_needs_overwrite(tmp_path):
    big = _corpus(tmp_path / "big.jsonl", 30)
    small = _corpus(tmp_path / "small.jsonl", 2, word="other")
    out = tmp_path / "index"
    first = infgram.build([big], out, shard_tokens=200, progress=False)
    assert first.num_shards >= 3
    manifest = (out / "manifest.json").read_bytes()
    with pytest.raises(infgram.BuildError, match="--overwrite"):
        infgram.build([small], out, shard_tokens=200, progress=False)
    with pytest.raises(infgram.BuildError, match="--overwrite"):
        infgram.build([big], out, shard_tokens=100, progress=False)  # other options count too
    assert (out / "manifest.json").read_bytes() == manifest
    assert infgram.Index.open(out).num_documents == 30
    second = infgram.build([small], out, shard_tokens=200, overwrite=True, progress=False)
    assert second.num_documents == 2 and second.num_shards == 1
    index = infgram.Index.open(out)
    assert index.num_documents == 2 and index.count("word") == 0 and index.count("other") == 2
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("shard-")) == ["shard-00000"]
    index.verify()


def test_failed_overwrite_leaves_no_openable_index(tmp_path):
    out = tmp_path / "index"
    infgram.build([_corpus(tmp_path / "big.jsonl", 30)], out, shard_tokens=200, progress=False)
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(GOOD * 40 + b"not json\n")
    with pytest.raises(infgram.InputError, match=f"{bad}:41"):
        infgram.build([bad], out, shard_tokens=200, overwrite=True, progress=False)
    _assert_no_index(out)


def test_same_build_twice_is_up_to_date(tmp_path):
    path = _corpus(tmp_path / "corpus.jsonl", 10)
    first = infgram.build([path], tmp_path / "index", progress=False)
    files = {p: p.read_bytes() for p in (tmp_path / "index").rglob("*") if p.is_file()}
    second = infgram.build([path], tmp_path / "index", progress=False)
    assert second.up_to_date and not first.up_to_date
    assert (second.num_documents, second.num_tokens, second.records_read, second.num_shards) == \
        (first.num_documents, first.num_tokens, first.records_read, first.num_shards)
    assert {p: p.read_bytes() for p in (tmp_path / "index").rglob("*") if p.is_file()} == files
    assert "up to date" in second.summary()
    third = infgram.build([path], tmp_path / "index", overwrite=True, progress=False)
    assert not third.up_to_date and third.num_documents == 10


def test_index_written_inside_an_input_directory_is_not_read_as_input(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.jsonl").write_text('{"text": "the cat"}\n')
    first = infgram.build([corpus], corpus / "index", progress=False)
    again = infgram.build([corpus], corpus / "index", progress=False)
    assert first.num_documents == 1
    assert again.up_to_date and again.index_bytes > 0
