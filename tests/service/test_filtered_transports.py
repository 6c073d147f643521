"""``where`` on probability, the ∞-gram operations, search, attribution and contamination, and
``estimate=True`` on counts: the same answer from Python, the batch, HTTP and the Client, and
every way they refuse.

The answers themselves are checked against the oracle in
``tests/query/test_filtered_queries_match_reference.py`` and ``test_estimates.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import infgram
from infgram.apps.contamination import contamination
from infgram.errors import LimitError, QueryError, UnsupportedOperationError
from infgram.service.batch import run_batch
from infgram.service.protocol import run_request

from conftest import run_cli
from service_fixtures import running_server
from infgram.service.server import Settings

DOCUMENTS = [
    {"text": "a rose is a rose", "lang": "en", "year": 1995},
    {"text": "eine rose ist eine rose", "lang": "de", "year": 2001},
    {"text": "une rose", "lang": "fr", "year": "1999"},
    {"text": "rose rose rose is"},
]

DE = {"lang": "de"}

# (op, Python arguments, the same as request fields)
CALLS = [
    ("probability", {"prompt": "rose ", "next_token": "i", "where": DE}, {"prompt": "rose ", "next": "i", "where": DE}),
    ("infgram_probability", {"prompt": "a rose i", "next_token": "s", "where": DE},
     {"prompt": "a rose i", "next": "s", "where": DE}),
    ("infgram_next_tokens", {"prompt": "a rose i", "where": ["lang!=en"]}, {"prompt": "a rose i", "where": ["lang!=en"]}),
    ("infgram_probabilities", {"text": "eine rose", "where": DE}, {"text": "eine rose", "where": DE}),
    ("search", {"cnf": "rose AND (ist OR is)", "where": {"lang": {"in": ["de", "fr"]}}},
     {"cnf": "rose AND (ist OR is)", "where": {"lang": {"in": ["de", "fr"]}}}),
    ("attribute", {"text": "my rose is a rose!", "min_length": 4, "where": {"year": {"lt": 2000}}},
     {"text": "my rose is a rose!", "min_length": 4, "where": {"year": {"lt": 2000}}}),
    ("count", {"query": "rose", "by": "lang", "where": {"year": {"gte": 1990}}, "estimate": True, "max_work": 2},
     {"text": "rose", "by": "lang", "where": {"year": {"gte": 1990}}, "estimate": True, "max_work": 2}),
    ("documents", {"query": "rose", "by": "lang", "estimate": True, "max_work": 6, "limit": 2},
     {"text": "rose", "by": "lang", "estimate": True, "max_work": 6, "limit": 2}),
]


@pytest.fixture(scope="module")
def index_directory(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("filtered") / "index"
    infgram.build_from_documents(DOCUMENTS, directory, shard_tokens=30, progress=False)
    return directory


@pytest.fixture(scope="module")
def index(index_directory):
    return infgram.Index.open(index_directory)


@pytest.fixture(scope="module")
def served(index_directory):
    with running_server(Settings(indexes=[("i", str(index_directory))], threads=1, expensive_threads=1)) as url:
        yield url


def _json(value):
    """A value as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(value))


def test_the_filters_change_the_answers(index):
    assert index.infgram_probability("a rose i", "s").suffix_length == 8
    assert index.infgram_probability("a rose i", "s", where=DE).suffix_length == 7  # " rose i" of "eine rose ist"
    assert index.probability("rose ", "i", where=DE).probability == 1.0
    assert index.search('"a rose" AND is').num_documents == 1
    assert index.search('"a rose" AND is', where=DE).num_documents == 0
    assert [s.text for s in index.attribute("my rose is a rose!", min_length=4, where=DE).spans] == ["rose is", "rose"]
    assert index.count("rose", where={"year": {"gte": 1990}}) == 5  # "1999" reads as a number


@pytest.mark.parametrize("op, arguments, fields", CALLS, ids=[call[0] for call in CALLS])
def test_python_batch_http_and_client_agree(index, served, op, arguments, fields):
    expected = getattr(index, op)(**arguments)
    reply = run_request(index, {"op": op, **fields})
    reply.pop("op")
    assert _json(reply) == _json(expected.to_dict())
    if op in ("count", "documents"):
        assert reply["estimated"] is True and reply["sample_size"] == {"count": 2, "documents": 3}[op]
    [line] = run_batch(index, [json.dumps({"op": op, **fields})])
    assert json.loads(line) == _json({"op": op, **reply})
    with infgram.Client(served) as client:
        assert getattr(client, op)(**arguments) == expected
        status, body = client.request("POST", f"/v1/{op}", json.dumps(fields).encode())
        assert status == 200 and {k: v for k, v in json.loads(body).items() if k != "op"} == _json(reply)


