"""The real `infgram` commands: exit codes, output that parses, one-line errors.

Every query command prints its answer on stdout; an error is exactly one stderr line starting
"infgram: TypeOfError:" and exit status 1 (2 for a misused command line). The builds the other
tests share, the batch command and the error contract run as real subprocesses
(``python -m infgram.cli``); the many small queries call ``infgram.cli.main`` in-process
(same code path, without half a second of interpreter start-up each).
"""

from __future__ import annotations

import gzip
import io
import json
import sys

import pytest

import infgram
from conftest import assert_one_line_error, run_cli, shared_tokenizer

DOCUMENTS = [
    {"id": 1, "source": "a", "text": "the cat sat on the mat"},
    {"id": 2, "source": "a", "text": "the cat ran after the dog"},
    {"id": 3, "source": "b", "text": "a dog sat on the log"},
    {"id": 4, "source": "b", "text": "café au lait costs 3 €"},
]


def _write_jsonl(path, documents):
    path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in documents), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def byte_index(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    corpus = _write_jsonl(folder / "corpus.jsonl", DOCUMENTS)
    result = run_cli("build", corpus, "--out", folder / "index", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "indexed 4 documents" in result.stdout
    return folder / "index"


def _json(result):
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return json.loads(result.stdout)


def test_build_reports_and_second_build_is_up_to_date(tmp_path):
    corpus = _write_jsonl(tmp_path / "corpus.jsonl", DOCUMENTS)
    first = run_cli("build", corpus, "--out", tmp_path / "index", "--quiet")
    assert first.returncode == 0, first.stderr
    assert "4 documents" in first.stdout and "0 skipped with problems" in first.stdout
    second = run_cli("build", corpus, "--out", tmp_path / "index", "--quiet")
    assert second.returncode == 0, second.stderr
    assert "up to date" in second.stdout
    # Without --quiet the progress goes to stderr and the summary still ends up printed.
    third = run_cli("build", corpus, "--out", tmp_path / "other")
    assert third.returncode == 0, third.stderr
    assert "indexed 4 documents" in third.stdout + third.stderr


def test_count(run, byte_index):
    plain = run("count", byte_index, "the cat")
    assert plain.returncode == 0 and plain.stdout.strip() == "2"
    assert _json(run("count", byte_index, "the", "--json")) == {"count": 5}
    assert _json(run("count", byte_index, "", "--json")) == {"count": sum(len(d["text"].encode()) for d in DOCUMENTS)}
    assert _json(run("count", byte_index, "€", "--json")) == {"count": 1}
    # --ids takes commas or spaces.
    assert _json(run("count", byte_index, "--ids", "116,104,101", "--json")) == {"count": 5}
    assert _json(run("count", byte_index, "--ids", "116 104 101", "--json")) == {"count": 5}


def test_next_with_top_k(run, byte_index):
    result = _json(run("next", byte_index, "the ", "--top-k", "2", "--json"))
    # "the cat" x2, "the mat", "the dog", "the log": c 2, then d/l/m 1 each (ties by id: d first).
    assert result["prompt_count"] == 5
    assert [(t["text"], t["count"]) for t in result["tokens"]] == [("c", 2), ("d", 1)]
    text = run("next", byte_index, "the ", "--top-k", "1")
    assert text.returncode == 0
    lines = text.stdout.splitlines()
    assert lines[0] == "prompt count 5" and len(lines) == 2 and "'c'" in lines[1]
    # The end of a document is listed as such.
    ends = _json(run("next", byte_index, "mat", "--json"))
    assert ends["tokens"] == [{"id": None, "text": None, "count": 1, "probability": 1.0}]
    assert "<end of document>" in run("next", byte_index, "mat").stdout


def test_probability_with_next(run, byte_index):
    assert _json(run("probability", byte_index, "the ", "--next", "c", "--json")) == {
        "prompt_count": 5, "count": 2, "probability": 0.4}
    assert _json(run("probability", byte_index, "the ", "--next-id", "99", "--json"))["count"] == 2
    assert _json(run("probability", byte_index, "zebra", "--next", "s", "--json"))["probability"] is None
    text = run("probability", byte_index, "the ", "--next", "c")
    assert text.returncode == 0 and "probability 0.4" in text.stdout


def test_infgram_with_and_without_next(run, byte_index):
    with_next = _json(run("infgram", byte_index, "my fat cat", "--next", " ", "--json"))
    # " cat" (4 bytes) is the longest suffix that occurs ("t cat" does not); twice, both before " ".
    assert with_next == {"suffix_length": 4, "prompt_count": 2, "count": 2, "probability": 1.0}
    distribution = _json(run("infgram", byte_index, "my fat cat", "--json"))
    assert distribution["suffix_length"] == 4 and distribution["prompt_count"] == 2
    assert [(t["text"], t["count"]) for t in distribution["tokens"]] == [(" ", 2)]
    text = run("infgram", byte_index, "my fat cat")
    assert text.returncode == 0 and text.stdout.startswith("longest suffix that occurs: 4 tokens")
    text = run("infgram", byte_index, "my fat cat", "--next", " ")
    assert text.returncode == 0 and "count(suffix + next) 2" in text.stdout


def test_documents(run, byte_index):
    result = _json(run("documents", byte_index, "sat", "--limit", "1", "--context", "3", "--seed", "5", "--json"))
    assert result["num_documents"] == 2
    (document,) = result["documents"]
    source = DOCUMENTS[document["index"]]
    assert document["index"] in (0, 2)
    assert document["metadata"] == {"id": source["id"], "source": source["source"]}
    assert document["text"] in source["text"] and "sat" in document["text"]
    assert len(document["text"]) == 3 + 3 + 3
    again = _json(run("documents", byte_index, "sat", "--limit", "1", "--context", "3", "--seed", "5", "--json"))
    assert again == result
    rest = _json(run("documents", byte_index, "sat", "--limit", "5", "--offset", "1", "--seed", "5", "--json"))
    assert [d["index"] for d in rest["documents"]] == [({0, 2} - {document["index"]}).pop()]
    text = run("documents", byte_index, "café", "--context", "2")
    assert text.returncode == 0
    assert text.stdout.splitlines()[0] == "1 document contains the query"
    assert "⟦café⟧ a\n" in text.stdout


def test_docs_is_a_deprecated_alias_of_documents(run, byte_index):
    old = run("docs", byte_index, "sat", "--json")
    assert old.returncode == 0 and "`docs` is now `documents`" in old.stderr
    assert json.loads(old.stdout) == _json(run("documents", byte_index, "sat", "--json"))


def test_info_and_verify(run, byte_index):
    info = _json(run("info", byte_index, "--json"))
    assert info["num_documents"] == 4 and info["tokenizer"] == "bytes" and info["token_width"] == 1
    assert info["separator_id"] == 255 and info["num_shards"] == 1
    assert info["num_tokens"] == sum(len(d["text"].encode()) for d in DOCUMENTS)
    text = run("info", byte_index)
    assert text.returncode == 0 and "num_documents" in text.stdout
    verified = run("verify", byte_index)
    assert verified.returncode == 0 and "every file matches its checksum" in verified.stdout


def test_batch_via_stdin(byte_index):
    requests = [{"op": "count", "text": "the"}, {"op": "count", "ids": [300]},
                {"op": "next_tokens", "prompt": "the ", "top_k": 1}, {"op": "documents", "text": "log"}]
    result = run_cli("batch", byte_index, input="".join(json.dumps(r) + "\n" for r in requests) + "\n")
    assert result.returncode == 0 and result.stderr == ""
    replies = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["op"] for r in replies] == ["count", "count", "next_tokens", "documents"]
    assert replies[0]["count"] == 5
    assert replies[1]["error"]["type"] == "QueryError"
    assert replies[2]["tokens"][0]["text"] == "c"
    assert replies[3]["num_documents"] == 1 and replies[3]["documents"][0]["metadata"]["id"] == 3


def test_verify_reports_damage_on_one_line(run, tmp_path):
    corpus = _write_jsonl(tmp_path / "corpus.jsonl", DOCUMENTS)
    assert run("build", corpus, "--out", tmp_path / "index", "--quiet").returncode == 0
    tokens = tmp_path / "index" / "shard-00000" / "tokens.bin"
    data = bytearray(tokens.read_bytes())
    data[70] ^= 0x01
    tokens.write_bytes(bytes(data))
    assert_one_line_error(run_cli("verify", tmp_path / "index"), "checksum")


def test_error_contract_in_a_real_process(tmp_path, byte_index):
    """The errors the contract names, end to end: no traceback, one line, exit status 1."""
    (tmp_path / "not-an-index").mkdir()
    assert_one_line_error(run_cli("count", tmp_path / "not-an-index", "x"), "not an infgram index")
    assert_one_line_error(run_cli("count", byte_index, "--ids", "12,abc"), "expected token ids separated by commas")
    assert_one_line_error(run_cli("probability", byte_index, "the", "--next", "ca"),
                          "expected the continuation to be exactly one token")


@pytest.mark.parametrize("argv, fragment", [
    (["count", "{missing}", "x"], "no index at"),
    (["count", "{empty}", "x"], "not an infgram index"),
    (["count", "{index}", "--ids", "1,x"], "expected token ids separated by commas"),
    (["count", "{index}", "--ids", "300"], "expected token ids from 0 to 254"),
    (["count", "{index}", "--ids", "255"], "separator"),
    (["probability", "{index}", "the", "--next", "ca"], "exactly one token"),
    (["infgram", "{index}", "the", "--next", "ca"], "exactly one token"),
    (["next", "{index}", "the", "--top-k", "-1"], "expected top_k"),
    (["documents", "{index}", "the", "--limit", "100000"], "expected limit"),
    (["documents", "{index}", "the", "--offset", "-1"], "expected offset"),
    (["search", "{index}", '"the cat" AND (sat OR'], "at character 21: expected a phrase, found the end"),
    (["search", "{index}", '"the cat'], "at character 0: a quote is never closed"),
    (["search", "{index}", "cat dog"], 'quote a phrase that has spaces ("cat dog")'),
    (["search", "{index}", "(cat AND dog)"], "expected OR or a closing parenthesis"),
    (["search", "{index}", "cat", "--within", "-2"], "expected within"),
    (["attribute", "{index}"], "expected the text as an argument or as --file PATH"),
    (["attribute", "{index}", "--file", "{missing}"], "cannot read"),
    (["attribute", "{index}", "x", "--min-length", "-1"], "expected min_length"),
    (["build", "{corpus}", "--out", "{empty_with_file}", "--quiet"], "not empty"),
    (["build", "{missing}.jsonl", "--out", "{fresh}", "--quiet"], "does not exist"),
    (["build", "{csv}", "--out", "{fresh}", "--quiet"], "text"),  # a CSV without a text column
    (["build", "{bad_json}", "--out", "{fresh}", "--quiet"], "bad.jsonl:2"),
    (["build", "{corpus}", "--out", "{fresh}", "--quiet", "--memory", "lots"], "memory size"),
    (["build", "{corpus}", "--out", "{fresh}", "--quiet", "--tokenizer", "no-such-tokenizer"], "not a file"),
])
def test_errors_print_one_line_and_exit_1(run, tmp_path, byte_index, argv, fragment):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty_with_file").mkdir()
    (tmp_path / "empty_with_file" / "notes.txt").write_text("hello")
    _write_jsonl(tmp_path / "corpus.jsonl", DOCUMENTS)
    (tmp_path / "data.csv").write_text("a,b\n")
    (tmp_path / "bad.jsonl").write_text('{"text": "fine"}\n{"text": oops}\n')
    names = {"missing": tmp_path / "missing", "empty": tmp_path / "empty", "index": byte_index,
             "empty_with_file": tmp_path / "empty_with_file", "corpus": tmp_path / "corpus.jsonl",
             "fresh": tmp_path / "fresh", "csv": tmp_path / "data.csv", "bad_json": tmp_path / "bad.jsonl"}
    result = run(*[part.format(**names) for part in argv])
    assert result.stdout == ""
    assert_one_line_error(result, fragment)


def test_negative_seed_is_a_one_line_error(byte_index):
    assert_one_line_error(run_cli("documents", byte_index, "the", "--seed", "-1"), "seed")


def test_query_argument_with_invalid_utf8(byte_index):
    import os
    import subprocess

    result = subprocess.run([sys.executable.encode(), b"-m", b"infgram.cli", b"count", os.fsencode(byte_index), b"ca\xff"],
                            capture_output=True, text=True, encoding="utf-8", errors="replace")
    assert_one_line_error(result, "expected")


def test_next_and_next_id_together_is_a_usage_error(byte_index):
    result = run_cli("probability", byte_index, "the", "--next", "c", "--next-id", "99")
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["infgram: error: give --next or --next-id, not both"]


def test_main_in_process(byte_index, capsys):
    from infgram.cli import main

    assert main(["count", str(byte_index), "dog", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"count": 2}
    assert main(["count", str(byte_index), "--ids", "999"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and captured.err.startswith("infgram: QueryError: ")


def test_build_with_sp32k_tokenizer(run, tmp_path):
    tokenizer = shared_tokenizer("sp32k")
    corpus = _write_jsonl(tmp_path / "corpus.jsonl", DOCUMENTS)
    built = run_cli("build", corpus, "--out", tmp_path / "index", "--tokenizer", tokenizer, "--quiet")
    assert built.returncode == 0, built.stderr
    info = _json(run("info", tmp_path / "index", "--json"))
    assert info["tokenizer"] == "huggingface" and info["token_width"] == 2
    assert info["vocab_size"] == 32000 and info["separator_id"] == 65535
    assert (tmp_path / "index" / "tokenizer.json").read_bytes() == tokenizer.read_bytes()
    # "the cat" is two tokens here ("▁the", "▁cat"), found at the start of two documents.
    counted = _json(run("count", tmp_path / "index", "the cat", "--json"))  # with its forms, as a batch reply
    assert counted["count"] == 2 and sum(form["count"] for form in counted["forms"]) == 2
    following = _json(run("next", tmp_path / "index", "the cat", "--json"))
    assert following["prompt_count"] == 2 and {t["text"] for t in following["tokens"]} == {"sat", "ran"}
    # "cat sat" is two tokens, so it cannot be a continuation.
    assert_one_line_error(run("probability", tmp_path / "index", "the", "--next", "cat sat"), "exactly one token")
    # Ids above the vocabulary are refused; below it they are searched.
    assert_one_line_error(run("count", tmp_path / "index", "--ids", "40000"), "expected token ids from 0 to 31999")
    docs = _json(run("documents", tmp_path / "index", "café", "--json"))
    assert docs["num_documents"] == 1 and docs["documents"][0]["metadata"] == {"id": 4, "source": "b"}
    assert run("verify", tmp_path / "index").returncode == 0


# -- input formats ------------------------------------------------------------------------------

def _built(run, tmp_path, *inputs, options=()):
    result = run("build", *inputs, "--out", tmp_path / "index", "--quiet", *options)
    assert result.returncode == 0, result.stderr
    index = infgram.Index.open(tmp_path / "index")
    return index, [index.document(i) for i in range(index.num_documents)]


def test_jsonl_gz_input(run, tmp_path):
    path = tmp_path / "part.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"text": "gzipped words", "id": "g1"}\n{"text": "more gzipped words", "id": "g2"}\n'))
    index, documents = _built(run, tmp_path, path)
    assert [(d.text, d.metadata) for d in documents] == [("gzipped words", {"id": "g1"}), ("more gzipped words", {"id": "g2"})]
    assert index.count("gzipped") == 2


def test_jsonl_zst_input(run, tmp_path):
    zstandard = pytest.importorskip("zstandard")
    path = tmp_path / "part.jsonl.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress('{"text": "zstd crème brûlée", "n": 7}\n'.encode()))
    index, documents = _built(run, tmp_path, path)
    assert [(d.text, d.metadata) for d in documents] == [("zstd crème brûlée", {"n": 7})]
    assert index.count("brûlée") == 1


def test_txt_input_is_one_document(run, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("first line\nsecond line\n", encoding="utf-8")
    index, documents = _built(run, tmp_path, path)
    assert len(documents) == 1
    assert documents[0].text == "first line\nsecond line\n"
    assert documents[0].metadata == {"path": str(path)}
    assert index.count("line\n") == 2


def _parquet_bytes(table) -> bytes:
    pq = pytest.importorskip("pyarrow.parquet")
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def _parquet_table():
    pa = pytest.importorskip("pyarrow")
    return pa.table({"text": ["parquet row one", "parquet row two"], "lang": ["en", "fr"], "score": [1, 2]})


def test_parquet_input_keeps_other_columns_as_metadata(run, tmp_path):
    path = tmp_path / "rows.parquet"
    path.write_bytes(_parquet_bytes(_parquet_table()))
    index, documents = _built(run, tmp_path, path)
    assert [(d.text, d.metadata) for d in documents] == [
        ("parquet row one", {"lang": "en", "score": 1}), ("parquet row two", {"lang": "fr", "score": 2})]


def test_compressed_parquet_input_keeps_other_columns_as_metadata(run, tmp_path):
    path = tmp_path / "rows.parquet.gz"
    path.write_bytes(gzip.compress(_parquet_bytes(_parquet_table())))
    index, documents = _built(run, tmp_path, path)
    assert [(d.text, d.metadata) for d in documents] == [
        ("parquet row one", {"lang": "en", "score": 1}), ("parquet row two", {"lang": "fr", "score": 2})]
    assert index.count("parquet row") == 2


def test_directory_input_reads_every_file_in_sorted_order(run, tmp_path):
    folder = tmp_path / "corpus"
    (folder / "sub").mkdir(parents=True)
    (folder / "b.jsonl").write_text('{"text": "from b"}\n')
    (folder / "a.jsonl.gz").write_bytes(gzip.compress(b'{"text": "from a"}\n'))
    (folder / "sub" / "c.txt").write_text("from c")
    (folder / ".hidden").mkdir()
    (folder / ".hidden" / "ignored.csv").write_text("hidden files are skipped")
    index, documents = _built(run, tmp_path, folder)
    assert [d.text for d in documents] == ["from a", "from b", "from c"]
    assert index.count("from ") == 3


def test_directory_with_unknown_file_is_an_error(run, tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a.jsonl").write_text('{"text": "fine"}\n')
    (folder / "notes.Debian.gz").write_bytes(b"not a corpus file")
    assert_one_line_error(run("build", folder, "--out", tmp_path / "index", "--quiet"), "notes.Debian.gz")


def test_text_field_option(run, tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"body": "the body text", "text": "not this", "id": 1}\n')
    index, documents = _built(run, tmp_path, path, options=("--text-field", "body"))
    assert documents[0].text == "the body text"
    assert documents[0].metadata == {"text": "not this", "id": 1}
    assert index.count("not this") == 0


def test_on_error_skip_option(run, tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"text": "good"}\n{"text": 5}\n\n{"text": "also good"}\n')
    result = run("build", path, "--out", tmp_path / "index", "--quiet", "--on-error", "skip")
    assert result.returncode == 0, result.stderr
    assert "2 documents, 1 blank lines, 1 skipped with problems" in result.stdout
    assert "missing_text_field: 1" in result.stdout
    assert f"{path}:2:" in result.stdout
    assert infgram.Index.open(tmp_path / "index").num_documents == 2


def test_search_marks_every_clause(run, byte_index):
    result = run("search", byte_index, '"the cat" AND (sat OR ran)', "--limit", "5")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "2 documents match, at 4 sites"
    assert "⟦the cat⟧ ⟦sat⟧ on the mat" in result.stdout and "⟦the cat⟧ ⟦ran⟧ after" in result.stdout
    assert _json(run("search", byte_index, "dog AND the", "--within", "3", "--json"))["num_documents"] == 0
    reply = _json(run("search", byte_index, "dog AND the", "--within", "4", "--json"))
    assert reply["num_documents"] == 1 and reply["documents"][0]["index"] == 1


def test_attribute_human_and_json(run, byte_index, tmp_path):
    text = "my cat sat on the log and ran after the dog"
    result = run("attribute", byte_index, text, "--min-length", "8")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("my ⟦cat sat on the log⟧ and ⟦ran after the dog⟧")
    (tmp_path / "output.txt").write_text(text, encoding="utf-8")
    reply = _json(run("attribute", byte_index, "--file", tmp_path / "output.txt", "--min-length", "8", "--json",
                      "--longest-matches"))
    assert [span["text"] for span in reply["spans"]] == ["cat sat on the", "sat on the log", "ran after the dog"]
    assert len(reply["longest_matches"]["lengths"]) == len(text.encode())
    from_stdin = _json(run("attribute", byte_index, "--file", "-", "--min-length", "8", "--json", stdin=text))
    assert from_stdin["spans"] == reply["spans"]
