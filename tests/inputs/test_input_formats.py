"""Every input format, option and source: small files written here, the same documents the same index.

The same documents given as JSON Lines, a JSON array, CSV, TSV, Parquet, an Arrow stream, a
saved dataset folder, a ``datasets.Dataset`` and through ``memory://``/``file://`` URLs give
byte-identical ``tokens.bin`` and ``suffix_array.bin`` (metadata may differ by format).
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import lzma
from pathlib import Path

import pytest
import zstandard

import infgram
from infgram.build import inputs as inputs_module

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

TEXTS = ["a rose is a rose", "café, \"quoted\", and\nsecond line", "is it?\tyes", "x" * 50]
ROWS = [{"text": text, "id": number} for number, text in enumerate(TEXTS)]


def write_jsonl(path: Path, rows=ROWS) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def write_csv(path: Path, rows=ROWS, delimiter=",") -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), dialect="excel-tab" if delimiter == "\t" else "excel")
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_arrow(path: Path, rows=ROWS, file_format=False) -> Path:
    table = pa.Table.from_pylist(rows)
    with pa.OSFile(str(path), "wb") as sink:
        writer = (pa.ipc.new_file if file_format else pa.ipc.new_stream)(sink, table.schema)
        for batch in table.to_batches(max_chunksize=2):
            writer.write_batch(batch)
        writer.close()
    return path


def write_saved_dataset(folder: Path, rows=ROWS) -> Path:
    """A folder as datasets' save_to_disk writes it: two Arrow stream files, state.json, dataset_info.json."""
    folder.mkdir()
    names = ["data-00000-of-00002.arrow", "data-00001-of-00002.arrow"]
    write_arrow(folder / names[0], rows[:2])
    write_arrow(folder / names[1], rows[2:])
    (folder / "state.json").write_text(json.dumps({"_data_files": [{"filename": n} for n in names],
                                                    "_fingerprint": "f"}))
    (folder / "dataset_info.json").write_text("{}")
    (folder / "cache-123.arrow").write_bytes(b"not listed, not read")
    return folder


def index_bytes(directory: Path) -> tuple[bytes, bytes]:
    shard = directory / "shard-00000"
    return (shard / "tokens.bin").read_bytes(), (shard / "suffix_array.bin").read_bytes()


def build(inputs, out: Path, **options) -> infgram.BuildReport:
    return infgram.build(inputs, out, progress=False, **options)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reference")
    build([write_jsonl(folder / "c.jsonl")], folder / "index")
    return index_bytes(folder / "index")


def _writers():
    return {
        "jsonl": lambda d: write_jsonl(d / "c.jsonl"),
        "json_array": lambda d: (d / "c.json").write_text(json.dumps(ROWS, ensure_ascii=False), encoding="utf-8") and d / "c.json",
        "csv": lambda d: write_csv(d / "c.csv"),
        "tsv": lambda d: write_csv(d / "c.tsv", delimiter="\t"),
        "parquet": lambda d: pq.write_table(pa.Table.from_pylist(ROWS), d / "c.parquet") or d / "c.parquet",
        "arrow_stream": lambda d: write_arrow(d / "c.arrow"),
        "arrow_file": lambda d: write_arrow(d / "c.arrow", file_format=True),
        "saved_dataset": lambda d: write_saved_dataset(d / "saved"),
        "file_url": lambda d: write_jsonl(d / "c.jsonl").as_uri(),
    }


@pytest.mark.parametrize("name", sorted(_writers()))
def test_every_format_gives_the_same_index(tmp_path, reference, name):
    source = _writers()[name](tmp_path)
    report = build([source], tmp_path / "index")
    assert report.num_documents == len(TEXTS) and not report.problems
    assert index_bytes(tmp_path / "index") == reference
    index = infgram.Index.open(tmp_path / "index")
    assert index.count("rose") == 2


@pytest.mark.parametrize("compression, compress", [("gz", gzip.compress), ("zst", zstandard.ZstdCompressor().compress),
                                                   ("bz2", bz2.compress), ("xz", lzma.compress)])
@pytest.mark.parametrize("name", ["c.jsonl", "c.csv", "c.arrow"])
def test_compressed_files_give_the_same_index(tmp_path, reference, name, compression, compress):
    plain = {"c.jsonl": write_jsonl, "c.csv": write_csv, "c.arrow": write_arrow}[name](tmp_path / name)
    packed = tmp_path / f"{name}.{compression}"
    packed.write_bytes(compress(plain.read_bytes()))
    build([packed], tmp_path / "index")
    assert index_bytes(tmp_path / "index") == reference