def test_contamination_through_every_transport(index, served):
    expected = contamination(index, ["eine rose ist eine"], width=10, where=DE)[0]
    assert expected.windows == expected.found > 0 and expected.example["document"] == 1
    unfiltered = contamination(index, ["a rose is a"], width=5)[0]
    assert unfiltered.found == 2 and contamination(index, ["a rose is a"], width=5, where=DE)[0].found == 1  # "rose "
    reply = run_request(index, {"op": "contamination", "text": "eine rose ist eine", "where": DE})
    with infgram.Client(served) as client:
        assert client.contamination("eine rose ist eine", where=DE) == {k: v for k, v in reply.items() if k != "op"}
        assert client.contamination("eine rose ist eine", where=["lang=en"])["found"] == 0


def test_a_key_no_document_has_names_the_keys(index, served):
    message = "which no document has; the fields are: lang, year"
    for call in (lambda: index.probability("rose", " ", where={"lng": "de"}),
                 lambda: index.infgram_probability("rose", " ", where={"lng": "de"}),
                 lambda: index.infgram_next_tokens("rose", where={"lng": "de"}),
                 lambda: index.infgram_probabilities("rose", where={"lng": "de"}),
                 lambda: index.search("rose", where={"lng": "de"}),
                 lambda: index.attribute("a rose", min_length=2, where={"lng": "de"}),
                 lambda: contamination(index, ["a rose"], where={"lng": "de"}),
                 lambda: index.count("rose", where={"lng": "de"}, estimate=True, max_work=1)):
        with pytest.raises(QueryError, match=message):
            call()
    with infgram.Client(served) as client:
        status, body = client.request("POST", "/v1/infgram_next_tokens",
                                      json.dumps({"prompt": "rose", "where": {"lng": "de"}}).encode())
        assert status == 400 and message in json.loads(body)["error"]["message"]


def test_past_the_budget_a_limit_error_names_max_work(index_directory, index):
    limited = infgram.Index.open(index_directory)
    limited.max_work_ceiling = 3  # as a server's --max-work sets it
    for call in (lambda: limited.infgram_next_tokens("xyz", where=DE),  # the empty suffix: every token
                 lambda: limited.infgram_probability("rose", "s", where={"lang": "fr"}),
                 lambda: limited.probability("rose", " ", where=DE),
                 lambda: limited.infgram_probabilities("rose", where=DE),
                 lambda: limited.search("rose AND e", where=DE),
                 lambda: limited.attribute("a rose is", min_length=2, where=DE),
                 lambda: limited.count("rose", by="lang", max_work=3)):
        with pytest.raises(LimitError, match="max_work") as raised:
            call()
        assert raised.value.fields["option"] == "max_work" and raised.value.fields["needed"] > 3
    assert limited.count("rose", by="lang", estimate=True).estimated is True  # estimated instead of refused
    # The empty suffix is counted from document lengths (4 units) and the next token's run (8), never every token.
    limited.max_work_ceiling = 12
    assert limited.infgram_probability("xyz", "r", where=DE) == index.infgram_probability("xyz", "r", where=DE)
    assert (index.infgram_probability("xyz", "r", where=DE).prompt_count, limited.probability("", "r", where=DE).count) \
        == (23, 2)
    with pytest.raises(LimitError):
        limited.max_work_ceiling = 11
        limited.infgram_probability("xyz", "r", where=DE)
    assert index.search("rose AND e", where=DE, max_work=100).num_documents == 1


def test_estimates_say_so_and_refuse_what_they_cannot_pay_for(index):
    exact = index.count("rose", by="lang")
    under = index.count("rose", by="lang", estimate=True)
    assert (under.count, under.by, under.missing, under.estimated) == (exact.count, exact.by, exact.missing, False)
    assert "sample_size" not in under.to_dict() and under.to_dict()["estimated"] is False
    assert "estimated" not in exact.to_dict()  # the plain reply is unchanged
    over = index.count("rose", by="lang", estimate=True, max_work=5)
    assert over.estimated and over.sample_size == 5 and over.population == 8
    low, high = over.intervals["count"]
    assert low <= over.count <= high and sum(over.sample["by"].values()) + over.sample["missing"] == 5
    assert index.count("rose", by="lang", estimate=True, max_work=5) == over  # a fixed seed: the same sample
    filtered = index.count("rose", where=DE, estimate=True, max_work=4)
    assert filtered.estimated and filtered.by == {} and filtered.population == 8
    assert index.count("rose", estimate=True) == 8  # a plain count is exact and cheap: a number
    with pytest.raises(LimitError, match="max_work"):
        index.count("rose", by="lang", estimate=True, max_work=0)
    with pytest.raises(QueryError, match="expected estimate to be true or false"):
        index.count("rose", by="lang", estimate="yes")
    reply = run_request(index, {"op": "count", "text": "rose", "by": "lang", "estimate": 1})
    assert "expected 'estimate' to be true or false" in reply["error"]["message"]
    reply = run_request(index, {"op": "count", "text": "rose", "where": DE, "estimate": True, "max_work": 4})
    assert set(reply) == {"op", "count", "estimated", "sample_size", "population", "sample", "intervals"}


