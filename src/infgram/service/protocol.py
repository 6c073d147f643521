"""The request protocol: every operation by name, its request fields, its reply, its errors.

A request is a JSON object ``{"op": OP, ...fields}``; its reply is ``{"op": OP, ...}`` with
the fields of the operation's result type (:mod:`infgram.query.results`), or
``{"op": OP, "error": {"type", "message"}}``. The JSON Lines batch (:mod:`.batch`) and the
HTTP server carry the same requests and replies, so they cannot drift apart.

The fields of every operation, their defaults and their cost class are defined once, in
:mod:`infgram.query.operations`; requests are read from there. A field the operation does not
define is refused before any other check, naming the nearest valid field (``topk``: did you
mean ``top_k``?). Every request may carry an ``id`` (a string or an integer), echoed in its
reply after ``op``.

Fields by operation (a *sequence* is ``"text"`` (a string) or ``"ids"`` (a list of ids); a
*prompt* is ``"prompt"`` or ``"prompt_ids"``; a *next token* is ``"next"`` (a string of
exactly one token) or ``"next_id"``):

- ``count``: a sequence;
- ``probability``, ``infgram_probability``: a prompt and a next token;
- ``next_tokens``, ``infgram_next_tokens``: a prompt (or a sequence), ``top_k``;
- ``documents``: a sequence, ``limit``, ``offset``, ``seed``, ``context``, ``max_work``;
- ``search``: ``cnf`` (clauses of phrases, a phrase a string or ``{"ids": [...]}``, or a
  query string), ``within``, ``limit``, ``offset``, ``seed``, ``context``, ``max_work``;
- ``attribute``: a sequence, ``min_length``, ``max_count``, ``examples``, ``context``,
  ``whole_words``, ``max_work``, ``mode`` (``maximal`` or ``olmotrace``);
- ``trace``: a sequence (the output), optionally a prompt, ``min_length`` (1),
  ``documents_per_span`` (10), ``context``, ``max_work`` (see :mod:`infgram.query.tracing`);
- ``longest_matches``, ``infgram_probabilities``: a sequence;
- ``cooccurrence``: ``phrases``, optional ``pairs`` (pairs of phrase numbers), ``document_counts``,
  ``max_work``;
- ``contamination``: a benchmark entry as ``"text"`` (byte indexes only);
- ``draft``: a prompt, ``max_tokens`` (16), ``min_probability`` (0), ``min_count`` (1),
  ``max_suffix_tokens`` (none);
- ``novelty``: a sequence, ``max_n`` (20); ``creativity``: a sequence, ``min_length`` (one
  length or a list; default 5 .. 12);
- ``count_batch``: ``queries`` (a list of strings and lists of ids), ``exact_tokens``,
  ``whole_words``, ``ignore_case``, ``max_work`` (each query's budget); its reply is
  ``{"op": "count_batch", "counts": [...]}``, the counts of :meth:`infgram.Index.count_batch`,
  in order. Many counts travel as one JSON array each way, read and written in bulk, not a
  request and a reply per count.

``count``, ``probability``, ``next_tokens``, ``infgram_probability``, ``documents``,
``search`` and ``cooccurrence`` take ``exact_tokens`` (default false): a text on a tokenized
index is otherwise searched in every form it takes in the documents, and on a tokenized
index the replies of ``count``, ``probability``, ``next_tokens`` and ``documents`` to a text
list them as ``forms: [{ids, text, count}]`` (see :mod:`infgram.query.forms`; on a byte
index a text has one form, its UTF-8 bytes, and replies are unchanged).

``count``, ``documents``, ``search`` and ``cooccurrence`` take ``whole_words`` (default false:
keep only occurrences with no word character just before or after; ``count`` then also takes
``max_work``) and ``ignore_case`` (default false; byte indexes: match every case variant,
listed as ``forms``); see :mod:`infgram.query.words`. ``attribute`` takes ``whole_words``
too (spans that are whole words in the text and occur as whole words, see
:mod:`infgram.query.attribution`). ``search`` and ``cooccurrence`` replies
list the forms of their string phrases as ``forms`` (by clause then phrase for ``search``).
On a tokenized index, a request with ``"inside_tokens": true`` whose reply lists ``forms``
also gets ``inside_tokens``: whether its strings also occur starting or ending inside
tokens, which it cannot count; when true, a ``notice`` names them and points to a byte
index (null, with a notice, when that could not be decided; see
:meth:`infgram.Index.inside_tokens_fields`, the same fields as the Python results with
``inside_tokens=True``). It is asked for, not given by default, because it
takes milliseconds (a walk of the vocabulary) where the count takes microseconds.

``count``, ``documents``, ``next_tokens``, ``probability``, ``infgram_probability``,
``infgram_next_tokens``, ``infgram_probabilities``, ``search``, ``attribute`` and
``contamination`` take ``where`` (metadata conditions: the answer of the matching documents
alone, see :mod:`infgram.query.filtering`); ``count`` and ``documents`` take ``by``, and
``count`` and ``documents`` (with ``by`` or ``where``) take ``estimate`` (see
:mod:`infgram.query.estimation`).

``max_work`` sets the request's work budget (:mod:`infgram.query.budget`); a server's
``--max-work`` caps it, and no request can lift that.

Errors map to HTTP statuses by type (:func:`status_of`): a client's mistake is a 4xx, a
damaged index a 503; nothing a client sends is a 500.

>>> import tempfile, pathlib, infgram
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = infgram.build_from_documents(["a rose is a rose"], folder / "index", progress=False)
>>> index = infgram.Index.open(folder / "index")
>>> run_request(index, {"op": "count", "text": "rose"})
{'op': 'count', 'count': 2}
>>> run_request(index, {"op": "fly"})["error"]["type"]
'QueryError'
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from ..apps.contamination import contamination
from ..errors import DocumentRemovedError, IndexFormatError, InfgramError, InputError, QueryError, UnsupportedOperationError
from ..query.operations import REQUESTS as SPECS, Operation as Spec, Parameter, unknown_field


def _show(value: Any) -> str:
    """A short, safe rendering of a request value for an error message."""
    try:
        text = json.dumps(value, ensure_ascii=True)
    except (TypeError, ValueError, RecursionError):
        text = type(value).__name__
    return text if len(text) <= 80 else text[:77] + "..."


def _present(request: dict[str, Any]) -> list[str]:
    """The fields a request gives (its ``id`` aside), for a message about a missing one."""
    return sorted(key for key in request if key != "id")


def sequence(request: dict[str, Any], text_key: str = "text", ids_key: str = "ids", required: bool = True) -> Any:
    """A sequence field: a string under ``text_key`` or a list of ids under ``ids_key``."""
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
            raise QueryError(f"expected {ids_key!r} to be a list of integers, found {_show(value)}")
        return value
    if required:
        raise QueryError(f"expected the sequence as {text_key!r} (a string) or {ids_key!r} (a list of ids), found neither")
    return ""


def next_token(request: dict[str, Any]) -> Any:
    """The next-token field: ``next`` (text of one token) or ``next_id``."""
    if "next" in request and "next_id" in request:
        raise QueryError("expected either 'next' or 'next_id', found both; keep one")
    if "next_id" in request:
        value = request["next_id"]
        if not isinstance(value, int) or isinstance(value, bool):
            raise QueryError(f"expected 'next_id' to be an integer, found {_show(value)}")
        return value
    if "next" in request:
        value = request["next"]
        if not isinstance(value, str):
            raise QueryError(f"expected 'next' to be a string of one token, found {_show(value)}; use 'next_id' for an id")
        return value
    raise QueryError("expected the next token as 'next' (a string of one token) or 'next_id', found neither")


def optional_int(request: dict[str, Any], key: str, default: int | None) -> int | None:
    """An optional whole-number field."""
    value = request.get(key, default)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise QueryError(f"expected {key!r} to be an integer, found {_show(value)}")
    return value


def flag(request: dict[str, Any], key: str) -> bool:
    """An optional true/false field (default false)."""
    value = request.get(key, False)
    if not isinstance(value, bool):
        raise QueryError(f"expected {key!r} to be true or false, found {_show(value)}")
    return value


def _document_number(request: dict[str, Any]) -> int:
    """The required ``document`` field: a global document number."""
    value = optional_int(request, "document", None)
    if value is None:
        raise QueryError(f"expected 'document' (a document number) in a document request, found only {_present(request)}")
    return value


def required_list(request: dict[str, Any], key: str) -> list[Any]:
    """A required list field."""
    if key not in request:
        raise QueryError(f"expected {key!r} in a {request.get('op')} request, found only {_present(request)}")
    value = request[key]
    if not isinstance(value, list):
        raise QueryError(f"expected {key!r} to be a list, found {_show(value)}")
    return value


def prompt(request: dict[str, Any]) -> Any:
    """The prompt of a probability or distribution request."""
    return sequence(request, "prompt", "prompt_ids")


def prompt_or_text(request: dict[str, Any]) -> Any:
    """next_tokens accepts the prompt under the names of either form."""
    if any(key in request for key in ("prompt", "prompt_ids")):
        return prompt(request)
    return sequence(request)


def _cnf(request: dict[str, Any]) -> Any:
    if "cnf" not in request:
        raise QueryError(f"expected 'cnf' in a search request, found only {_present(request)}")
    value = request["cnf"]
    if not isinstance(value, (list, str)):
        raise QueryError(f"expected 'cnf' to be a list of clauses or a query string, found {_show(value)}")
    return value


def _pairs(request: dict[str, Any]) -> Any:
    if "pairs" not in request:
        return None
    pairs = required_list(request, "pairs")
    for pair in pairs:
        if not isinstance(pair, list) or len(pair) != 2 or \
                not all(isinstance(i, int) and not isinstance(i, bool) for i in pair):
            raise QueryError(f"expected each pair to be a list of two phrase numbers, found {_show(pair)}")
    return pairs


def count_reply(index: Any, query: Any, exact_tokens: bool = False, whole_words: bool = False,
                ignore_case: bool = False, max_work: int | None = None, exact: bool = False,
                inside_tokens: bool = False, by: str | None = None, where: Any = None,
                estimate: bool = False) -> dict[str, Any]:
    """The reply to a count (without ``op``): a text query's reply lists the token sequences
    searched (``forms``) on a tokenized index or with ``ignore_case``, and with
    ``inside_tokens`` on a tokenized index whether they leave occurrences out. With ``by``
    it is ``{"count", "by", "missing"}``, with ``where`` the count of the documents meeting it
    (see :mod:`infgram.query.metadata`); with ``estimate`` also ``estimated`` and, when it is
    true, the sample and its intervals (see :mod:`infgram.query.estimation`). ``infgram count
    --json`` prints the same.

    >>> import tempfile, pathlib, infgram
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = infgram.build_from_documents(["a Rose is a rose"], folder / "index", progress=False)
    >>> count_reply(infgram.Index.open(folder / "index"), "rose", ignore_case=True)["count"]
    2
    """
    tokenized = isinstance(query, str) and index.tokenizer.text_has_forms
    if by is not None or where is not None:
        result = index.count(query, exact_tokens, whole_words, ignore_case, max_work, exact, by, where, estimate)
        if by is not None:
            return result.to_dict()
        if isinstance(result, int):
            return {"count": result}
        return {key: value for key, value in result.to_dict().items() if key not in ("by", "missing")} | \
            ({"intervals": {"count": result.intervals["count"]}} if result.intervals else {}) | \
            ({"sample": {"count": result.sample["count"]}} if result.sample else {})
    if whole_words or ignore_case:
        reply: dict[str, Any] = {"count": index.count(query, exact_tokens, whole_words, ignore_case, max_work, exact)}
        if isinstance(query, str) and (ignore_case or tokenized):
            reply["forms"] = [form.to_dict() for form in index.forms(query, exact_tokens, ignore_case)]
    elif not tokenized:  # one form: the query itself
        reply = {"count": index.count(query, exact_tokens)}
    else:
        forms = index.forms(query, exact_tokens)
        reply = {"count": sum(form.count for form in forms), "forms": [form.to_dict() for form in forms]}
    if inside_tokens and tokenized:
        reply.update(index.inside_tokens_fields([query]))  # milliseconds, not microseconds: asked for
    return reply


def _count(index: Any, request: dict[str, Any]) -> dict[str, Any]:
    return count_reply(index, **arguments("count", request), inside_tokens=flag(request, "inside_tokens"))


def _queries(request: dict[str, Any], key: str) -> Any:
    """The required queries of a ``count_batch``: a list (each query is checked by the index,
    as in process), or one string, which the index refuses as in process."""
    if key not in request:
        raise QueryError(f"expected {key!r} in a {request.get('op')} request, found only {_present(request)}")
    value = request[key]
    if not isinstance(value, (list, str)):
        raise QueryError(f"expected {key!r} to be a list of strings and lists of ids, found {_show(value)}")
    return value


def _count_batch(index: Any, request: dict[str, Any]) -> dict[str, Any]:
    return {"counts": index.count_batch(**arguments("count_batch", request)).tolist()}


def _contamination(index: Any, request: dict[str, Any]) -> dict[str, Any]:
    text = request.get("text")
    if not isinstance(text, str):
        raise QueryError(f"expected the benchmark entry as 'text' (a string), found {_show(text)}")
    reply = contamination(index, [text], where=request.get("where"))[0].to_dict()
    del reply["index"]  # the entry is the request itself
    return reply


def _lengths(request: dict[str, Any], key: str) -> Any:
    """One length or a list of them, checked by the operation itself."""
    return request.get(key)


def _number(request: dict[str, Any], key: str, default: Any) -> Any:
    """A number field, checked by the operation itself."""
    return request.get(key, default)


def _choice(request: dict[str, Any], parameter: Parameter) -> str:
    """A field naming one of a few choices (a string; which ones the operation checks)."""
    value = request.get(parameter.field or "", parameter.default)
    if not isinstance(value, str):
        raise QueryError(f"expected {parameter.field!r} to be a string, found {_show(value)}")
    return value


_READERS: dict[str, Callable[[dict[str, Any], Parameter], Any]] = {
    "sequence": lambda r, p: sequence(r, p.field, p.aliases[0][0]),  # type: ignore[arg-type]
    "optional_sequence": lambda r, p: sequence(r, p.field, p.aliases[0][0], required=False),  # type: ignore[arg-type]
    "choice": lambda r, p: _choice(r, p),
    "prompt_or_text": lambda r, p: prompt_or_text(r),
    "next_token": lambda r, p: next_token(r),
    "integer": lambda r, p: optional_int(r, p.field, p.default),  # type: ignore[arg-type]
    "flag": lambda r, p: flag(r, p.field),  # type: ignore[arg-type]
    "number": lambda r, p: _number(r, p.field, p.default),  # type: ignore[arg-type]
    "document_number": lambda r, p: _document_number(r),
    "cnf": lambda r, p: _cnf(r),
    "phrases": lambda r, p: required_list(r, p.field),  # type: ignore[arg-type]
    "pairs": lambda r, p: _pairs(r),
    "lengths": lambda r, p: _lengths(r, p.field),  # type: ignore[arg-type]
    "field": lambda r, p: r.get(p.field),  # type: ignore[arg-type]  (checked by the operation)
    "where": lambda r, p: r.get(p.field),  # type: ignore[arg-type]  (checked by the operation)
    "queries": lambda r, p: _queries(r, p.field),  # type: ignore[arg-type]
}
"""How a request field of each kind (:attr:`~infgram.query.operations.Parameter.kind`) is read."""


def arguments(op: str, request: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of the query method for a request of ``op``, read field by field
    (the fields were checked first: see :func:`check_fields`)."""
    return {parameter.name: _READERS[parameter.kind](request, parameter)
            for parameter in SPECS[op].parameters if parameter.field is not None and parameter.python}


