"""Every bad-input path: what is raised, that the message names the place, and what is left behind.

Building: a bad record stops the build with :class:`infgram.InputError` naming ``file:line``
(``on_error="fail"``, the default; no index opens afterwards) or is skipped and counted
(``on_error="skip"``: every record read is a document, a blank line or a problem).
Querying: malformed queries raise :class:`infgram.QueryError` saying what was expected.
Opening: a damaged index raises :class:`infgram.IndexFormatError` (or its subclass
:class:`infgram.IncompleteIndexError`).
"""

from __future__ import annotations

import gzip
import io
import json
import shutil

import numpy as np
import pytest

import infgram
from infgram.query.encoding import MAX_QUERY_TOKENS

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

@pytest.mark.parametrize("name", ["data.csv", "notes.md", "part.jsonl.bz2", "archive.tar.gz", "README"])
@pytest.mark.parametrize("on_error", ["fail", "skip"])
def test_unknown_extension_is_an_error_never_skipped(tmp_path, name, on_error):
    path = tmp_path / name
    path.write_text("whatever")
    with pytest.raises(infgram.InputError, match="expected a name ending in") as error:
        infgram.build([_good_jsonl(tmp_path), path], tmp_path / "index", on_error=on_error, progress=False)
    assert str(path) in str(error.value)
    # Inside a directory it is no different.
    folder = tmp_path / "folder"
    folder.mkdir()
    shutil.copy(path, folder / name)
    shutil.copy(_good_jsonl(tmp_path), folder / "good.jsonl")
    with pytest.raises(infgram.InputError, match="expected a name ending in") as error:
        infgram.build([folder], tmp_path / "index2", on_error=on_error, progress=False)
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


# -- damaged indexes ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pristine")
    documents = [{"text": f"document {i}: the cat sat on the mat", "metadata": {"n": i}} for i in range(12)]
    infgram.build_from_documents(documents, folder / "index", shard_tokens=150, progress=False)
    assert len(infgram.Index.open(folder / "index").shards) >= 2
    return folder / "index"


def _rewrite(path, change):
    path.write_bytes(change(bytearray(path.read_bytes())))


def _set(data, offset, value):
    data[offset : offset + len(value)] = value
    return bytes(data)


def _manifest(change):
    def apply(directory):
        manifest = json.loads((directory / "manifest.json").read_text())
        change(manifest)
        (directory / "manifest.json").write_text(json.dumps(manifest))
    return apply


DAMAGE = {
    "shard file deleted": (lambda d: (d / "shard-00001" / "suffix_array.bin").unlink(), "is missing"),
    "shard directory deleted": (lambda d: shutil.rmtree(d / "shard-00000"), "is missing"),
    "tokens.bin truncated": (lambda d: _rewrite(d / "shard-00000" / "tokens.bin", lambda b: bytes(b[:-5])), "truncated"),
    "tokens.bin shorter than its header": (lambda d: _rewrite(d / "shard-00000" / "tokens.bin", lambda b: bytes(b[:20])),
                                           "shorter than"),
    "tokens.bin grown": (lambda d: _rewrite(d / "shard-00000" / "tokens.bin", lambda b: bytes(b) + b"\0"), "promises"),
    "magic overwritten": (lambda d: _rewrite(d / "shard-00000" / "documents.bin", lambda b: _set(b, 0, b"NOTMAGIC")),
                          "magic"),
    "file version changed": (lambda d: _rewrite(d / "shard-00000" / "metadata.bin", lambda b: _set(b, 8, b"\x07\x00")),
                             "format version 7"),
    "file kind swapped": (lambda d: _rewrite(d / "shard-00000" / "tokens.bin", lambda b: _set(b, 10, b"SARR")), "kind"),
    "manifest not JSON": (lambda d: (d / "manifest.json").write_text("{not json"), "not valid JSON"),
    "manifest not UTF-8": (lambda d: (d / "manifest.json").write_bytes(b"\xff\xfe{}"), "not valid JSON"),
    "manifest a list": (lambda d: (d / "manifest.json").write_text("[]"), "does not describe"),
    "manifest deleted": (lambda d: (d / "manifest.json").unlink(), "not an infgram index"),
    "format_version changed": (_manifest(lambda m: m.update(format_version=3)), "format version 3"),
    "format_version removed": (_manifest(lambda m: m.pop("format_version")), "format version None"),
    "totals disagree": (_manifest(lambda m: m.update(num_tokens=m["num_tokens"] + 1)), "do not add up"),
    "no shards": (_manifest(lambda m: m.update(shards=[])), "lists no shards"),
    "shard entry malformed": (_manifest(lambda m: m["shards"][0].pop("files")), "malformed"),
    "pointer width wrong": (_manifest(lambda m: m["shards"][0].update(pointer_width=3)), "pointer width"),
    "unknown tokenizer": (_manifest(lambda m: m.update(tokenizer={"kind": "magic"})), "unknown tokenizer kind"),
    "unknown index kind": (_manifest(lambda m: m.update(index_kind="fm_index")), "fm_index"),
}


