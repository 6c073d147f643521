"""One name per concept: whole words and case from Python, the command line and batch/HTTP JSON."""

from __future__ import annotations

import json

import infgram
from infgram.service.batch import run_batch

DOCUMENTS = ["sed used enclosed sed", "(sed) Sed SED_x", "é sedé sed\n"]


def test_command_line_and_batch_agree_with_python(tmp_path, run):
    infgram.build_from_documents(DOCUMENTS, tmp_path / "i", progress=False)
    index = infgram.Index.open(tmp_path / "i")
    assert (index.count("sed"), index.count("sed", whole_words=True)) == (7, 4)
    assert index.count("sed", whole_words=True, ignore_case=True) == 5
    assert run("count", tmp_path / "i", "sed", "--whole-words").stdout.strip() == "4"
    assert run("count", tmp_path / "i", "sed", "--whole-words", "--ignore-case").stdout.strip() == "5"
    shown = run("documents", tmp_path / "i", "sed", "--whole-words", "--ignore-case", "--json").stdout
    assert json.loads(shown)["num_documents"] == 3
    found = json.loads(run("search", tmp_path / "i", "sed AND x", "--whole-words", "--json").stdout)
    assert found["num_documents"] == 0  # "SED_x": neither is a whole word there
    lines = [json.dumps(request) for request in (
        {"op": "count", "text": "sed", "whole_words": True},
        {"op": "count", "text": "sed", "whole_words": True, "ignore_case": True},
        {"op": "count", "text": "sed"},
        {"op": "documents", "text": "sed", "whole_words": True, "limit": 0},
        {"op": "search", "cnf": [["sed"]], "whole_words": True, "limit": 0},
        {"op": "cooccurrence", "phrases": ["sed", "x"], "whole_words": True, "document_counts": True},
        {"op": "count", "text": "sed", "whole_words": True, "max_work": 1},
        {"op": "count", "text": "sed", "whole_words": "yes"},
    )]
    replies = [json.loads(line) for line in run_batch(index, lines)]
    assert [reply.get("count") for reply in replies[:3]] == [4, 5, 7]
    assert [form["text"] for form in replies[1]["forms"]] == ["SED", "Sed", "sed"]
    assert replies[3]["num_documents"] == 3 and (replies[4]["num_documents"], replies[4]["sites"]) == (3, 4)
    assert replies[5]["counts"] == [4, 0] and replies[5]["document_counts"] == [3, 0]
    assert replies[6]["error"]["type"] == "LimitError" and replies[6]["error"]["option"] == "max_work"
    assert replies[7]["error"]["type"] == "QueryError" and "whole_words" in replies[7]["error"]["message"]


def test_ignore_case_is_refused_on_a_tokenized_index(tmp_path):
    from conftest import shared_tokenizer

    infgram.build_from_documents(DOCUMENTS, tmp_path / "i", tokenizer=shared_tokenizer("sp32k"), progress=False)
    index = infgram.Index.open(tmp_path / "i")
    try:
        index.count("sed", ignore_case=True)
    except infgram.UnsupportedOperationError as error:
        assert "byte index" in str(error)
    else:
        raise AssertionError("ignore_case on a tokenized index was not refused")
    result = index.search([["sed"]])
    assert result.forms is not None and sum(form.count for form in result.forms[0][0]) == index.count("sed")
    assert index.cooccurrence(["sed", "x"]).forms[0] == index.forms("sed")
