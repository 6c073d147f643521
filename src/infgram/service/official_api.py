"""The official infini-gram hosted API's request format, answered by a local server.

Scripts written against the hosted API (``POST https://api.infini-gram.io/`` with a JSON
payload) can point at ``infgram serve`` instead: ``POST /infini-gram/`` takes the same
payloads and answers with the same reply shapes, over any served index (the payload's
``index`` field names a served index; unknown or absent names mean the default one)::

    {"index": "main", "query_type": "count", "query": "natural language processing"}
    {"query_type": "ntd", "query_ids": [5613, 4086]}
    {"query_type": "search_docs", "query": "cat AND dog", "maxnum": 2}

Query types: ``count``, ``prob`` (the last token of the query is the continuation),
``ntd``, ``infgram_prob``, ``infgram_ntd``, ``search_docs``, ``find``, ``get_doc_by_rank``
(``s``, ``rank``), ``get_doc_by_ptr`` (``s``, ``ptr``), ``get_doc_by_ix`` (``doc_ix``) and
``creativity``. A string query is encoded with the index's tokenizer (its exact encoding);
``query_ids`` gives ids. In ``count`` and ``search_docs`` a string with `` AND ``/`` OR ``
is a CNF, as the hosted API reads it. Every reply carries ``token_ids`` and ``tokens`` (the
query's; a document's own for the get_doc_by types) and ``latency`` (milliseconds), and is computed by :mod:`infgram.compat`, so it is
exact (ntd and CNF counts too) and says so as there. A bad payload is an HTTP 400 with
infgram's error body, ``{"error": {"type": "QueryError", "message": ...}}``, the message being
the one the hosted API gives (``answer_payload`` itself returns the hosted ``{"error": message}``).

>>> import tempfile, pathlib, infgram
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = infgram.build_from_documents(["a rose is a rose"], folder / "i", progress=False)
>>> reply = answer_payload(infgram.Index.open(folder / "i"), {"query_type": "count", "query": "rose"})
>>> reply["count"], reply["token_ids"]
(2, [114, 111, 115, 101])
"""

from __future__ import annotations

import time
import weakref
from typing import Any

from ..compat import InfiniGramEngine
from ..errors import InfgramError, QueryError

OFFICIAL_API_PATH = "/infini-gram/"
"""Where ``infgram serve`` answers the hosted API's payloads."""

QUERY_TYPES = ("count", "prob", "ntd", "infgram_prob", "infgram_ntd", "search_docs", "find", "get_doc_by_rank",
               "get_doc_by_ptr", "get_doc_by_ix", "creativity")
_MAXNUM_LIMIT = 10
"""The most documents one search_docs payload returns (as the hosted API)."""


_ENGINES: "weakref.WeakKeyDictionary[Any, InfiniGramEngine]" = weakref.WeakKeyDictionary()


def _engine(index: Any) -> InfiniGramEngine:
    """The compat engine over a served index, made once per index object. Document ends read
    as the id below the separator (the hosted API's eos differs by tokenizer)."""
    engine = _ENGINES.get(index)
    if engine is None:
        engine = InfiniGramEngine(index_dir=[], eos_token_id=index.separator_id - 1, vocab_size=index.separator_id,
                                  token_dtype=f"u{8 * index.token_width}", index=index)
        _ENGINES[index] = engine
    return engine


def _ids(index: Any, payload: dict[str, Any]) -> list[int]:
    if "query_ids" in payload:
        ids = payload["query_ids"]
        if not (isinstance(ids, list) and all(type(i) is int for i in ids)):
            raise QueryError(f"expected query_ids a list of integers, found {str(ids)[:80]!r}")
        return ids
    query = payload.get("query")
    if not isinstance(query, str):
        raise QueryError(f"expected a query string (query) or ids (query_ids), found {str(query)[:80]!r}")
    return [int(i) for i in index.tokenize(query).tolist()] if query else []


def _cnf(index: Any, payload: dict[str, Any]) -> list[list[list[int]]] | None:
    """The CNF of a string query with AND / OR, or None for a plain query."""
    query = payload.get("query")
    if "query_ids" in payload or not isinstance(query, str) or (" AND " not in query and " OR " not in query):
        return None
    return [[[int(i) for i in index.tokenize(phrase).tolist()] for phrase in clause.split(" OR ")]
            for clause in query.split(" AND ")]


def _tokens(index: Any, ids: list[int]) -> list[str]:
    return [index.tokenizer.token_piece(token) if 0 <= token < index.vocab_size else str(token) for token in ids]


def _number(payload: dict[str, Any], name: str, default: int | None = None) -> Any:
    value = payload.get(name, default)
    if value is None:
        raise QueryError(f"expected {name} in the payload, found none")
    return value


def answer_payload(index: Any, payload: Any) -> dict[str, Any]:
    """The hosted API's reply to one payload (``{"error": ...}`` for a bad one, as it answers)."""
    start = time.perf_counter()
    if not isinstance(payload, dict):
        return {"error": f"expected a JSON object payload, found {type(payload).__name__}"}
    query_type = payload.get("query_type")
    if query_type not in QUERY_TYPES:
        return {"error": f"expected query_type one of {', '.join(QUERY_TYPES)}, found {str(query_type)[:40]!r}"}
    engine = _engine(index)
    try:
        ids: list[int] = []
        if query_type in ("get_doc_by_rank", "get_doc_by_ptr", "get_doc_by_ix"):
            disp = payload.get("max_disp_len", engine.max_disp_len)
            if query_type == "get_doc_by_ix":
                reply = engine.get_doc_by_ix(_number(payload, "doc_ix"), disp)
            elif query_type == "get_doc_by_rank":
                reply = engine.get_doc_by_rank(_number(payload, "s", 0), _number(payload, "rank"), disp)
            else:
                reply = engine.get_doc_by_ptr(_number(payload, "s", 0), _number(payload, "ptr"), disp)
        else:
            cnf = _cnf(index, payload) if query_type in ("count", "search_docs") else None
            ids = _ids(index, payload) if cnf is None else [i for clause in cnf for phrase in clause for i in phrase]
            maxnum = payload.get("maxnum", 1)
            if query_type == "search_docs" and not (type(maxnum) is int and 0 < maxnum <= _MAXNUM_LIMIT):
                return {"error": f"maxnum must be an integer in range [1, {_MAXNUM_LIMIT}]"}
            if query_type == "count":
                reply = engine.count_cnf(cnf) if cnf else engine.count(ids)
            elif query_type in ("prob", "infgram_prob"):
                if not ids:
                    return {"error": "expected a query of at least one token (the last is the continuation)"}
                reply = getattr(engine, query_type)(ids[:-1], ids[-1])
            elif query_type == "search_docs":
                disp = payload.get("max_disp_len", engine.max_disp_len)
                reply = engine.search_docs_cnf(cnf, maxnum, disp) if cnf else engine.search_docs(ids, maxnum, disp)
            else:
                reply = getattr(engine, query_type)(ids)
    except InfgramError as error:
        return {"error": str(error)}
    if "error" in reply:
        return reply
    if "result_by_token_id" in reply:
        reply["result_by_token_id"] = {token: {**value, "token": _tokens(index, [token])[0]}
                                       for token, value in reply["result_by_token_id"].items()}
    latency = round((time.perf_counter() - start) * 1000, 3)
    if query_type.startswith("get_doc_by_"):  # the reply is a document: its token_ids are the document's
        return {**reply, "latency": latency}
    return {**reply, "token_ids": ids, "tokens": _tokens(index, ids), "latency": latency}