def test_document_estimates_say_so_and_refuse_what_they_cannot_pay_for(index):
    exact = index.documents("rose", by="lang")
    under = index.documents("rose", by="lang", estimate=True)
    assert (under.num_documents, under.by, under.missing, under.estimated) == (4, exact.by, exact.missing, False)
    assert "sample_size" not in under.to_dict() and under.to_dict()["estimated"] is False
    assert "estimated" not in exact.to_dict()  # the plain reply is unchanged
    over = index.documents("rose", by="lang", estimate=True, max_work=6)
    assert over.estimated and not over.num_documents_exact and over.population == 8
    assert index.documents("rose", by="lang", estimate=True, max_work=6) == over  # a fixed seed: the same sample
    reply = run_request(index, {"op": "documents", "text": "rose", "by": "lang", "estimate": "yes"})
    assert "expected 'estimate' to be true or false" in reply["error"]["message"]
    reply = run_request(index, {"op": "documents", "text": "rose", "by": "lang", "estimate": True, "max_work": 1})
    assert reply["error"]["type"] == "LimitError" and "one draw at least" in reply["error"]["message"]
    reply = run_request(index, {"op": "documents", "text": "rose", "estimate": True})
    assert "expected estimate with by or where" in reply["error"]["message"]


def test_unsupported_combinations(index, tmp_path):
    with pytest.raises(UnsupportedOperationError, match="whole_words and where"):
        index.attribute("a rose", min_length=2, whole_words=True, where=DE)
    infgram.build_from_documents(DOCUMENTS, tmp_path / "fm", kind="fm", progress=False)
    fm = infgram.Index.open(tmp_path / "fm")
    with pytest.raises(UnsupportedOperationError, match="suffix-array"):
        fm.infgram_next_tokens("rose", where=DE)
    assert fm.count("rose", by="lang", estimate=True, max_work=2 * 3 * 128).estimated  # an FM-index samples too
    assert contamination(fm, ["eine rose ist eine"], width=10, where=DE)[0] == \
        contamination(index, ["eine rose ist eine"], width=10, where=DE)[0]


def test_command_line(index_directory, tmp_path):
    found = run_cli("infgram", index_directory, "a rose i", "--next", "s", "--where", "lang=de", "--json")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["suffix_length"] == 7
    found = run_cli("infgram", index_directory, "a rose i", "--where", "lang=de", "--json")
    assert [token["text"] for token in json.loads(found.stdout)["tokens"]] == ["s"]
    found = run_cli("probability", index_directory, "rose ", "--next", "i", "--where", "lang!=en", "--json")
    assert json.loads(found.stdout)["prompt_count"] == 1
    found = run_cli("search", index_directory, "rose AND ist", "--where", "lang in de,fr", "--json")
    assert json.loads(found.stdout)["num_documents"] == 1
    found = run_cli("attribute", index_directory, "my rose is a rose!", "--min-length", "4", "--where", "year<2000",
                    "--json")
    assert [span["text"] for span in json.loads(found.stdout)["spans"]] == ["rose is a rose"]
    found = run_cli("count", index_directory, "rose", "--by", "lang", "--estimate", "--max-work", "5")
    assert found.returncode == 0, found.stderr
    assert "estimated from 5 of 8 occurrences; 95% interval" in found.stdout
    found = run_cli("count", index_directory, "rose", "--by", "lang", "--max-work", "5")
    assert found.returncode == 1 and "LimitError" in found.stderr and "max_work" in found.stderr
    found = run_cli("documents", index_directory, "rose", "--by", "lang", "--estimate", "--max-work", "6")
    assert found.returncode == 0, found.stderr
    assert "about 3 documents contain the query (estimated from 3 of 8 occurrences; 95% interval" in found.stdout
    found = run_cli("documents", index_directory, "rose", "--by", "lang", "--estimate", "--max-work", "1")
    assert found.returncode == 1 and "LimitError" in found.stderr and "one draw at least" in found.stderr
    (tmp_path / "bench.jsonl").write_text(json.dumps({"text": "eine rose ist eine"}) + "\n")
    found = run_cli("contamination", index_directory, tmp_path / "bench.jsonl", "--where", "lang=en", "--json",
                    "--quiet")
    summary = json.loads(found.stdout)
    assert summary["where"] == ["lang=en"] and summary["labels"]["clean"]["entries"] == 1
    found = run_cli("search", index_directory, "rose", "--where", "lng=de")
    assert found.returncode == 1 and "the fields are: lang, year" in found.stderr
