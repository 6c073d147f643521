"""The work budget (max_work): answers that can stay exact do, the others are refused by name."""

from __future__ import annotations

import json

import pytest

import infgram
from infgram import _reference as reference
from infgram.service.batch import run_batch

DOCUMENTS = [("ab " * (k % 7 + 1) + "cd " * (k % 3)).strip() for k in range(200)]


@pytest.fixture(scope="module", params=["sa", "fm"])
def index(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"budget-{request.param}")
    infgram.build_from_documents(DOCUMENTS, folder / "index", shard_tokens=500, kind=request.param, progress=False)
    return infgram.Index.open(folder / "index")


def _reference_documents(query: str) -> set[int]:
    return {number for number, text in enumerate(DOCUMENTS) if query in text}


def test_documents_within_the_budget_are_exact(index):
    result = index.documents("cd", limit=5)
    assert result.num_documents_exact and result.num_documents == len(_reference_documents("cd"))


def test_documents_over_the_budget_give_an_exact_lower_bound(index):
    truth = _reference_documents("ab")
    cost = index.count("ab") * index.shard_set.locate_costs[0]
    result = index.documents("ab", limit=1000, max_work=cost // 3)
    assert not result.num_documents_exact
    assert 0 < result.num_documents < len(truth)
    assert {document.index for document in result.documents} <= truth
    assert len(result.documents) == result.num_documents
    full = index.documents("ab", limit=0, max_work=cost // 3, exact=True)
    assert full.num_documents_exact and full.num_documents == len(truth)


def test_the_same_budget_gives_the_same_page(index):
    cost = index.count("ab") * index.shard_set.locate_costs[0]
    first = index.documents("ab", limit=4, seed=3, max_work=cost // 2)
    assert first == index.documents("ab", limit=4, seed=3, max_work=cost // 2)


def test_a_search_over_the_budget_is_refused_naming_the_option(tmp_path):
    infgram.build_from_documents(DOCUMENTS, tmp_path / "index", shard_tokens=500, progress=False)
    index = infgram.Index.open(tmp_path / "index")
    with pytest.raises(infgram.LimitError, match="max_work") as error:
        index.search([["a", "b", "c", "d", " "]], max_work=100)
    assert error.value.option == "max_work" and error.value.limit == 100 and error.value.needed > 100
    exact = index.search([["a", "b", "c", "d", " "]], limit=0, exact=True)
    assert exact.num_documents == len(DOCUMENTS)
    with pytest.raises(infgram.LimitError):
        index.cooccurrence(["a", "b", "c", "d"], max_work=100)
    assert index.cooccurrence(["a", "b", "c", "d"], exact=True).pair_document_counts == \
        [len(reference.documents([list(d.encode()) for d in DOCUMENTS], list(p.encode())) and
             {n for n, d in enumerate(DOCUMENTS) if x in d and y in d}) or 0
         for p in [""] for x, y in [("a", "b"), ("a", "c"), ("a", "d"), ("b", "c"), ("b", "d"), ("c", "d")]]


def test_a_server_ceiling_cannot_be_lifted(tmp_path):
    infgram.build_from_documents(DOCUMENTS, tmp_path / "index", progress=False)
    index = infgram.Index.open(tmp_path / "index")
    index.max_work_ceiling = 50
    assert not index.documents("ab", exact=True).num_documents_exact
    assert not index.documents("ab", max_work=10**9).num_documents_exact


def test_batch_takes_max_work_and_replies_with_typed_fields(tmp_path):
    infgram.build_from_documents(DOCUMENTS, tmp_path / "index", progress=False)
    index = infgram.Index.open(tmp_path / "index")
    replies = [json.loads(r) for r in run_batch(index, [
        '{"op": "documents", "text": "ab", "max_work": 10, "limit": 1}',
        '{"op": "search", "cnf": [["a"]], "max_work": 10}',
    ])]
    assert replies[0]["num_documents_exact"] is False
    assert replies[1]["error"]["type"] == "LimitError"
    assert replies[1]["error"]["option"] == "max_work" and replies[1]["error"]["limit"] == 10


def test_cooccurrence_of_a_thousand_phrases_is_bounded(tmp_path):
    words = [f"w{number}" for number in range(1000)]
    infgram.build_from_documents([" ".join(words[k : k + 40]) for k in range(0, 1000, 7)], tmp_path / "index",
                                 progress=False)
    index = infgram.Index.open(tmp_path / "index")
    with pytest.raises(infgram.LimitError, match="max_work"):
        index.cooccurrence(words, max_work=1_000_000)  # 499,500 pairs
    some = index.cooccurrence(words[:50], max_work=1_000_000)
    assert len(some.pair_document_counts) == 50 * 49 // 2


@pytest.mark.parametrize("whole_words", [False, True])
def test_the_count_read_step_by_step_under_a_progress_bar_is_the_same(index, monkeypatch, whole_words):
    from infgram.query import documents as documents_module

    monkeypatch.setattr(documents_module, "PROGRESS_ROWS", 7)  # many steps, each a few rows of a run
    for query in ("ab", "cd", "b c"):
        plain = index.documents(query, limit=20, exact=True, whole_words=whole_words)
        stepped = index.documents(query, limit=20, exact=True, whole_words=whole_words, progress=True)
        assert stepped == plain and stepped.num_documents_exact


def test_the_cli_takes_the_budget_and_says_when_a_count_is_a_lower_bound(index, run):
    directory = str(index.directories[0])
    result = run("documents", directory, "ab", "--max-work", "20", "--limit", "1")
    assert result.returncode == 0 and result.stdout.startswith("at least ") and "--exact" in result.stdout
    result = run("documents", directory, "ab", "--exact", "--limit", "1")
    assert result.stdout.startswith(f"{len(_reference_documents('ab'))} documents contain the query")
    if not index.supports("search"):
        return
    result = run("search", directory, "ab AND cd", "--max-work", "5")
    assert result.returncode != 0 and "--max-work" in result.stderr and "--exact" in result.stderr
    result = run("search", directory, "ab AND cd", "--exact", "--json")
    assert json.loads(result.stdout)["num_documents"] == len(_reference_documents("ab") & _reference_documents("cd"))


def test_count_and_attribute_take_the_budget_on_the_command_line(tmp_path, run):
    infgram.build_from_documents(["cat sat", "a cat", "cats"], tmp_path / "i", progress=False)
    result = run("count", tmp_path / "i", "cat", "--whole-words", "--max-work", "1")
    assert result.returncode != 0 and "--max-work" in result.stderr
    assert run("count", tmp_path / "i", "cat", "--whole-words", "--exact").stdout.strip() == "2"
    result = run("attribute", tmp_path / "i", "a cat sat", "--whole-words", "--min-length", "1",
                 "--max-work", "1")
    assert result.returncode != 0 and "--max-work" in result.stderr
    result = run("attribute", tmp_path / "i", "a cat sat", "--whole-words", "--min-length", "1", "--exact",
                 "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["spans"]