def _answer_by_method(op: str) -> Callable[[Any, dict[str, Any]], dict[str, Any]]:
    """The answer of an operation that is the index method of that name, with its result as a dict."""
    return lambda index, request: getattr(index, op)(**arguments(op, request)).to_dict()


@dataclass(frozen=True)
class Operation:
    """One operation of the protocol: how to answer a request, and what it is (its spec)."""

    answer: Callable[[Any, dict[str, Any]], dict[str, Any]]
    spec: Spec

    @property
    def summary(self) -> str:
        """What it answers, in a line."""
        return self.spec.summary

    @property
    def expensive(self) -> bool:
        """Its cost can grow with the number of occurrences or documents (a server runs such
        operations in their own bounded pool)."""
        return self.spec.expensive


_CUSTOM_ANSWERS: dict[str, Callable[[Any, dict[str, Any]], dict[str, Any]]] = {
    "count": _count,  # its reply adds the forms to a bare number
    "count_batch": _count_batch,  # its reply is an array of numbers
    "contamination": _contamination,  # an application, not an index method
}

OPERATIONS: dict[str, Operation] = {
    name: Operation(_CUSTOM_ANSWERS.get(name) or _answer_by_method(name), spec) for name, spec in SPECS.items()
}
"""Every operation a request can name, in the order of :data:`infgram.query.operations.REQUESTS`."""


