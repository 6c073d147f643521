"""``count_batch`` as one request: many queries in one JSON array, their counts in another.

It is an operation of the one protocol: ``POST /v1/count_batch`` over HTTP, a line of
``/v1/batch`` and of ``infgram batch``, and what ``Client.count_batch`` sends. Its counts are
those of ``Index.count_batch`` in process (with every option it takes, on a byte index and a
tokenized one) and of the brute-force oracle; a bad body is a 4xx JSON error, and its cost is
bounded (the batch body limit, the number of queries, the batch work budget).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import infgram
from infgram import _reference as reference
from infgram.errors import QueryError
from infgram.service.batch import dump_reply, run_batch
from infgram.service.protocol import run_request
from service_fixtures import golden_index, indexes, running_server, server, settings_for  # noqa: F401 (fixtures)

fastapi_testclient = pytest.importorskip("fastapi.testclient")

from infgram.service import client as client_module  # noqa: E402
from infgram.service import server as server_module  # noqa: E402
from infgram.service.server import create_app  # noqa: E402

QUERIES = ["the", "caf\u00e9", "", "The cat", [116, 104, 101], [], "\u2028", 'a "quoted" \\ word', "cat", "at",
           "zebra", "The"]
OPTIONS = [{}, {"exact_tokens": True}, {"whole_words": True}, {"ignore_case": True},
           {"whole_words": True, "ignore_case": True}, {"whole_words": True, "exact": True},
           {"whole_words": True, "max_work": 10_000}]


def _worded(queries: list) -> list:
    return [query for query in queries if query not in ("", [])]  # whole words (or cases) of nothing: an error


@pytest.fixture(scope="module")
def http(indexes):
    with fastapi_testclient.TestClient(create_app(settings_for(indexes, "golden"))) as client:
        yield client


def _error(response, status: int, kind: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["type"] == kind and response.json().get("op") in ("count_batch", None)
    return error


# -- exact: the counts of Index.count_batch ------------------------------------------------------------
@pytest.mark.parametrize("options", OPTIONS, ids=lambda options: "-".join(options) or "plain")
def test_the_client_counts_as_the_index_on_a_byte_index(server, golden_index, options):
    queries = _worded(QUERIES) if options.get("whole_words") else QUERIES
    if options.get("ignore_case"):
        queries = [query for query in _worded(QUERIES) if isinstance(query, str)]  # case variants of text only
    with infgram.Client(server) as client:
        served = client.count_batch(queries * 30, **options)
    assert served.dtype == np.int64
    assert served.tolist() == golden_index.count_batch(queries * 30, **options).tolist()


def test_the_client_counts_as_the_index_on_a_tokenized_index(tmp_path):
    from conftest import build_tokenized_index

    documents = ["We study Natural language and natural languages.", "The natural world, naturally."]
    index = build_tokenized_index(tmp_path / "index", documents, "sp32k")
    queries = ["natural language", "natural", " natural", "Natural", "", "languages.", "xyz", [index.tokenizer.encode(
        "natural")[0]]]
    settings = server_module.Settings(indexes=[("tokens", str(tmp_path / "index"))], threads=1, expensive_threads=1)
    with running_server(settings) as url, infgram.Client(url) as client:
        for options in ({}, {"exact_tokens": True}, {"whole_words": True}):
            chosen = _worded(queries) if options else queries
            assert client.count_batch(chosen, **options).tolist() == index.count_batch(chosen, **options).tolist()
        reply = json.loads(dump_reply(run_request(index, {"op": "count_batch", "queries": queries})))
    assert reply == {"op": "count_batch", "counts": index.count_batch(queries).tolist()}


def test_ids_as_an_array_and_as_lists_of_numpy_numbers(server, golden_index):
    grams = np.array([[116, 104], [104, 101], [97, 116]])
    with infgram.Client(server) as client:
        assert client.count_batch(grams).tolist() == golden_index.count_batch(grams).tolist()
        mixed = [list(row) for row in grams] + [np.array([99, 97, 116]), (116, 104, 101)]
        assert client.count_batch(mixed).tolist() == golden_index.count_batch(mixed).tolist()
        assert client.count_batch(query for query in ["the", "cat"]).tolist() == \
            golden_index.count_batch(["the", "cat"]).tolist()
        assert client.count_batch([]).tolist() == []


@settings(max_examples=40, deadline=None)
@given(documents=st.lists(st.text("ab\u00e9", min_size=1, max_size=12), min_size=1, max_size=4),
       queries=st.lists(st.one_of(st.text("ab\u00e9", max_size=4), st.lists(st.sampled_from([97, 98, 99, 195, 169]),
                                                                            max_size=3)), max_size=20))
def test_the_request_counts_as_the_oracle(tmp_path_factory, documents, queries):
    folder = tmp_path_factory.mktemp("oracle")
    infgram.build_from_documents(documents, folder / "index", progress=False)
    index = infgram.Index.open(folder / "index")
    reply = run_request(index, json.loads(json.dumps({"op": "count_batch", "queries": queries})))
    corpus = [list(document.encode("utf-8")) for document in documents]
    as_ids = [list(query.encode("utf-8")) if isinstance(query, str) else query for query in queries]
    assert reply == {"op": "count_batch", "counts": [reference.count(corpus, query) for query in as_ids]}


@pytest.mark.parametrize("width", [2, 4])
def test_the_request_counts_as_the_oracle_with_wide_tokens(tmp_path, width):
    from conftest import build_id_index

    documents = [[1, 2, 1, 2, 3], [2, 1], [3, 3, 3, 1, 2]]
    index = build_id_index(tmp_path / "index", width, documents, shard_tokens=6)  # documents over two shards
    queries = [[1, 2], [2, 1], [3, 3], [3], [], [1, 2, 3], [2, 3, 3], [4]]
    reply = run_request(index, {"op": "count_batch", "queries": queries})
    assert reply["counts"] == [reference.count(documents, query) for query in queries] == \
        index.count_batch(queries).tolist()


# -- one protocol: every transport answers alike --------------------------------------------------------
def test_http_batch_lines_and_the_command_line_reply_alike(http, indexes, golden_index, run):
    texts = [query for query in _worded(QUERIES) if isinstance(query, str)]  # ignore_case takes text only
    request = {"op": "count_batch", "queries": texts, "ignore_case": True, "id": "q1"}
    expected = dump_reply(run_request(golden_index, request))
    assert json.loads(expected)["counts"] == golden_index.count_batch(texts, ignore_case=True).tolist()
    over_http = http.post("/v1/count_batch", content=json.dumps({k: v for k, v in request.items() if k != "op"}))
    assert over_http.status_code == 200 and over_http.text == expected
    lines = json.dumps(request) + "\n" + json.dumps({"op": "count", "text": "the"}) + "\n"
    assert http.post("/v1/batch", content=lines).text.splitlines()[0] == expected
    assert run("batch", indexes["golden"], stdin=lines).stdout.splitlines()[0] == expected
    assert list(run_batch(golden_index, lines.splitlines()))[0] == expected


def test_the_reply_is_what_json_writes():
    for counts in ([], [0], [3, -1, 10**15], list(range(5000)), [10**30, 1], [True, 2], [1.5, 2]):
        for reply in ({"op": "count_batch", "counts": counts}, {"op": "count_batch", "id": "\ud800", "counts": counts}):
            assert dump_reply(reply) in (json.dumps(reply, ensure_ascii=False), json.dumps(reply))


def test_100_000_plain_counts_fit_the_default_limits(http, golden_index):
    queries = [f"the {n % 97} and a few words"[: 8 + n % 17] for n in range(100_000)]
    reply = http.post("/v1/count_batch", content=json.dumps({"queries": queries}))
    assert reply.status_code == 200
    assert reply.json()["counts"] == golden_index.count_batch(queries).tolist()


# -- refused, with a 4xx JSON error ----------------------------------------------------------------------
@pytest.mark.parametrize("body, status, kind, words", [
    (b"", 400, "QueryError", "empty body"),
    (b"not json", 400, "QueryError", "invalid JSON"),
    (b'{"queries": ["a"]', 400, "QueryError", "invalid JSON"),
    (b'\xff{"queries": ["a"]}', 400, "QueryError", "UTF-8"),
    (b'["the"]', 400, "QueryError", "JSON object"),
    (b"{}", 400, "QueryError", "'queries'"),
    (b'{"queries": 5}', 400, "QueryError", "list of strings and lists of ids"),
    (b'{"queries": {"the": 1}}', 400, "QueryError", "list of strings and lists of ids"),
    (b'{"queries": null}', 400, "QueryError", "list of strings and lists of ids"),
    (b'{"queries": "the"}', 400, "QueryError", "one string"),
    (b'{"queries": ["the", 5]}', 400, "QueryError", "found int"),
    (b'{"queries": ["the", {"ids": [97]}]}', 400, "QueryError", "found dict"),
    (b'{"queries": [[300]]}', 400, "QueryError", "token ids"),
    (b'{"queries": ["a"], "whole_words": "yes"}', 400, "QueryError", "whole_words"),
    (b'{"queries": ["a"], "whole_words": true, "max_work": -1}', 400, "QueryError", "max_work"),
    (b'{"queries": ["a"], "wholewords": true}', 400, "QueryError", "did you mean 'whole_words'"),
    (b'{"querys": ["a"]}', 400, "QueryError", "did you mean 'queries'"),
    (b'{"queries": ["a"], "op": "count"}', 400, "QueryError", "op of the path"),
    (b'{"queries": ["a"], "id": [1]}', 400, "QueryError", "'id'"),
    (b'{"queries": ["a\\ud800"]}', 400, "QueryError", ""),
])
def test_a_bad_body_is_a_4xx_json_error(http, body, status, kind, words):
    error = _error(http.post("/v1/count_batch", content=body), status, kind)
    assert words in error["message"]


def test_the_same_errors_as_in_process(server, golden_index):
    with infgram.Client(server) as client:
        for queries in (["the", "a\ud800"], "the", ["the", [300]], ["the", 1.5], [["a"]]):
            with pytest.raises(QueryError) as local:
                golden_index.count_batch(queries)
            with pytest.raises(QueryError) as served:
                client.count_batch(queries)
            assert str(served.value) == str(local.value), queries
        with pytest.raises(QueryError, match="found int"):
            client.count_batch(5)
        with pytest.raises(QueryError):
            client.count_batch(["", "the"], whole_words=True)


def test_the_cost_is_bounded(indexes):
    limits = server_module.Limits(max_batch_body_bytes=2000, max_batch_queries=100)
    with fastapi_testclient.TestClient(create_app(settings_for(indexes, "golden", limits=limits,
                                                               max_batch_work=200))) as c:
        error = _error(c.post("/v1/count_batch", content=json.dumps({"queries": ["a"] * 101})), 400, "LimitError")
        assert error["option"] == "max_batch_queries" and error["limit"] == 100
        error = _error(c.post("/v1/count_batch", content=json.dumps({"queries": ["the cat"] * 100, "x": "a" * 2000})),
                       413, "RequestTooLargeError")
        assert error["option"] == "max_batch_body_bytes" and error["limit"] == 2000
        chunked = c.post("/v1/count_batch", content=iter([b'{"queries": [' + b'"a", ' * 500 + b'"a"]}']))
        assert _error(chunked, 413, "RequestTooLargeError")["option"] == "max_batch_body_bytes"
        # A count's body limit (max_body_bytes) is not a count_batch's: more than 1,000 bytes is answered.
        assert c.post("/v1/count_batch", content=json.dumps({"queries": ["the cat"] * 100})).status_code == 200
        # Whole-word counts spend the batch's work budget as a whole, as the lines of a batch do.
        error = _error(c.post("/v1/count_batch", content=json.dumps({"queries": ["the"] * 100, "whole_words": True})),
                       400, "LimitError")
        assert "max_batch_work" in error["message"] or error.get("option") in ("max_batch_work", "max_work")
        assert c.post("/v1/count_batch", content=json.dumps({"queries": ["the"] * 2, "whole_words": True})
                      ).status_code == 200


# -- the client: pieces any server takes, two at a time, in order ------------------------------------------
def _sent_bodies(client, monkeypatch) -> list[bytes]:
    sent: list[bytes] = []
    request = client.request

    def counted(method, path, body=None):
        if path == "/v1/count_batch":
            sent.append(body)
        return request(method, path, body)

    monkeypatch.setattr(client, "request", counted)
    return sent


def test_the_client_sends_bodies_any_server_takes(server, golden_index, monkeypatch):
    queries = QUERIES * 200
    with infgram.Client(server) as client:
        sent = _sent_bodies(client, monkeypatch)
        assert client.count_batch(queries).tolist() == golden_index.count_batch(queries).tolist()
        assert len(sent) == 1
        monkeypatch.setattr(client_module, "BATCH_BODY_BYTES", 5000)
        sent.clear()
        assert client.count_batch(queries).tolist() == golden_index.count_batch(queries).tolist()
        assert len(sent) > 1 and max(map(len, sent)) <= 5000
        monkeypatch.setattr(client_module, "BATCH_QUERIES", 100)
        sent.clear()
        texts = [query for query in _worded(queries) if isinstance(query, str)]
        assert client.count_batch(texts, ignore_case=True).tolist() == \
            golden_index.count_batch(texts, ignore_case=True).tolist()
        assert max(len(json.loads(body)["queries"]) for body in sent) <= 100
        assert all(json.loads(body)["ignore_case"] is True for body in sent)


def test_the_client_sends_pieces_two_at_a_time_in_order(server, golden_index, monkeypatch):
    monkeypatch.setattr(client_module, "BATCH_QUERIES", 600)  # so that 2,400 queries go in 4 pieces
    queries = QUERIES * 200
    with infgram.Client(server) as client:
        sent = _sent_bodies(client, monkeypatch)
        assert client.count_batch(queries).tolist() == golden_index.count_batch(queries).tolist()
        assert sorted(len(json.loads(body)["queries"]) for body in sent) == [600] * 4
        with pytest.raises(QueryError):  # an error in any piece is raised, as in process
            client.count_batch(queries[:1500] + ["a\ud800"] + queries[:600])


def test_a_reply_of_the_wrong_length_is_an_error(server, monkeypatch):
    with infgram.Client(server) as client:
        request = client.request
        monkeypatch.setattr(client, "request", lambda method, path, body=None: (
            200, b'{"op": "count_batch", "counts": [1, 2]}') if path == "/v1/count_batch" else request(method, path, body))
        with pytest.raises(infgram.errors.InfgramError, match="expected 3 counts"):
            client.count_batch(["a", "b", "c"])
