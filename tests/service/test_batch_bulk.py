"""Batches answered in bulk reply as one request per line would, byte for byte.

Plain counts take a short path through a batch (a fast parser, one ``count_batch`` for a run
of them, replies from a template); every other line the general one. Whatever mix of lines a
batch holds, and wherever its chunks fall, the replies must be those of answering each line
alone, and the counts those of the brute-force oracle.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import infgram
from infgram import _reference as reference
from infgram.errors import InfgramError, QueryError
from infgram.service import batch
from infgram.service.batch import dump_reply, parse_line, reply_blocks, run_batch
from infgram.service.protocol import error_reply, run_request
from service_fixtures import golden_index, indexes, server  # noqa: F401 (fixtures)

ALPHABET = "ab\u00e9\u2028"
"""Two letters, one of two UTF-8 bytes, and a line separator (a newline to str.splitlines, not to JSON)."""


def one_by_one(index, lines: list[str]) -> list[str]:
    """The replies of answering every non-blank line alone: what a batch must give."""
    replies = []
    for line in lines:
        if not line.strip():
            continue
        try:
            request = parse_line(line)
        except InfgramError as error:
            replies.append(dump_reply(error_reply(None, error)))
            continue
        replies.append(dump_reply(run_request(index, request)))
    return replies


texts = st.text(st.sampled_from(ALPHABET), max_size=5)
PLAIN_COUNTS = st.one_of(
    texts.map(lambda t: json.dumps({"op": "count", "text": t})),
    texts.map(lambda t: json.dumps({"op": "count", "text": t}, ensure_ascii=False)),
    texts.map(lambda t: json.dumps({"op": "count", "text": t}, separators=(",", ":"))),
)
OTHER_LINES = st.one_of(
    st.lists(st.integers(0, 300), max_size=4).map(lambda ids: json.dumps({"op": "count", "ids": ids})),
    st.tuples(texts, st.one_of(st.integers(-3, 3), st.text(max_size=3))).map(
        lambda pair: json.dumps({"op": "count", "text": pair[0], "id": pair[1]})),
    texts.map(lambda t: json.dumps({"text": t, "op": "count"})),  # another order of fields
    texts.map(lambda t: json.dumps({"op": "count", "text": t, "whole_words": True})),
    texts.map(lambda t: json.dumps({"op": "next_tokens", "prompt": t, "top_k": 2})),
    st.sampled_from([
        '{"op": "count", "text": "a\\ud800"}',  # a lone surrogate: the fast parser refuses it
        '{"op": "count", "text": "a\\q"}',  # a bad escape
        '{"op": "count", "text": "a\tb"}',  # a raw control character
        '{"op": "count", "text": "a", "text": "b"}',  # the same field twice
        '{"op": "count", "text": 5}',
        '{"op": "count", "ids": [-9223372036854775809]}',  # a float to orjson, an int to json
        '{"op": "count", "text": "a", "ids": [97]}',
        '{"op": "count", "text": "a", "topk": 3}',
        '{"op": "count", "text": "a"} ',
        '{"op": "count"}',
        '{"op": "count", "text": "a", "id": true}',
        "{not json",
        "[1, 2]",
        "",
        "   ",
    ]),
)
BATCHES = st.lists(st.one_of(PLAIN_COUNTS, PLAIN_COUNTS, OTHER_LINES), max_size=40)
DOCUMENTS = st.lists(st.text(st.sampled_from(ALPHABET), min_size=1, max_size=12), min_size=1, max_size=4)


@settings(max_examples=30, deadline=None)
@given(documents=DOCUMENTS, lines=BATCHES, chunk=st.integers(1, 6), run=st.integers(1, 12))
def test_a_batch_replies_as_its_lines_one_by_one(documents, lines, chunk, run):
    with tempfile.TemporaryDirectory() as folder:
        infgram.build_from_documents(documents, Path(folder) / "index", progress=False)
        index = infgram.Index.open(Path(folder) / "index")
        expected = one_by_one(index, lines)
        with mock.patch.object(batch, "_CHUNK", chunk), mock.patch.object(batch, "_COUNT_RUN", run):
            assert list(run_batch(index, lines)) == expected
            assert "".join(reply_blocks(index, lines)) == "".join(line + "\n" for line in expected)
            # `infgram batch` reads lines with their newline; the replies are the same
            assert list(run_batch(index, [line + "\n" for line in lines])) == expected
        # and every plain count is the oracle's
        corpus = [list(document.encode("utf-8")) for document in documents]
        for line, reply in zip([line for line in lines if line.strip()], expected):
            request = json.loads(line) if "error" not in reply else {}
            if set(request) == {"op", "text"} and request["op"] == "count":
                assert json.loads(reply)["count"] == reference.count(corpus, list(request["text"].encode("utf-8")))


def test_the_count_template_is_what_json_writes():
    for value in (0, 7, 10**15):
        assert batch._COUNT_REPLY % value == dump_reply({"op": "count", "count": value})
    assert batch._COUNTS_START + batch._COUNTS_BETWEEN.join(["1", "2"]) + batch._COUNTS_END + "\n" == \
        dump_reply({"op": "count", "count": 1}) + "\n" + dump_reply({"op": "count", "count": 2}) + "\n"


def test_a_run_of_counts_fits_in_one_count_batch_of_a_server():
    from infgram.service.http import Limits

    assert batch._COUNT_RUN + batch._CHUNK - 1 <= Limits().max_batch_queries


def test_a_run_of_counts_takes_its_lines_at_once_and_stops_when_told(tmp_path):
    infgram.build_from_documents(["a rose is a rose"], tmp_path / "index", progress=False)
    index = infgram.Index.open(tmp_path / "index")
    lines = ['{"op": "count", "text": "rose"}'] * 10_000
    taken: list[int] = []

    def proceed(lines_taken: int) -> bool:
        taken.append(lines_taken)
        return len(taken) <= calls

    calls = 0
    assert list(reply_blocks(index, lines, proceed=proceed)) == []
    assert taken == [10_000]  # one run of counts, taken at once
    calls, taken[:] = 2, []
    with mock.patch.object(batch, "_COUNT_RUN", 4096):
        blocks = list(reply_blocks(index, lines, proceed=proceed))
    assert taken == [4096, 4096, 1808]  # the third run is refused: two blocks of replies, then nothing
    assert [block.count("\n") for block in blocks] == [4096, 4096]
    assert blocks[0] == '{"op": "count", "count": 2}\n' * 4096


def test_a_bad_query_in_a_run_of_counts_gets_its_own_reply(tmp_path):
    infgram.build_from_documents(["a rose is a rose"], tmp_path / "index", progress=False)
    index = infgram.Index.open(tmp_path / "index")
    lines = ['{"op": "count", "text": "rose"}', json.dumps({"op": "count", "text": "x" * 1_000_001}),
             '{"op": "count", "text": "a"}']
    replies = [json.loads(reply) for reply in run_batch(index, lines)]
    assert replies[0] == {"op": "count", "count": 2} and replies[2] == {"op": "count", "count": 2}
    assert replies[1]["error"]["type"] == "QueryError"
    assert list(run_batch(index, lines)) == one_by_one(index, lines)


@pytest.mark.parametrize("text", [
    '{"op": "count", "text": "rose"}\n{"op":"count","text":"a"}\n',        # every line a count: read at once
    '{"op": "count", "text": "rose"}\n\n{"op": "count", "text": "a"}',      # a blank line: line by line
    '{"op": "count", "text": "rose"}\r\n{"op": "count", "text": "a\\u2028"}\n',  # a carriage return: line by line
    '{"op": "count", "text": "rose"}\n{"op": "count", "text": "\\ud800"}\n',     # a lone surrogate: its own error
    '{"op": "count", "text": "rose"}\n{"op": "count", "text": "rose", "id": 3}\n',
    '',
])
def test_a_whole_body_gets_the_replies_its_lines_get_one_by_one(text, golden_index):
    from infgram.service.batch import reply_blocks_of_text, split_lines

    lines = [line for line in split_lines(text) if line.strip()]
    assert "".join(reply_blocks_of_text(golden_index, text)) == "".join(line + "\n" for line in
                                                                       one_by_one(golden_index, lines))
