"""One bad line never kills `infgram batch`: every line gets a reply, in order."""

from __future__ import annotations

import json

import pytest

import infgram
from infgram.service.batch import run_batch


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    folder = tmp_path_factory.mktemp("batch")
    infgram.build_from_documents(["a rose is a rose", "a rose was red"], folder / "index", progress=False)
    return infgram.Index.open(folder / "index")


BAD_LINES = [
    '{"op": "\\ud800"}',  # a lone surrogate: UnicodeEncodeError when the reply was written
    "[" * 5000 + "]" * 5000,  # RecursionError while parsing
    '{"op": "count", "text": ' + "[" * 5000 + "]" * 5000 + "}",
    '{"op": "search", "cnf": [[[1, [2]]]]}',  # ValueError from a ragged phrase
    '{"op": "cooccurrence", "phrases": ["a", "b"], "pairs": [10]}',  # TypeError from a pair
    '{"op": "count", "text": "\\udc80abc"}',
    '{"op": "documents", "text": "rose", "limit": 1e300}',
    '{"op": "documents", "text": "rose", "context": -18446744073709551616}',
    '{"op": "next_tokens", "prompt": ["a"]}',
    '{"op": "search", "cnf": "\\"unclosed"}',
    '{"op": "attribute", "ids": [1, -2]}',
    '{"op": "probability", "prompt": "a", "next": 5.5}',
    "not json at all",
    "null",
    '"just a string"',
]


def test_every_bad_line_gets_an_error_reply_and_the_batch_goes_on(index):
    lines = []
    for bad in BAD_LINES:
        lines += [bad, '{"op": "count", "text": "rose"}']
    replies = [json.loads(reply) for reply in run_batch(index, lines)]
    assert len(replies) == len(lines)
    for number, bad in enumerate(BAD_LINES):
        error, good = replies[2 * number], replies[2 * number + 1]
        assert set(error["error"]) >= {"type", "message"} and error["error"]["type"] == "QueryError", (bad[:60], error)
        assert good == {"op": "count", "count": 3}


def test_a_reply_with_a_lone_surrogate_is_written_escaped(index):
    (reply,) = run_batch(index, ['{"op": "\\ud800"}'])
    reply.encode("utf-8")  # never a UnicodeEncodeError
    assert json.loads(reply)["op"] == "\ud800"


def test_the_cli_batch_survives_bad_lines(index, tmp_path):
    from conftest import run_cli

    text = "\n".join(BAD_LINES + ['{"op": "count", "text": "rose"}']) + "\n"
    result = run_cli("batch", index.directory, input=text)
    assert result.returncode == 0, result.stderr
    replies = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(replies) == len(BAD_LINES) + 1 and replies[-1] == {"op": "count", "count": 3}