@pytest.mark.parametrize("name", list(DAMAGE))
def test_damaged_index_does_not_open(tmp_path, pristine, name):
    damage, fragment = DAMAGE[name]
    directory = tmp_path / "index"
    shutil.copytree(pristine, directory)
    damage(directory)
    with pytest.raises(infgram.IndexFormatError) as error:
        infgram.Index.open(directory)
    assert fragment in str(error.value)


def test_partially_written_file_is_incomplete(tmp_path, pristine):
    directory = tmp_path / "index"
    shutil.copytree(pristine, directory)
    _rewrite(directory / "shard-00001" / "suffix_array.bin", lambda b: _set(b, 25, b"\x00"))
    with pytest.raises(infgram.IncompleteIndexError, match="not completely written"):
        infgram.Index.open(directory)


def test_build_state_without_manifest_is_incomplete(tmp_path, pristine):
    directory = tmp_path / "index"
    shutil.copytree(pristine, directory)
    (directory / "manifest.json").unlink()
    (directory / "build-state.json").write_text("{}")
    with pytest.raises(infgram.IncompleteIndexError, match="did not finish"):
        infgram.Index.open(directory)


@pytest.mark.parametrize("file", ["tokens.bin", "suffix_array.bin", "documents.bin", "metadata.bin"])
def test_flipped_payload_byte_is_caught_at_open_or_by_verify(tmp_path, pristine, file):
    directory = tmp_path / "index"
    shutil.copytree(pristine, directory)
    infgram.Index.open(directory).verify()  # the copy is sound
    path = directory / "shard-00001" / file
    data = bytearray(path.read_bytes())
    data[64] ^= 0x01  # the first payload byte; the header stays valid
    path.write_bytes(bytes(data))
    try:
        damaged = infgram.Index.open(directory)
    except infgram.IndexFormatError as error:  # the cheap checks at open caught it
        assert file in str(error) and "damaged" in str(error)
        return
    with pytest.raises(infgram.IndexFormatError, match=f"{file} does not match its checksum"):
        damaged.verify()


def test_missing_path_and_plain_directory(tmp_path):
    with pytest.raises(infgram.IndexFormatError, match="does not exist"):
        infgram.Index.open(tmp_path / "nowhere")
    (tmp_path / "plain").mkdir()
    with pytest.raises(infgram.IndexFormatError, match="not an infgram index"):
        infgram.Index.open(tmp_path / "plain")


def test_index_written_inside_an_input_directory_is_not_read_as_input(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.jsonl").write_text('{"text": "the cat"}\n')
    first = infgram.build([corpus], corpus / "index", progress=False)
    again = infgram.build([corpus], corpus / "index", progress=False)
    assert first.num_documents == 1
    assert again.up_to_date and again.index_bytes > 0


def test_probability_command_without_next_is_a_one_line_error(tmp_path, capsys):
    from infgram import cli

    infgram.build_from_documents(["the cat"], tmp_path / "index", progress=False)
    assert cli.main(["probability", str(tmp_path / "index"), "the"]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("infgram: error: expected the next token")
