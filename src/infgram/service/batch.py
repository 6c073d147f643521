"""The JSON Lines batch: one request per line in, one reply per line out, in order.

It carries the requests and replies of :mod:`infgram.service.protocol` (a request's ``id`` is
echoed in its reply, and a field its operation does not define is that line's error). Consecutive
``count`` requests are answered together by ``count_batch``. Every line gets a reply:
invalid JSON, a request too deeply nested to read, or any other failure is that line's
error reply, and the batch goes on. Replies are UTF-8; a lone surrogate in a request
(which JSON allows and UTF-8 cannot hold) is written back escaped.

>>> import tempfile, pathlib, infgram
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = infgram.build_from_documents(["a rose is a rose"], folder / "index", progress=False)
>>> index = infgram.Index.open(folder / "index")
>>> for reply in run_batch(index, ['{"op": "count", "text": "rose"}', '{"op": "probability", "prompt": "a ", "next": "r"}',
...                                '{"op": "fly"}']):
...     print(reply)
{"op": "count", "count": 2}
{"op": "probability", "prompt_count": 2, "count": 2, "probability": 1.0}
{"op": "fly", "error": {"type": "QueryError", "message": "expected op to be one of count, probability, next_tokens, infgram_probability, infgram_next_tokens, document, documents, search, attribute, longest_matches, infgram_probabilities, cooccurrence, contamination, draft, novelty, creativity, found 'fly'"}}
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator

from ..errors import InfgramError, QueryError
from .protocol import check_op, error_reply, request_id, run_request, sequence, with_id

_CHUNK = 4096
_PLAIN_COUNT = frozenset({"op", "text", "ids", "id"})
"""The fields of a count answered with others in one ``count_batch``."""


def parse_line(line: str) -> dict[str, Any]:
    """One line of the batch as a request object (QueryError if it is not one)."""
    try:
        request = json.loads(line)
    except RecursionError:
        raise QueryError("expected one JSON object per line, found JSON nested too deep to read; flatten it") from None
    except ValueError as error:
        raise QueryError(f"expected one JSON object per line, found invalid JSON ({error})") from None
    if not isinstance(request, dict):
        raise QueryError(f"expected a JSON object per line, found a JSON {type(request).__name__}")
    return request


def dump_reply(reply: dict[str, Any]) -> str:
    """A reply as one line of JSON; text with lone surrogates is escaped rather than lost."""
    line = json.dumps(reply, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = json.dumps(reply, ensure_ascii=True)
    return line


def _answer_chunk(index: Any, lines: list[str]) -> list[dict[str, Any]]:
    replies: list[dict[str, Any] | None] = [None] * len(lines)
    counts: list[tuple[int, Any, Any]] = []
    for number, line in enumerate(lines):
        try:
            request = parse_line(line)
        except InfgramError as error:
            replies[number] = error_reply(None, error)
            continue
        # Plain counts are answered together; a count with options (whole_words, ignore_case,
        # exact_tokens) or whose reply lists forms (a text on a tokenized index) goes alone.
        plain = set(request) <= _PLAIN_COUNT and ("id" not in request or request_id(request) is not None) and \
            ("text" not in request or getattr(getattr(index, "tokenizer", None), "kind", "bytes") != "huggingface")
        if request.get("op") == "count" and plain:
            try:
                counts.append((number, sequence(request), request_id(request)))
            except InfgramError as error:
                replies[number] = with_id(error_reply("count", error), request)
        else:
            replies[number] = run_request(index, request)
    if counts:
        try:
            values = index.count_batch([query for _, query, _ in counts]).tolist()
            for (number, _, identifier), value in zip(counts, values):
                replies[number] = {"op": "count", "count": value} if identifier is None else \
                    {"op": "count", "id": identifier, "count": value}
        except InfgramError:
            for number, query, identifier in counts:  # find which ones are bad, one by one
                request = {"op": "count", "ids" if isinstance(query, list) else "text": query}
                replies[number] = run_request(index, request if identifier is None else {**request, "id": identifier})
    return replies  # type: ignore[return-value]


def run_batch(index: Any, lines: Iterable[str]) -> Iterator[str]:
    """Answer JSON Lines requests; yields one JSON line (without newline) per non-blank input line."""
    chunk: list[str] = []
    for line in lines:
        if not line.strip():
            continue
        chunk.append(line)
        if len(chunk) >= _CHUNK:
            yield from map(dump_reply, _answer_chunk(index, chunk))
            chunk = []
    if chunk:
        yield from map(dump_reply, _answer_chunk(index, chunk))


__all__ = ["run_batch", "parse_line", "dump_reply", "check_op"]
