"""``infgram draft``: the prompt argument is always text, even when a file has that name;
``--file`` reads the prompt from a file (or stdin) instead."""

from __future__ import annotations

import json

import pytest

import infgram


@pytest.fixture
def index_path(tmp_path):
    infgram.build_from_documents(["the cat sat on the mat", "prompt.txt is a file name"], tmp_path / "i",
                                 progress=False)
    return tmp_path / "i"


def drafted(result):
    assert result.returncode == 0, result.stderr
    return "".join(token["text"] for token in json.loads(result.stdout)["tokens"])


def test_a_prompt_that_names_a_file_is_still_text(index_path, tmp_path, run, monkeypatch):
    (tmp_path / "prompt.txt").write_text("the cat s")
    monkeypatch.chdir(tmp_path)
    assert drafted(run("draft", index_path, "prompt.txt", "--json", "--max-tokens", "8")) == " is a fi"
    assert drafted(run("draft", index_path, "--file", "prompt.txt", "--json", "--max-tokens", "5")) == "at on"


def test_a_prompt_file_loses_one_final_line_break(index_path, tmp_path, run):
    (tmp_path / "p.txt").write_text("the cat sat on the\n")
    assert drafted(run("draft", index_path, "--file", tmp_path / "p.txt", "--json")) == " mat"
    (tmp_path / "p.txt").write_bytes(b"the cat sat on the\r\n")
    assert drafted(run("draft", index_path, "--file", tmp_path / "p.txt", "--json")) == " mat"
    (tmp_path / "p.txt").write_text("the cat sat on the\n\n")  # only one line break goes: the other is no context
    assert json.loads(run("draft", index_path, "--file", tmp_path / "p.txt", "--json").stdout)["tokens"][0][
        "suffix_length"] == 0
    assert drafted(run("draft", index_path, "--file", "-", "--json", stdin="the cat sat on\n")) == " the mat"
    (tmp_path / "ids.txt").write_text("116, 104, 101, 32, 99\n")
    assert drafted(run("draft", index_path, "--file", tmp_path / "ids.txt", "--ids", "--json",
                       "--max-tokens", "3")) == "at "


def test_a_prompt_must_come_one_way(index_path, tmp_path, run):
    for args in ([], ["text", "--file", tmp_path / "p.txt"]):
        result = run("draft", index_path, *args)
        assert result.returncode == 1 and "expected the prompt as an argument or as --file PATH" in result.stderr
    result = run("draft", index_path, "--file", tmp_path / "missing.txt")
    assert result.returncode == 1 and "cannot read the prompt file" in result.stderr
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9")
    result = run("draft", index_path, "--file", tmp_path / "latin1.txt")
    assert result.returncode == 1 and "not UTF-8" in result.stderr