@pytest.mark.parametrize("compression, compress", [("bz2", bz2.compress), ("xz", lzma.compress)])
@pytest.mark.parametrize("on_error", ["fail", "skip"])
def test_truncated_bz2_and_xz_name_the_file_and_the_last_line(tmp_path, compression, compress, on_error):
    lines = "".join(json.dumps({"text": f"document {n} " * 20}) + "\n" for n in range(1, 20_001)).encode()
    data = compress(lines)
    cut = tmp_path / f"cut.jsonl.{compression}"
    cut.write_bytes(data[: len(data) // 2])
    if on_error == "fail":
        with pytest.raises(infgram.InputError, match="truncated") as error:
            build([cut], tmp_path / "index")
        assert str(error.value).startswith(f"{cut}: ") and "after line " in str(error.value)
        return
    report = build([cut], tmp_path / "index", on_error="skip")
    assert report.problems == {"truncated_file": 1}
    read = report.num_documents
    assert 0 < read < 20_000 and f"after line {read:,}" in report.first_problems[0]
    assert report.files[str(cut)] == {"records_read": read + 1, "documents": read, "blank_lines": 0, "problems": 1}


def test_saved_dataset_folder_is_read_in_its_order_and_nothing_else(tmp_path):
    folder = write_saved_dataset(tmp_path / "saved")
    (folder / "notes.json").write_text('{"text": "not part of the dataset"}\n')
    files = inputs_module.expand_inputs([tmp_path])
    assert [f.name for f in files] == ["data-00000-of-00002.arrow", "data-00001-of-00002.arrow"]
    report = build([tmp_path], tmp_path / "index")
    assert report.num_documents == len(TEXTS)
    assert infgram.Index.open(tmp_path / "index").count("not part") == 0


# -- plain text, Markdown and HTML ----------------------------------------------------------------

def test_markdown_rst_and_text_are_one_document_each(tmp_path):
    for name in ("a.md", "b.rst", "c.markdown", "d.text", "e.txt"):
        (tmp_path / name).write_text(f"# {name}\n\nbody of {name}\n")
    report = build([tmp_path], tmp_path / "index")
    assert report.num_documents == 5
    index = infgram.Index.open(tmp_path / "index")
    assert index.count("# a.md\n\nbody") == 1 and index.count("body of") == 5


def test_html_is_indexed_as_its_visible_text(tmp_path):
    page = tmp_path / "page.html"
    page.write_text("<!doctype html><html><head><title>The Title</title><style>.hidden {color: red}</style>"
                    "<script>var secret = 'script text';</script></head><body><h1>Heading &amp; more</h1>"
                    "<p>First <b>bold</b> paragraph.</p><!-- a comment --><div>Second<br>line</div>"
                    "<script type='text/javascript'>if (a < b) { alert('x') }</script></body></html>")
    build([page], tmp_path / "index")
    index = infgram.Index.open(tmp_path / "index")
    text = index.documents("Heading", limit=1).documents[0]
    assert index.count("Heading & more\nFirst bold paragraph.\nSecond\nline") == 1
    for hidden in ("secret", "color", "alert", "comment", "<b>", "The Title"):
        assert index.count(hidden) == 0, hidden
    assert text.metadata == {"path": str(page), "title": "The Title"}


# -- CSV ------------------------------------------------------------------------------------------

def test_csv_metadata_and_bad_rows_are_accounted_for(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_bytes(b'id,text,lang\n1,"one, with a comma",en\n\n2,too,many,fields\n3,,en\n4,caf\xe9,fr\n5,"multi\nline",en\n')
    with pytest.raises(infgram.InputError, match=f"{path}:4: expected 3 fields"):
        build([path], tmp_path / "fail")
    report = build([path], tmp_path / "index", on_error="skip")
    assert report.problems == {"invalid_row": 1, "empty_document": 1, "invalid_utf8": 1}
    assert report.blank_lines == 1 and report.num_documents == 2
    assert report.records_read == report.num_documents + report.blank_lines + report.num_problems
    assert [p.split(": ")[0] for p in report.first_problems] == [f"{path}:4", f"{path}:5", f"{path}:6"]
    document = infgram.Index.open(tmp_path / "index").documents("multi", limit=1).documents[0]
    assert document.metadata == {"id": "5", "lang": "en"}


def test_csv_without_the_text_column_names_the_columns(tmp_path):
    path = write_csv(tmp_path / "rows.csv", [{"body": "x", "id": 1}])
    with pytest.raises(infgram.InputError, match="has no column 'text' \\(columns: body, id\\)"):
        build([path], tmp_path / "index", on_error="skip")


# -- JSON arrays ----------------------------------------------------------------------------------

def test_json_array_problems_are_counted_by_element(tmp_path):
    path = tmp_path / "rows.json"
    path.write_bytes(b'[{"text": "good"}, [1], {"body": "x"}, {"text": "caf\xe9"}, {"text": "good too"}]')
    report = build([path], tmp_path / "index", on_error="skip")
    assert report.problems == {"not_an_object": 1, "missing_text_field": 1, "invalid_utf8": 1}
    assert report.num_documents == 2 and report.first_problems[2].startswith(f"{path}:4: the element is not valid UTF-8")
    assert report.first_problems[0].startswith(f"{path}:2: expected a JSON object per array element")


@pytest.mark.parametrize("data, kind, fragment", [
    (b'[{"text": "good"}, {"text": "cut', "invalid_json", "element 2 is not valid JSON"),
    (b'[{"text": "good"}, {"text": "bad"} {"text": "x"}]', "invalid_json", "expected ',' or ']' after element 2"),
])
def test_damaged_json_array_is_one_problem_naming_the_element(tmp_path, data, kind, fragment):
    path = tmp_path / "rows.json"
    path.write_bytes(data)
    report = build([path], tmp_path / "index", on_error="skip")
    assert report.problems == {kind: 1} and fragment in report.first_problems[0]
    assert report.records_read == report.num_documents + report.num_problems


# -- fields ---------------------------------------------------------------------------------------

def test_nested_dotted_and_several_text_fields(tmp_path):
    path = tmp_path / "rows.jsonl"
    write_jsonl(path, [{"meta": {"body": "nested body", "lang": "en"}, "meta.body": "dotted key", "title": "T1"}])
    build([path], tmp_path / "nested", text_field="meta.body")
    index = infgram.Index.open(tmp_path / "nested")
    document = index.documents("nested body", limit=1).documents[0]
    assert document.metadata == {"meta": {"lang": "en"}, "meta.body": "dotted key", "title": "T1"}
    build([path], tmp_path / "dotted", text_field="meta\\.body")
    assert infgram.Index.open(tmp_path / "dotted").count("dotted key") == 1
    build([path], tmp_path / "joined", text_field=["title", "meta.body"])
    assert infgram.Index.open(tmp_path / "joined").count("T1\nnested body") == 1
    build([path], tmp_path / "template", text_field="{title}: {meta.body}")
    assert infgram.Index.open(tmp_path / "template").count("T1: nested body") == 1


def test_nested_field_of_parquet_struct_column(tmp_path):
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pylist([{"meta": {"body": "in a struct"}, "id": 1}]), path)
    build([path], tmp_path / "index", text_field="meta.body")
    assert infgram.Index.open(tmp_path / "index").count("in a struct") == 1


def test_cli_several_text_fields_include_and_exclude(tmp_path, run):
    corpus = tmp_path / "corpus"
    (corpus / "drafts").mkdir(parents=True)
    write_jsonl(corpus / "a.jsonl", [{"title": "Alpha", "body": "first"}])
    write_jsonl(corpus / "drafts" / "b.jsonl", [{"title": "Beta", "body": "draft"}])
    (corpus / "notes.md").write_text("markdown notes")
    result = run("build", corpus, "--out", tmp_path / "index", "--text-field", "title", "body",
                 "--include", "*.jsonl", "--exclude", "drafts", "--quiet")
    assert result.returncode == 0, result.stderr
    index = infgram.Index.open(tmp_path / "index")
    assert index.count("Alpha\nfirst") == 1 and index.count("Beta") == 0 and index.count("markdown") == 0


# -- unknown kinds and selection ------------------------------------------------------------------

def test_unknown_kinds_fail_or_are_skipped_and_listed(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    write_jsonl(folder / "good.jsonl")
    (folder / "changelog.Debian.gz").write_bytes(gzip.compress(b"debian changelog"))
    (folder / "README").write_text("no extension")
    with pytest.raises(infgram.InputError, match="README: expected a name ending in"):
        build([folder], tmp_path / "fail")
    report = build([folder], tmp_path / "index", on_error="skip")
    assert report.num_documents == len(TEXTS) and report.problems == {"unknown_format": 2}
    assert report.files[str(folder / "README")] == {"records_read": 1, "documents": 0, "blank_lines": 0, "problems": 1}
    assert any("README: skipped: expected a name ending in" in line for line in report.first_problems)
    assert "unknown_format: 2" in report.summary()
    stored = json.loads((tmp_path / "index" / "build-report.json").read_text())
    assert set(stored["files"]) == {str(folder / name) for name in ("good.jsonl", "changelog.Debian.gz", "README")}


def test_include_and_exclude_never_match_substrings(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("a.jsonl", "a.jsonl.bak.md", "sub/b.jsonl", "sub/keep.md"):
        (tmp_path / name).write_text('{"text": "x"}\n' if name.endswith("jsonl") else "x")
    found = inputs_module.expand_inputs([tmp_path], selection=inputs_module.Selection(include=["*.jsonl"]))
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a.jsonl", "sub/b.jsonl"]
    found = inputs_module.expand_inputs([tmp_path], selection=inputs_module.Selection(exclude=["sub/*.md", "*.jsonl"]))
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a.jsonl.bak.md"]
    with pytest.raises(infgram.InputError, match="no input files"):
        inputs_module.expand_inputs([tmp_path], selection=inputs_module.Selection(include=["*.csv"]))


# -- documents given in Python --------------------------------------------------------------------

def test_build_from_documents_keeps_extra_keys_as_metadata(tmp_path):
    infgram.build_from_documents([{"text": "a rose", "url": "https://example.org/r", "metadata": {"lang": "en"}}],
                                 tmp_path / "index", progress=False)
    document = infgram.Index.open(tmp_path / "index").documents("rose", limit=1).documents[0]
    assert document.metadata == {"url": "https://example.org/r", "lang": "en"}
    report = infgram.build_from_documents([{"text": "a", "url": "u", "metadata": {"url": "v"}}, "b"],
                                          tmp_path / "conflict", on_error="skip", progress=False)
    assert report.problems == {"conflicting_metadata": 1} and report.num_documents == 1
