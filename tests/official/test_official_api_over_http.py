"""``infgram serve`` answers the official hosted API's payloads at /infini-gram/, over an official
index (replies as the official engine's, recorded) and over an infgram index; bad payloads are 400."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install -e '.[test]'")

from fastapi.testclient import TestClient  # noqa: E402

import infgram  # noqa: E402
from infgram.service.official_api import answer_payload  # noqa: E402
from infgram.service.server import Settings, create_app  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures"
GOLDENS = json.loads((FIXTURES / "goldens.json").read_text())


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("served")
    infgram.build_from_documents(["a rose is a rose", "the cat sat"], folder / "ours", progress=False)
    settings = Settings(indexes=[("official", str(FIXTURES / "u8-one")), ("ours", str(folder / "ours"))], threads=1,
                        expensive_threads=1)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_hosted_payloads_over_an_official_index(client):
    gold = GOLDENS["indexes"]["u8-one"]
    reply = client.post("/infini-gram/", json={"index": "official", "query_type": "count", "query": "rose"})
    assert reply.status_code == 200
    body = reply.json()
    assert body["count"] == gold["count"][1]["count"] and body["token_ids"] == list(b"rose")
    assert body["tokens"] == list("rose") and body["latency"] >= 0
    body = client.post("/infini-gram/", json={"query_type": "prob", "query_ids": list(b"the ")}).json()
    assert (body["prompt_cnt"], body["cont_cnt"]) == (7, 7)
    body = client.post("/infini-gram/", json={"query_type": "ntd", "query": "rose"}).json()
    assert body["prompt_cnt"] == 5 and body["result_by_token_id"]["32"]["cont_cnt"] == 2
    assert body["result_by_token_id"]["32"]["token"] == " " and body["exact"]
    body = client.post("/infini-gram/", json={"query_type": "infgram_prob", "query": "the r" + "a"}).json()
    assert (body["suffix_len"], body["prompt_cnt"], body["cont_cnt"]) == (5, 2, 2)
    body = client.post("/infini-gram/", json={"query_type": "search_docs", "query": "cat AND the", "maxnum": 2}).json()
    assert body["cnt"] > 0 and len(body["documents"]) == 2
    body = client.post("/infini-gram/", json={"query_type": "get_doc_by_ix", "doc_ix": 5}).json()
    assert body["token_ids"] == list(b"rose") and json.loads(body["metadata"])["linenum"] == 5


def test_hosted_payloads_over_an_infgram_index(client):
    body = client.post("/infini-gram/", json={"index": "ours", "query_type": "count", "query": "rose"}).json()
    assert body["count"] == 2
    body = client.post("/infini-gram/", json={"index": "ours", "query_type": "search_docs", "query": "cat"}).json()
    assert body["cnt"] == 1 and body["documents"][0]["doc_ix"] == 1


@pytest.mark.parametrize("payload, message", [
    ({"query_type": "nonsense", "query": "a"}, "query_type"),
    ({"query_type": "count"}, "query string"),
    ({"query_type": "count", "query_ids": "abc"}, "query_ids"),
    ({"query_type": "prob", "query": ""}, "at least one token"),
    ({"query_type": "search_docs", "query": "a", "maxnum": 11}, "maxnum"),
    ({"query_type": "get_doc_by_rank", "s": 0}, "rank"),
    ({"query_type": "get_doc_by_ix", "doc_ix": 10 ** 6}, "doc_ix"),
    ([1, 2], "JSON object"),
])
def test_bad_payloads_are_400_with_the_hosted_message(client, payload, message):
    reply = client.post("/infini-gram/", json=payload)
    assert reply.status_code == 400
    assert reply.json()["error"]["type"] == "QueryError" and message in reply.json()["error"]["message"]
    reply = client.post("/infini-gram/", content=b"{not json")
    assert reply.status_code == 400 and "JSON object" in reply.json()["error"]["message"]
    hosted = answer_payload(infgram.Index.open(FIXTURES / "u8-one"), payload)  # the hosted API's own shape
    assert list(hosted) == ["error"] and message in hosted["error"]
