"""The batch contract: one JSON request per line in, one JSON reply per line out, in order.

Requests are ``{"op": OP, ...}`` with OP one of ``count``, ``probability``, ``next_tokens``,
``infgram_probability``, ``infgram_next_tokens``, ``documents``, ``search`` (``"cnf"``: a list
of clauses, each a list of phrases, a phrase a string or ``{"ids": [...]}``; ``"within"``,
``"limit"``, ``"offset"``, ``"seed"``, ``"context"``), ``attribute``, ``longest_matches``,
``infgram_probabilities`` (a sequence each), ``cooccurrence`` (``"phrases"``, optional
``"pairs"`` of phrase numbers, ``"document_counts"``: true) and ``contamination``. A sequence is ``"text"``
or ``"ids"``; the probability ops take the prompt as ``"prompt"`` or ``"prompt_ids"`` and
the next token as ``"next"`` (a string of exactly one token) or ``"next_id"``; ``contamination``
takes a benchmark entry as ``"text"`` (byte indexes only). Replies carry
``"op"`` and the fields of the result types in ``results.py``; a bad request gets
``{"op", "error": {"type", "message"}}`` and the batch goes on.

Consecutive ``count`` requests are answered together by :meth:`Index.count_batch`.

>>> import tempfile, pathlib, infgram
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = infgram.build_from_documents(["a rose is a rose"], folder / "index", progress=False)
>>> index = infgram.Index.open(folder / "index")
>>> for reply in run_batch(index, ['{"op": "count", "text": "rose"}', '{"op": "probability", "prompt": "a ", "next": "r"}',
...                                '{"op": "fly"}']):
...     print(reply)
{"op": "count", "count": 2}
{"op": "probability", "prompt_count": 2, "count": 2, "probability": 1.0}
{"op": "fly", "error": {"type": "QueryError", "message": "expected op to be one of count, probability, next_tokens, infgram_probability, infgram_next_tokens, documents, search, attribute, longest_matches, infgram_probabilities, cooccurrence, contamination, found 'fly'"}}
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterable, Iterator

from ..errors import InfgramError, QueryError
from ..query.index import Index

_CHUNK = 4096


def _sequence(request: dict[str, Any], text_key: str, ids_key: str, required: bool = True) -> Any:
    if text_key in request and ids_key in request:
        raise QueryError(f"expected either {text_key!r} or {ids_key!r}, found both; keep one")
    if text_key in request:
        value = request[text_key]
        if not isinstance(value, str):
            raise QueryError(f"expected {text_key!r} to be a string, found {type(value).__name__}; use {ids_key!r} for ids")
        return value
    if ids_key in request:
        value = request[ids_key]
        if not isinstance(value, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in value):
            raise QueryError(f"expected {ids_key!r} to be a list of integers, found {json.dumps(value)[:80]}")
        return value
    if required:
        raise QueryError(f"expected the sequence as {text_key!r} (a string) or {ids_key!r} (a list of ids), found neither")
    return ""


def _next(request: dict[str, Any]) -> Any:
    if "next" in request and "next_id" in request:
        raise QueryError("expected either 'next' or 'next_id', found both; keep one")
    if "next_id" in request:
        value = request["next_id"]
        if not isinstance(value, int) or isinstance(value, bool):
            raise QueryError(f"expected 'next_id' to be an integer, found {json.dumps(value)[:80]}")
        return value
    if "next" in request:
        return request["next"]
    raise QueryError("expected the next token as 'next' (a string of one token) or 'next_id', found neither")


def _optional_int(request: dict[str, Any], key: str, default: int | None) -> int | None:
    value = request.get(key, default)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise QueryError(f"expected {key!r} to be an integer, found {json.dumps(value)[:80]}")
    return value


def _prompt(request: dict[str, Any]) -> Any:
    return _sequence(request, "prompt", "prompt_ids")


OPERATIONS: dict[str, Callable[[Index, dict[str, Any]], dict[str, Any]]] = {
    "count": lambda index, r: {"count": index.count(_sequence(r, "text", "ids"))},
    "probability": lambda index, r: index.probability(_prompt(r), _next(r)).to_dict(),
    "next_tokens": lambda index, r: index.next_tokens(_prompt_or_text(r), _optional_int(r, "top_k", None)).to_dict(),
    "infgram_probability": lambda index, r: index.infgram_probability(_prompt(r), _next(r)).to_dict(),
    "infgram_next_tokens": lambda index, r: index.infgram_next_tokens(_prompt_or_text(r), _optional_int(r, "top_k", None)).to_dict(),
    "documents": lambda index, r: index.documents(
        _sequence(r, "text", "ids"), limit=_optional_int(r, "limit", 10), offset=_optional_int(r, "offset", 0),
        seed=_optional_int(r, "seed", None), context=_optional_int(r, "context", None),
    ).to_dict(),
    "search": lambda index, r: index.search(
        _required(r, "cnf"), within=_optional_int(r, "within", None), limit=_optional_int(r, "limit", 10),
        offset=_optional_int(r, "offset", 0), seed=_optional_int(r, "seed", None),
        context=_optional_int(r, "context", None),
    ).to_dict(),
    "attribute": lambda index, r: index.attribute(
        _sequence(r, "text", "ids"), min_length=_optional_int(r, "min_length", None),
        max_count=_optional_int(r, "max_count", 100), examples=_optional_int(r, "examples", 3),
        context=_optional_int(r, "context", None),
    ).to_dict(),
    "longest_matches": lambda index, r: index.longest_matches(_sequence(r, "text", "ids")).to_dict(),
    "infgram_probabilities": lambda index, r: index.infgram_probabilities(_sequence(r, "text", "ids")).to_dict(),
    "cooccurrence": lambda index, r: index.cooccurrence(
        _required(r, "phrases"),
        _required(r, "pairs") if "pairs" in r else None, document_counts=_flag(r, "document_counts"),
    ).to_dict(),
    "contamination": lambda index, r: _contamination(index, r),
}


def _flag(request: dict[str, Any], key: str) -> bool:
    value = request.get(key, False)
    if not isinstance(value, bool):
        raise QueryError(f"expected {key!r} to be true or false, found {json.dumps(value)[:80]}")
    return value


def _required(request: dict[str, Any], key: str) -> Any:
    if key not in request:
        raise QueryError(f"expected {key!r} in a {request.get('op')} request, found only {sorted(request)}")
    value = request[key]
    if key in ("cnf", "phrases", "pairs") and not isinstance(value, list):
        raise QueryError(f"expected {key!r} to be a list, found {json.dumps(value)[:80]}")
    return value




def _contamination(index: Index, request: dict[str, Any]) -> dict[str, Any]:
    from ..apps.contamination import contamination

    text = request.get("text")
    if not isinstance(text, str):
        raise QueryError(f"expected the benchmark entry as 'text' (a string), found {json.dumps(text)[:80]}")
    reply = contamination(index, [text])[0].to_dict()
    del reply["index"]  # the entry is the request itself
    return reply


def _prompt_or_text(request: dict[str, Any]) -> Any:
    """next_tokens accepts the prompt under the names of either form."""
    if any(key in request for key in ("prompt", "prompt_ids")):
        return _prompt(request)
    return _sequence(request, "text", "ids")


def _error(op: Any, error: Exception) -> dict[str, Any]:
    return {"op": op, "error": {"type": type(error).__name__, "message": str(error)}}


def _parse(line: str) -> dict[str, Any]:
    try:
        request = json.loads(line)
    except ValueError as error:
        raise QueryError(f"expected one JSON object per line, found invalid JSON ({error})") from None
    if not isinstance(request, dict):
        raise QueryError(f"expected a JSON object per line, found a JSON {type(request).__name__}")
    op = request.get("op")
    if not isinstance(op, str) or op not in OPERATIONS:
        raise QueryError(f"expected op to be one of {', '.join(OPERATIONS)}, found {op!r}")
    return request


def run_request(index: Index, request: dict[str, Any]) -> dict[str, Any]:
    """Answer one request dict; errors come back as an ``error`` reply, never raised."""
    op = request.get("op") if isinstance(request, dict) else None
    try:
        if not isinstance(op, str) or op not in OPERATIONS:
            raise QueryError(f"expected op to be one of {', '.join(OPERATIONS)}, found {op!r}")
        return {"op": op, **OPERATIONS[op](index, request)}
    except InfgramError as error:
        return _error(op, error)


def _answer_chunk(index: Index, lines: list[str]) -> list[dict[str, Any]]:
    replies: list[dict[str, Any] | None] = [None] * len(lines)
    counts: list[tuple[int, Any]] = []
    for number, line in enumerate(lines):
        try:
            request = _parse(line)
        except InfgramError as error:
            op = None
            try:
                op = json.loads(line).get("op")
            except (ValueError, AttributeError):
                pass
            if not isinstance(op, (str, type(None))):
                op = None
            replies[number] = _error(op, error)
            continue
        if request["op"] == "count":
            try:
                counts.append((number, _sequence(request, "text", "ids")))
            except InfgramError as error:
                replies[number] = _error("count", error)
        else:
            replies[number] = run_request(index, request)
    if counts:
        try:
            values = index.count_batch([query for _, query in counts]).tolist()
            for (number, _), value in zip(counts, values):
                replies[number] = {"op": "count", "count": value}
        except InfgramError:
            for number, query in counts:  # find which ones are bad, one by one
                replies[number] = run_request(index, {"op": "count", "ids" if isinstance(query, list) else "text": query})
    return replies  # type: ignore[return-value]


def run_batch(index: Index, lines: Iterable[str]) -> Iterator[str]:
    """Answer JSON Lines requests; yields one JSON line (without newline) per non-blank input line."""
    chunk: list[str] = []
    for line in lines:
        if not line.strip():
            continue
        chunk.append(line)
        if len(chunk) >= _CHUNK:
            for reply in _answer_chunk(index, chunk):
                yield json.dumps(reply, ensure_ascii=False)
            chunk = []
    if chunk:
        for reply in _answer_chunk(index, chunk):
            yield json.dumps(reply, ensure_ascii=False)