class InternalError(InfgramError):
    """A request met a defect of infgram itself (reported, never hidden)."""


STATUS_OF_ERROR: dict[type, int] = {
    QueryError: 400,
    DocumentRemovedError: 410,
    InputError: 400,
    UnsupportedOperationError: 400,
    IndexFormatError: 503,
    InternalError: 500,
}
"""The HTTP status of each error type (the most specific class listed wins)."""


def status_of(error: BaseException) -> int:
    """The HTTP status of an error.

    >>> status_of(QueryError("x")), status_of(IndexFormatError("x"))
    (400, 503)
    """
    for kind in type(error).__mro__:
        if kind in STATUS_OF_ERROR:
            return STATUS_OF_ERROR[kind]
    return 500


def error_reply(op: Any, error: BaseException) -> dict[str, Any]:
    """The reply to a failed request: ``{"op", "error": {"type", "message", ...fields}}``."""
    body: dict[str, Any] = {"type": type(error).__name__, "message": str(error)}
    for key, value in getattr(error, "fields", {}).items():
        body[key] = value
    return {"op": op if isinstance(op, str) else None, "error": body}


def check_op(op: Any) -> str:
    """The operation's name, or a QueryError listing the operations."""
    if not isinstance(op, str) or op not in OPERATIONS:
        raise QueryError(f"expected op to be one of {', '.join(OPERATIONS)}, found {op!r:.80}")
    return op


