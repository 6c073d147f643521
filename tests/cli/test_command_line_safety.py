"""The command line's share of "safe to expose": a batch's budget as a whole, errors that name
their type, and links to nothing skipped (and listed) by a build that skips problems."""

from __future__ import annotations

import io
import json
import os

import infgram
from infgram import cli

SEARCH_LINE = '{"op": "search", "cnf": [["e"], ["a"], ["t"]], "within": 1000, "seed": %d}'
DOCUMENTS = [f"the cat sat on the mat number {n} and ate a treat" for n in range(40)]


def test_the_batch_command_takes_a_budget_for_the_whole_batch(tmp_path, monkeypatch, capsys):
    infgram.build_from_documents(DOCUMENTS, tmp_path / "index", progress=False)
    lines = "".join(SEARCH_LINE % seed + "\n" for seed in range(50))
    monkeypatch.setattr("sys.stdin", io.StringIO(lines))
    assert cli.main(["batch", str(tmp_path / "index"), "--max-batch-work", "1000"]) == 0
    replies = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(replies) == 50 and "error" not in replies[0]
    assert replies[-1]["error"]["type"] == "LimitError" and replies[-1]["error"]["option"] == "max_batch_work"
    monkeypatch.setattr("sys.stdin", io.StringIO(lines))
    assert cli.main(["batch", str(tmp_path / "index")]) == 0  # no budget as a whole unless asked
    assert all("error" not in json.loads(line) for line in capsys.readouterr().out.splitlines())


def test_an_error_names_its_type(tmp_path, capsys):
    infgram.build_from_documents(DOCUMENTS, tmp_path / "index", progress=False)
    (tmp_path / "index" / "manifest.json").write_text("{ not json", encoding="utf-8")
    assert cli.main(["count", str(tmp_path / "index"), "cat"]) == 1
    error = capsys.readouterr().err.splitlines()
    assert len(error) == 1 and error[0].startswith("infgram: IndexFormatError: "), error


def test_a_link_to_nothing_is_skipped_and_listed_with_on_error_skip(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.jsonl").write_text("".join(json.dumps({"text": text}) + "\n" for text in DOCUMENTS), encoding="utf-8")
    os.symlink(tmp_path / "gone.jsonl", data / "b.jsonl")
    os.symlink(tmp_path / "gone-too.jsonl", tmp_path / "named.jsonl")
    inputs = [str(data), str(tmp_path / "named.jsonl")]
    assert cli.main(["build", "--out", str(tmp_path / "stopped"), *inputs]) == 1
    assert "InputError" in capsys.readouterr().err
    assert cli.main(["build", "--out", str(tmp_path / "index"), *inputs, "--on-error", "skip"]) == 0
    output = capsys.readouterr()
    assert "b.jsonl: skipped: a symbolic link to" in output.out + output.err
    assert infgram.Index.open(tmp_path / "index").num_documents == len(DOCUMENTS)
    report = (tmp_path / "index" / "build-report.json").read_text(encoding="utf-8")
    assert "b.jsonl" in report and "named.jsonl" in report
