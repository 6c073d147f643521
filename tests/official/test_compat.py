"""infgram.compat.InfiniGramEngine against the official engine's recorded replies on the same
indexes (fixtures/goldens.json, recorded from infini-gram 2.6.0), including the call shapes
of its documentation and its error dictionaries, and over an infgram index against the oracle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import infgram
from infgram import _reference as reference
from infgram.compat import InfiniGramEngine
from infgram.errors import IndexFormatError, QueryError

FIXTURES = Path(__file__).resolve().parent / "fixtures"
GOLDENS = json.loads((FIXTURES / "goldens.json").read_text())
QUERIES = json.loads((FIXTURES / "queries.json").read_text())
NAMES = ["u8-one", "u8-two", "u16-one", "u16-two"]
SETTINGS = {"u8": dict(eos_token_id=254, vocab_size=255, token_dtype="u8"),
            "u16": dict(eos_token_id=65533, vocab_size=65535, token_dtype="u16")}
EXACT_EXTRA = ("exact",)
"""Our documented extra field: present where the official engine may approximate."""


def normalized(value):
    """JSON's view of a reply (int keys become strings, tuples lists), without our extra fields."""
    value = json.loads(json.dumps(value))
    if isinstance(value, dict):
        return {key: item for key, item in value.items() if key not in EXACT_EXTRA}
    return value


def recorded(name: str):
    """(method, args, kwargs, official reply) of every recorded call on a fixture."""
    dtype = name.split("-")[0]
    for method, calls in QUERIES[dtype].items():
        for call, reply in zip(calls, GOLDENS["indexes"][name][method]):
            if method == "documented":
                yield call["method"], [], call["kwargs"], reply
            else:
                yield method, call["args"], call.get("kwargs", {}), reply


def official_quirk(method: str, args: list, kwargs: dict, reply, engine: InfiniGramEngine) -> str | None:
    """Why a recorded reply is not one we reproduce, or None (see the module docstring of infgram.compat)."""
    if isinstance(reply, dict) and "exception" in reply:
        return "the official engine raised instead of answering"
    if method in ("search_docs", "search_docs_cnf"):
        return "random draws"
    cnf = kwargs["cnf"] if "cnf" in kwargs else args[0] if args else None
    if method in ("count_cnf", "find_cnf") and "error" not in reply and len(cnf) > 1:
        return "the official CNF counts of several clauses are approximate"
    if method == "attribute":
        return None if "error" in reply else "attribution spans are defined differently"
    if method in ("ntd", "infgram_ntd") and engine.token_width == 1 and isinstance(reply, dict) and \
            list(reply.get("result_by_token_id", {})) == [str(engine.eos_token_id)] and reply.get("suffix_len", 1):
        return "the official byte-mode fault: all mass on eos"
    return None


@pytest.fixture(scope="module", params=NAMES)
def engine(request):
    name = request.param
    return name, InfiniGramEngine(index_dir=str(FIXTURES / name), seed=0, **SETTINGS[name.split("-")[0]])


def test_every_recorded_reply_is_reproduced(engine):
    name, compat = engine
    checked = 0
    for method, args, kwargs, reply in recorded(name):
        if official_quirk(method, args, kwargs, reply, compat):
            continue
        mine = getattr(compat, method)(*args, **kwargs)
        if method == "get_total_doc_cnt":
            assert mine == reply
        else:
            assert normalized(mine) == reply, (method, args, kwargs)
        checked += 1
    assert checked > 150


def test_random_draws_are_real_occurrences(engine):
    name, compat = engine
    for method, args, kwargs, reply in recorded(name):
        if method != "search_docs" or "error" in reply:
            continue
        mine = compat.search_docs(*args, **kwargs)
        assert (mine["cnt"], mine["approx"]) == (reply["cnt"], reply["approx"])
        needle = kwargs["input_ids"]
        for document in mine["documents"]:
            offset = document["needle_offset"]
            assert document["token_ids"][offset : offset + len(needle)] == needle[: document["disp_len"] - offset]


def test_exact_where_the_official_engine_samples(engine):
    name, compat = engine
    reply = compat.ntd([], max_support=1)
    assert reply["exact"] and not reply["approx"]
    assert sum(value["cont_cnt"] for value in reply["result_by_token_id"].values()) == reply["prompt_cnt"]
    assert compat.count_cnf([[[1]], [[2]]], max_clause_freq=1)["exact"]


def test_constructor_errors():
    with pytest.raises(QueryError, match="token_dtype u8"):
        InfiniGramEngine(index_dir=str(FIXTURES / "u8-one"), eos_token_id=1, token_dtype="u16")
    with pytest.raises(IndexFormatError, match="out of scope"):
        InfiniGramEngine(index_dir=str(FIXTURES / "u8-one"), eos_token_id=1, token_dtype="u8", version=5)
    with pytest.raises(QueryError, match="eos_token_id"):
        InfiniGramEngine(index_dir=str(FIXTURES / "u8-one"), eos_token_id=300, vocab_size=255, token_dtype="u8")
    with pytest.raises(QueryError, match="token_dtype u8, u16"):
        InfiniGramEngine(index_dir=str(FIXTURES / "u8-one"), eos_token_id=1, token_dtype="u64")
    with pytest.raises(QueryError, match="max_support"):
        InfiniGramEngine(index_dir=str(FIXTURES / "u8-one"), eos_token_id=1, token_dtype="u8", max_support=0)
    compat = InfiniGramEngine(index_dir=str(FIXTURES / "u8-one"), eos_token_id=1, token_dtype="u8")
    assert compat.attribute([1, 2], [], 1, 5, True) == \
        {"error": "enforce_bow is not supported by infgram.compat: pass enforce_bow=False"}