def check_fields(op: str, request: dict[str, Any]) -> None:
    """Refuse a field the operation does not define, naming the nearest valid one; checked
    before any other field, so a misspelled option is never answered with its default."""
    message = unknown_field(op, request)
    if message is not None:
        raise QueryError(message)


def request_id(request: Any) -> Any:
    """The request's ``id`` (None when it has none, or one of the wrong type)."""
    if not isinstance(request, dict):
        return None
    value = request.get("id")
    return value if isinstance(value, (str, int)) and not isinstance(value, bool) else None


def _check_id(request: dict[str, Any]) -> None:
    if "id" in request and request_id(request) is None:
        raise QueryError(f"expected 'id' to be a string or an integer (echoed in the reply), found "
                         f"{_show(request['id'])}")


def with_id(reply: dict[str, Any], request: Any) -> dict[str, Any]:
    """The reply with the request's ``id`` after its ``op``, when the request has one."""
    identifier = request_id(request)
    if identifier is None:
        return reply
    op = reply.pop("op", None)
    return {"op": op, "id": identifier, **reply}


def run_request(index: Any, request: Any) -> dict[str, Any]:
    """Answer one request dict; every error comes back as an error reply, never raised.

    The checks come in this order: a JSON object, a known ``op``, only fields of that
    operation (see :func:`check_fields`), then the fields' values.

    >>> import tempfile, pathlib, infgram
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = infgram.build_from_documents(["a rose is a rose"], folder / "index", progress=False)
    >>> index = infgram.Index.open(folder / "index")
    >>> run_request(index, {"op": "count", "text": "rose", "id": "q1"})
    {'op': 'count', 'id': 'q1', 'count': 2}
    >>> run_request(index, {"op": "next_tokens", "text": "a", "topk": 3, "id": 7})["error"]["message"]
    "expected the fields of a next_tokens request (prompt, prompt_ids, text, ids, top_k, exact_tokens, inside_tokens, where, and op, id), found 'topk'; did you mean 'top_k'?"
    """
    op = request.get("op") if isinstance(request, dict) else None
    try:
        if not isinstance(request, dict):
            raise QueryError(f"expected a JSON object as a request, found {_show(request)}")
        name = check_op(op)
        check_fields(name, request)
        _check_id(request)
        return with_id({"op": name, **OPERATIONS[name].answer(index, request)}, request)
    except InfgramError as error:
        return with_id(error_reply(op, error), request)
    except RecursionError:
        return with_id(error_reply(op, QueryError("expected a request nested at most a few levels deep, found one "
                                                  "nested too deep to read; flatten it")), request)
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as error:  # a defect: answer it, name it, keep going
        return with_id(error_reply(op, InternalError(f"infgram failed on this request ({type(error).__name__}: "
                                                     f"{str(error)[:200]}); please report it with the request")),
                       request)
