"""Tracing (``trace`` and ``attribute(mode="olmotrace")``) through every transport, and its refusals.

Python, the command line, the JSON Lines batch, HTTP and the Client give the same reply;
a bad or over-limit request is an error naming what was expected (over HTTP a 4xx with the
limit's name), never a 500. Ray is checked beside the other operations in
tests/distributed/test_answers.py.
"""

from __future__ import annotations

import json

import pytest
from service_fixtures import running_server

import infgram
from infgram.query.tracing import MAX_DOCUMENTS_PER_SPAN, MAX_TRACE_TOKENS
from infgram.service.batch import run_batch
from infgram.service.protocol import run_request
from infgram.service.server import Settings

DOCUMENTS = ["the cat sat on the mat. the cat was happy.", "a dog sat on a log. the dog was sleepy.",
             "cats and dogs sat on the mat together."]
OUTPUT = "My dog sat on a log. The cat was happy, and so was I."
PROMPT = "Where did the dog sit?"


@pytest.fixture
def index_path(tmp_path):
    infgram.build_from_documents(DOCUMENTS, tmp_path / "i", progress=False)
    return tmp_path / "i"


def test_every_transport_gives_the_same_trace(index_path, run):
    index = infgram.Index.open(index_path)
    result = index.trace(OUTPUT, prompt=PROMPT)
    assert result.idf_source == "retrieved documents" and result.unit == "word"
    assert result.spans and all(span.documents for span in result.spans)
    expected = result.to_dict()
    assert run_request(index, {"op": "trace", "text": OUTPUT, "prompt": PROMPT}) == {"op": "trace", **expected}
    [line] = run_batch(index, [json.dumps({"op": "trace", "text": OUTPUT, "prompt": PROMPT})])
    assert json.loads(line) == {"op": "trace", **json.loads(json.dumps(expected))}
    shown = run("trace", index_path, OUTPUT, "--prompt", PROMPT, "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout) == json.loads(json.dumps(expected))
    plain = run("trace", index_path, OUTPUT, "--prompt", PROMPT)
    assert plain.returncode == 0 and "IDF from the retrieved documents" in plain.stdout
    assert result.spans[0].text in plain.stdout
    attributed = index.attribute(OUTPUT, mode="olmotrace")
    assert [span.text for span in attributed.spans] == [span.text for span in index.trace(OUTPUT).spans]
    cli = json.loads(run("attribute", index_path, OUTPUT, "--mode", "olmotrace", "--json").stdout)
    assert cli == json.loads(json.dumps(attributed.to_dict()))
    settings = Settings(indexes=[("i", str(index_path))], threads=1, expensive_threads=1)
    with running_server(settings) as url:
        with infgram.Client(url) as client:
            assert client.trace(OUTPUT, prompt=PROMPT) == index.trace(OUTPUT, prompt=PROMPT)
            assert client.trace(OUTPUT, documents_per_span=1, context=5) == \
                index.trace(OUTPUT, documents_per_span=1, context=5)
            assert client.attribute(OUTPUT, mode="olmotrace") == attributed
        import urllib.request

        request = urllib.request.Request(url + "/v1/trace", data=json.dumps({"text": OUTPUT, "prompt": PROMPT}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request) as response:
            assert json.loads(response.read()) == {"op": "trace", **json.loads(json.dumps(expected))}


def test_prompt_words_change_the_ranking_not_the_spans(index_path):
    index = infgram.Index.open(index_path)
    plain, asked = index.trace("we sat on the mat"), index.trace("we sat on the mat", prompt="cats dogs together")
    assert [span.text for span in plain.spans] == [span.text for span in asked.spans] == ["sat on the mat"]
    assert sorted(d.index for d in plain.spans[0].documents) == [0, 2]
    assert [d.index for d in asked.spans[0].documents] == [2, 0]  # the prompt's words are in document 2
    assert asked.spans[0].documents[0].score > asked.spans[0].documents[1].score
    assert asked.prompt == "cats dogs together"


def test_token_ids_and_prompt_ids_are_traced(tmp_path):
    infgram.build_from_documents([{"ids": [1, 2, 3, 4]}, {"ids": [3, 4, 5]}], tmp_path / "ids", token_width=2,
                                 progress=False)
    index = infgram.Index.open(tmp_path / "ids")
    result = index.trace([9, 3, 4, 5], prompt=[1, 2])
    assert (result.unit, result.num_units) == ("token", 4)
    assert [(span.start, span.end, [d.index for d in span.documents]) for span in result.spans] == [(1, 4, [1])]
    reply = run_request(index, {"op": "trace", "ids": [9, 3, 4, 5], "prompt_ids": [1, 2]})
    assert reply == {"op": "trace", **result.to_dict()}


def test_bad_and_over_limit_requests_are_refused(index_path):
    index = infgram.Index.open(index_path)
    with pytest.raises(infgram.LimitError, match="documents_per_span") as raised:
        index.trace(OUTPUT, documents_per_span=MAX_DOCUMENTS_PER_SPAN + 1)
    assert (raised.value.option, raised.value.limit) == ("documents_per_span", MAX_DOCUMENTS_PER_SPAN)
    with pytest.raises(infgram.LimitError, match="max_trace_tokens") as raised:
        index.trace("a" * (MAX_TRACE_TOKENS + 1))
    assert raised.value.option == "max_trace_tokens" and raised.value.needed == MAX_TRACE_TOKENS + 1
    with pytest.raises(infgram.LimitError, match="max_trace_tokens"):
        index.trace("a cat", prompt="a" * (9 * MAX_TRACE_TOKENS))
    with pytest.raises(infgram.QueryError, match="documents_per_span"):
        index.trace(OUTPUT, documents_per_span=-1)
    with pytest.raises(infgram.QueryError, match="maximal or olmotrace"):
        index.attribute(OUTPUT, mode="olmo")
    with pytest.raises(infgram.QueryError, match="whole_words only with mode maximal"):
        index.attribute(OUTPUT, mode="olmotrace", whole_words=True)
    with pytest.raises(infgram.UnsupportedOperationError, match="no where with mode olmotrace"):
        index.attribute(OUTPUT, mode="olmotrace", where={"lang": "en"})
    reply = run_request(index, {"op": "attribute", "text": OUTPUT, "mode": "olmotrace", "where": {"lang": "en"}})
    assert reply["error"]["type"] == "UnsupportedOperationError"
    assert run_request(index, {"op": "attribute", "text": OUTPUT, "mode": 3})["error"]["type"] == "QueryError"
    assert run_request(index, {"op": "trace", "text": OUTPUT, "prompt": 3})["error"]["type"] == "QueryError"
    reply = run_request(index, {"op": "trace", "text": OUTPUT, "documents_per_span": 1000})
    assert reply["error"]["type"] == "LimitError" and reply["error"]["option"] == "documents_per_span"
    assert run_request(index, {"op": "trace", "prompt": PROMPT})["error"]["type"] == "QueryError"  # no output
    assert index.trace("").spans == [] and index.trace("zzz qqq").spans == []


def test_http_refuses_with_a_4xx_naming_the_limit(index_path):
    pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install -e '.[test]'")
    from fastapi.testclient import TestClient

    from infgram.service.http import Limits
    from infgram.service.server import create_app

    settings = Settings(indexes=[("i", str(index_path))], threads=1, expensive_threads=1)
    with TestClient(create_app(settings)) as client:
        reply = client.post("/v1/trace", json={"text": OUTPUT, "documents_per_span": 101})
        assert reply.status_code in (400, 422), reply.text
        reply = client.post("/v1/trace", json={"text": "a " * (Limits().max_attribute_tokens + 10)})
        assert reply.status_code == 400 and reply.json()["error"]["option"] == "max_attribute_tokens"
        reply = client.post("/v1/trace", json={"text": OUTPUT, "prompt": "a " * (Limits().max_attribute_tokens + 10)})
        assert reply.status_code == 400 and reply.json()["error"]["option"] == "max_attribute_tokens"
        assert client.post("/v1/trace", json={"text": OUTPUT, "prompt": PROMPT}).status_code == 200


def test_fm_indexes_refuse_naming_what_can(tmp_path):
    infgram.build_from_documents(DOCUMENTS, tmp_path / "fm", kind="fm", progress=False)
    with pytest.raises(infgram.UnsupportedOperationError):
        infgram.Index.open(tmp_path / "fm").trace(OUTPUT)