def test_over_an_infgram_index_it_answers_as_the_oracle(tmp_path):
    documents = [[1, 2, 3, 1, 2], [2, 3, 4], [1, 2]]
    infgram.build_from_documents([{"ids": ids} for ids in documents], tmp_path / "index", token_width=2,
                                 shard_tokens=7, progress=False)
    compat = InfiniGramEngine(index_dir=str(tmp_path / "index"), eos_token_id=9, token_dtype="u16")
    assert compat.get_total_doc_cnt() == 3
    for query in ([1], [1, 2], [2, 3], [3, 4], [5], [2, 3, 4]):
        assert compat.count(query)["count"] == reference.count(documents, query)
        expected = {9 if token is None else token: count for token, count in reference.next_tokens(documents, query)}
        assert {token: value["cont_cnt"] for token, value in compat.ntd(query)["result_by_token_id"].items()} == \
            expected
        length, prompt_count, count = reference.infgram_probability(documents, [7] + query, 2)
        prompt_count += 0 if length else len(documents)  # the official empty suffix counts every separator too
        reply = compat.infgram_prob([7] + query, 2)
        assert (reply["suffix_len"], reply["prompt_cnt"], reply["cont_cnt"]) == (length, prompt_count, count)
        found = compat.find(query)
        for s, (lo, hi) in enumerate(found["segment_by_shard"]):
            for rank in range(lo, hi):
                document = compat.get_doc_by_rank(s, rank, max_disp_len=100)
                offset = document["needle_offset"]
                assert document["token_ids"][offset : offset + len(query)] == query
                assert document["token_ids"] == documents[document["doc_ix"]]
    assert compat.creativity([1, 2, 3, 4, 5])["rs"] == [3, 4, 4, 4, 4]  # i + the longest match from i
    _, sites = reference.search(documents, [[[1, 2]], [[3]]], within=2)
    assert compat.count_cnf([[[1, 2]], [[3]]], max_diff_tokens=2)["count"] == len({(d, s) for d, s, _ in sites}) == 3
    reply = compat.attribute([5, 1, 2, 3, 1], [], 2, 5, False)
    assert [(span["l"], span["r"], span["count"]) for span in reply["spans"]] == [(1, 5, 1)]
    assert compat.get_doc_by_ix(1) == {"doc_ix": 1, "doc_len": 3, "disp_len": 3, "needle_offset": 0,
                                       "metadata": "{}", "token_ids": [2, 3, 4], "blocked": False}
    infgram.remove(tmp_path / "index", documents=[1], progress=False)
    compat = InfiniGramEngine(index_dir=str(tmp_path / "index"), eos_token_id=9, token_dtype="u16")
    assert compat.get_doc_by_ix(1)["blocked"] and compat.get_doc_by_ix(1)["token_ids"] == []


from hypothesis import given, settings  # noqa: E402
from test_official_index import official_corpora  # noqa: E402

from infgram.apps.official import write_official_index  # noqa: E402


@settings(deadline=None)
@given(official_corpora())
def test_compat_on_the_official_layout_matches_the_oracle(case):
    import tempfile

    width, alphabet, documents, num_shards, queries = case
    with tempfile.TemporaryDirectory() as folder:
        write_official_index(Path(folder), documents, width, num_shards)
        separator = (1 << (8 * width)) - 1
        eos = separator - 1 if separator - 1 not in alphabet else 2
        if eos in alphabet:
            return
        compat = InfiniGramEngine(index_dir=folder, eos_token_id=eos, vocab_size=separator, token_dtype=f"u{8 * width}")
        order = [number for shard in range(num_shards) for number in range(shard, len(documents), num_shards)]
        corpus = [documents[number] for number in order]
        positions = sum(map(len, corpus)) + len(corpus)  # the official empty query counts every separator
        for query in queries:
            assert compat.count(query)["count"] == (reference.count(corpus, query) if query else positions)
            reply = compat.ntd(query)
            expected = {eos if token is None else token: count for token, count in reference.next_tokens(corpus, query)}
            if not query:
                expected[eos] = expected.get(eos, 0) + len(corpus)
            assert {token: value["cont_cnt"] for token, value in reply["result_by_token_id"].items()} == expected
            for next_id in alphabet:
                length, prompt_count, count = reference.infgram_probability(corpus, query, next_id)
                reply = compat.infgram_prob(query, next_id)
                assert (reply["suffix_len"], reply["prompt_cnt"], reply["cont_cnt"]) == \
                    (length, prompt_count + (0 if length else len(corpus)), count)
            found = compat.find(query)
            for s, (lo, hi) in enumerate(found["segment_by_shard"]):
                for rank in range(lo, min(hi, lo + 3)):
                    document = compat.get_doc_by_rank_2(s, rank, len(query), 2)
                    if query:
                        offset = document["needle_offset"]
                        assert document["token_ids"][offset : offset + len(query)] == query
                    window = document["token_ids"]  # a stretch of its document
                    assert not window or reference.count([corpus[document["doc_ix"]]], window) >= 1
        sequence = [token for query in queries for token in query]
        lengths = [length for length, _ in reference.longest_matches(corpus, sequence)]
        assert compat.creativity(sequence)["rs"] == [start + length for start, length in enumerate(lengths)]
