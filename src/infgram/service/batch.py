"""The JSON Lines batch: one request per line in, one reply per line out, in order.

It carries the requests and replies of :mod:`infgram.service.protocol` (a request's ``id`` is
echoed in its reply, and a field its operation does not define is that line's error). Consecutive
``count`` requests are answered together by ``count_batch``. Every line gets a reply:
invalid JSON, a request too deeply nested to read, or any other failure is that line's
error reply, and the batch goes on. Replies are UTF-8; a lone surrogate in a request
(which JSON allows and UTF-8 cannot hold) is written back escaped.

A batch may have a work budget as a whole (``max_batch_work``, see
:class:`~infgram.query.budget.WorkAccount`): its lines draw on it, and once it is spent every
line left gets a ``LimitError`` naming it. ``proceed``, called before each line, stops the
batch when it returns False (the server's, when its client has gone or it shuts down).

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
from typing import Any, Callable, Iterable, Iterator

from ..errors import InfgramError, QueryError
from ..query.budget import WorkAccount
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


def _answer_chunk(index: Any, lines: list[str], account: WorkAccount | None = None,
                  proceed: Callable[[], bool] | None = None) -> list[dict[str, Any]]:
    replies: list[dict[str, Any] | None] = [None] * len(lines)
    counts: list[tuple[int, Any, Any]] = []
    for number, line in enumerate(lines):
        if proceed is not None and not proceed():
            return []
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
        elif account is None:
            replies[number] = run_request(index, request)
        elif account.exhausted:
            replies[number] = with_id(error_reply(request.get("op") if isinstance(request.get("op"), str) else None,
                                                  account.refusal()), request)
        else:
            with account.drawn_on():
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


def run_batch(index: Any, lines: Iterable[str], max_batch_work: int | None = None,
              proceed: Callable[[], bool] | None = None) -> Iterator[str]:
    """Answer JSON Lines requests; yields one JSON line (without newline) per non-blank input
    line, within a work budget of ``max_batch_work`` units for the batch as a whole (none
    when None), until ``proceed()`` returns False.

    >>> import tempfile, pathlib, infgram
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = infgram.build_from_documents(["a rose is a rose"] * 10, folder / "index", progress=False)
    >>> index = infgram.Index.open(folder / "index")
    >>> lines = ['{"op": "search", "cnf": "rose", "id": 1}', '{"op": "search", "cnf": "rose", "id": 2}']
    >>> [json.loads(reply).get("error", {}).get("option") for reply in run_batch(index, lines, max_batch_work=25)]
    [None, 'max_batch_work']
    """
    account = None if max_batch_work is None else WorkAccount(max_batch_work)
    chunk: list[str] = []
    for line in lines:
        if not line.strip():
            continue
        chunk.append(line)
        if len(chunk) >= _CHUNK:
            replies = _answer_chunk(index, chunk, account, proceed)
            yield from map(dump_reply, replies)
            if len(replies) < len(chunk):
                return
            chunk = []
    if chunk:
        yield from map(dump_reply, _answer_chunk(index, chunk, account, proceed))


__all__ = ["run_batch", "parse_line", "dump_reply", "check_op"]
