"""``infgram.Client``: an ``infgram serve`` server, queried with the methods of :class:`~infgram.Index`.

The client sends each call as ``POST /v1/{op}`` (``count_batch`` too: its queries in one JSON
array, its counts in another), rebuilds the same result dataclasses from the replies, and
raises the same exception classes as a local index (by the error's ``type``), so code moves
between a local index and a server without change::

    client = infgram.Client("http://127.0.0.1:8000")          # or index="wiki", api_key="..."
    client.count("natural language")
    client.next_tokens("the quick").tokens[0].text

It needs only the standard library and orjson: one keep-alive connection per thread (``http.client``).
A server's ``--max-work`` caps every budget, so ``exact=True`` asks for the most work the
server allows rather than lifting the budget. Its query methods take the parameters of
:class:`~infgram.Index`'s, in the same order (both follow :mod:`infgram.query.operations`);
a parameter that means nothing remotely (``progress``) is accepted and ignored. A field the
server does not know (``client.call("next_tokens", text="a", topk=3)``) is refused with a
:class:`~infgram.errors.QueryError` naming the nearest valid one.
"""

from __future__ import annotations

import dataclasses
import http.client
import inspect
import json
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
import types
import typing
from typing import Any, Callable, Iterable, Iterator, Sequence
from urllib.parse import quote, urlsplit

import numpy as np
from orjson import dumps as _fast_dumps, loads as _fast_loads

from ..errors import InfgramError, QueryError
from ..query.budget import UNLIMITED
from ..query.metadata import CountByResult
from ..query.operations import METHOD_ORDER, OPERATIONS, Parameter
from .http import error_class

_RETRIED = (http.client.RemoteDisconnected, http.client.CannotSendRequest, ConnectionResetError, BrokenPipeError)


def _ids(values: Any) -> list[int]:
    return np.asarray(values).tolist() if isinstance(values, np.ndarray) else [int(i) for i in values]


def _plain(value: Any) -> Any:
    """A value as JSON takes it (numpy integers as ints)."""
    return int(value) if isinstance(value, np.integer) else value


def _phrase(phrase: Any) -> Any:
    if isinstance(phrase, (str, dict)):
        return phrase
    return {"ids": _ids(phrase)}


def _cnf(cnf: Any) -> Any:
    if not isinstance(cnf, str) and isinstance(cnf, Sequence):
        return [[_phrase(phrase) for phrase in clause] if isinstance(clause, Sequence) and not isinstance(clause, str)
                else clause for clause in cnf]
    return cnf


_WRITERS: dict[str, Callable[[Parameter, Any], dict[str, Any]]] = {
    "sequence": lambda p, v: {p.field: v} if isinstance(v, str) else {p.aliases[0][0]: _ids(v)},
    "optional_sequence": lambda p, v: {p.field: v} if isinstance(v, str) else {p.aliases[0][0]: _ids(v)},
    "choice": lambda p, v: {p.field: v},
    "prompt_or_text": lambda p, v: {p.field: v} if isinstance(v, str) else {p.aliases[0][0]: _ids(v)},
    "next_token": lambda p, v: {"next": v} if isinstance(v, str) else {"next_id": int(v)},
    "integer": lambda p, v: {p.field: _plain(v)},
    "flag": lambda p, v: {p.field: v},
    "number": lambda p, v: {p.field: _plain(v)},
    "document_number": lambda p, v: {p.field: _plain(v)},
    "cnf": lambda p, v: {p.field: _cnf(v)},
    "phrases": lambda p, v: {p.field: [_phrase(phrase) for phrase in v]},
    "pairs": lambda p, v: {p.field: [[_plain(i) for i in pair] for pair in v]},
    "lengths": lambda p, v: {p.field: _plain(v) if not isinstance(v, Sequence) else [_plain(i) for i in v]},
    "field": lambda p, v: {p.field: v},
    "where": lambda p, v: {p.field: v if isinstance(v, (dict, str)) else list(v)},
    "queries": lambda p, v: {p.field: v if isinstance(v, str) else [_query(row) for row in v]},
}
"""How a Python argument of each kind (:attr:`~infgram.query.operations.Parameter.kind`) is written in a request."""


def _is_default(parameter: Parameter, value: Any) -> bool:
    default = parameter.default
    return value is default or (type(value) is type(default) and not isinstance(value, np.ndarray) and value == default)


def request_fields(op: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """The request fields of a call of the method ``op`` with these arguments (by parameter
    name): ``exact`` asks for the most work the server allows, ``progress`` means nothing
    remotely, and arguments left at their default are left out (a plain count stays plain)."""
    spec = OPERATIONS[op]
    arguments = {name: value for name, value in arguments.items() if name != "self"}
    if arguments.pop("exact", False):
        arguments["max_work"] = UNLIMITED
    if op in ("count", "count_batch") and not arguments.get("whole_words") and arguments.get("by") is None \
            and arguments.get("where") is None:
        arguments.pop("max_work", None)  # a budget only bounds whole-word counts
    fields: dict[str, Any] = {}
    for parameter in spec.python_parameters():
        if parameter.field is None or parameter.name not in arguments:
            continue
        value = arguments[parameter.name]
        if not parameter.required and (value is None or _is_default(parameter, value)):
            continue
        fields.update(_WRITERS[parameter.kind](parameter, value))
    return fields


def _rebuild(kind: Any, value: Any) -> Any:
    """A value of a reply as the type of the result field it fills (dataclasses, tuples, lists)."""
    if value is None:
        return None
    if dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        return kind(**{f.name: _rebuild(hints[f.name], value[f.name]) for f in dataclasses.fields(kind) if f.name in value})
    origin, arguments = typing.get_origin(kind), typing.get_args(kind)
    if origin is list:
        return [_rebuild(arguments[0], item) for item in value]
    if origin is tuple:
        return tuple(_rebuild(argument, item) for argument, item in zip(arguments, value))
    if origin in (typing.Union, types.UnionType):
        for argument in arguments:
            if argument is not type(None):
                return _rebuild(argument, value)
    return value


BATCH_BODY_BYTES = 4 * 1024 * 1024
"""The largest body :meth:`Client.count_batch` sends in one request (what any server takes,
``--max-body-bytes``' default); more queries go in several requests."""

BATCH_QUERIES = 100_000
"""The most queries :meth:`Client.count_batch` sends in one request (a server's default
``max_batch_queries``)."""


def _query(row: Any) -> Any:
    """A query as JSON takes it (numpy arrays and integers as lists and ints)."""
    if isinstance(row, np.ndarray):
        return row.tolist()
    return [_plain(i) for i in row] if isinstance(row, (list, tuple)) else _plain(row)


def _count_batch_bodies(rows: list[Any], options: dict[str, Any]) -> Iterator[tuple[bytes, int]]:
    """The bodies of ``count_batch`` requests for ``rows`` (each request with ``options``), and
    how many queries each holds: pieces of equal size of at most :data:`BATCH_QUERIES` queries,
    a piece over :data:`BATCH_BODY_BYTES` split in halves, again as needed."""
    pieces = max(1, -(-len(rows) // BATCH_QUERIES))
    size = max(1, -(-len(rows) // pieces))
    for start in range(0, len(rows), size):
        yield from _bodies_of_piece(rows[start:start + size], options)


def _bodies_of_piece(rows: list[Any], options: dict[str, Any]) -> Iterator[tuple[bytes, int]]:
    """The body of one piece of rows, or of its halves when it is over :data:`BATCH_BODY_BYTES`."""
    try:
        body = _fast_dumps({"queries": rows, **options})
    except TypeError:  # a lone surrogate, which UTF-8 cannot hold (escaped, as JSON allows), or numpy values
        try:
            body = json.dumps({"queries": [_query(row) for row in rows], **options}).encode("utf-8")
        except (TypeError, ValueError) as error:
            raise QueryError(f"expected queries of strings or lists of ids, found {str(error)[:100]}") from None
    if len(rows) <= 1 or len(body) <= BATCH_BODY_BYTES:
        yield body, len(rows)
        return
    middle = len(rows) // 2
    yield from _bodies_of_piece(rows[:middle], options)
    yield from _bodies_of_piece(rows[middle:], options)


_COUNTS_START, _COUNTS_END = b'{"op": "count_batch", "counts": [', b"]}"


def _read_counts(status: int, content: bytes) -> np.ndarray:
    """The counts of a ``count_batch`` reply; its error raised. Numbers alone between the
    reply's brackets (as a server writes them) are read at once, in C."""
    if status == 200 and content.startswith(_COUNTS_START) and content.endswith(_COUNTS_END):
        numbers = content[len(_COUNTS_START):-len(_COUNTS_END)]
        if not numbers:
            return np.empty(0, dtype=np.int64)
        if not numbers.translate(None, b"0123456789, -"):
            return np.fromstring(numbers, dtype=np.int64, sep=",")
    try:
        reply = _fast_loads(content)
    except ValueError:
        reply = None
    if status != 200 or not isinstance(reply, dict) or "error" in reply:
        raise _exception(reply, status)
    return np.array(reply["counts"], dtype=np.int64)


def _exception(body: Any, status: int) -> InfgramError:
    """The exception an error reply stands for, of the same class as it would be locally."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return InfgramError(f"expected an infgram error reply from the server, found HTTP {status} with "
                            f"{json.dumps(body)[:200]}; is the address that of `infgram serve`?")
    kind = error_class(error.get("type"))
    message = str(error.get("message", ""))
    fields = {key: value for key, value in error.items() if key not in ("type", "message")}
    try:  # an error with typed fields (LimitError, DocumentRemovedError, ...) takes them back
        return kind(message, **fields)
    except TypeError:
        exception = kind(message)
    if fields:
        exception.fields = fields  # type: ignore[attr-defined]
    return exception


class Client:
    """A served index, with the query methods of :class:`~infgram.Index` (see the module)."""

    def __init__(self, url: str = "http://127.0.0.1:8000", index: str | None = None, api_key: str | None = None,
                 timeout: float = 60.0):
        parts = urlsplit(url if "://" in url else "http://" + url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InfgramError(f"expected a server address such as http://127.0.0.1:8000, found {url!r:.120}")
        self.url = url
        self.index = index
        self._scheme, self._host, self._port = parts.scheme, parts.hostname, parts.port
        self._prefix = parts.path.rstrip("/")
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key is not None:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self.timeout = timeout
        self._local = threading.local()
        self._info: dict[str, Any] | None = None

    # -- the connection -------------------------------------------------------------------------
    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            kind = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
            connection = kind(self._host, self._port, timeout=self.timeout)
            self._local.connection = connection
        return connection

    def close(self) -> None:
        """Close this thread's connection (another call opens a new one)."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exception: Any) -> None:
        self.close()

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """One HTTP exchange on the keep-alive connection (reconnecting once if the server closed it)."""
        target = self._prefix + path
        if self.index is not None and path.startswith("/v1/") and path != "/v1/indexes":
            target += "?index=" + quote(self.index, safe="")
        for attempt in (1, 2):
            connection = self._connection()
            try:
                connection.request(method, target, body=body, headers=self._headers)
                response = connection.getresponse()
                return response.status, response.read()
            except _RETRIED:
                self.close()
                if attempt == 2:
                    raise
            except OSError as error:
                self.close()
                raise InfgramError(f"expected an infgram server at {self.url}, found none answering ({error}); "
                                   "start one with `infgram serve INDEX`") from None
        raise AssertionError("unreachable")

    def call(self, op: str, **fields: Any) -> dict[str, Any]:
        """``POST /v1/{op}`` with ``fields`` (None values left out); the reply, or its error raised."""
        body = json.dumps({key: value for key, value in fields.items() if value is not None}).encode("utf-8")
        status, content = self.request("POST", f"/v1/{op}", body)
        try:
            reply = json.loads(content)
        except ValueError:
            reply = None
        if status != 200 or not isinstance(reply, dict) or "error" in reply:
            raise _exception(reply, status)
        return reply

    # -- the methods of Index -------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """What the served index holds (its ``Index.info()``)."""
        status, content = self.request("GET", "/v1/indexes")
        reply = json.loads(content)
        if status != 200:
            raise _exception(reply, status)
        name = self.index or reply["default"]
        for entry in reply["indexes"]:
            if entry["name"] == name:
                if "error" in entry:
                    raise _exception(entry, 503)
                self._info = entry["info"]
                return dict(entry["info"])
        raise error_class("NotFoundError")(f"expected an index served at {self.url}, found no {name!r}")

    def supports(self, operation: str) -> bool:
        """Whether the served index answers an operation."""
        if self._info is None:
            self.info()
        return operation in (self._info or {}).get("operations", ())

    def _ask(self, op: str, arguments: dict[str, Any]) -> Any:
        """The result of the method ``op`` called with ``arguments`` (its locals), from the server."""
        return _rebuild(OPERATIONS[op].result, self.call(op, **request_fields(op, arguments)))

    # The query methods have the parameters of Index's, in the same order (a test checks them
    # against infgram.query.operations); each sends its arguments through request_fields.
    # Those that only send their arguments and rebuild the result are made from the registry
    # (remote_method, below): adding an operation to the registry adds its Client method.
    def count(self, query: Any, exact_tokens: bool = False, whole_words: bool = False, ignore_case: bool = False,
              max_work: int | None = None, exact: bool = False, by: str | None = None,
              where: Any = None, estimate: bool = False) -> int | CountByResult:
        """Occurrences of a token sequence (text or ids), per value of ``by``, in documents
        meeting ``where``, estimated past the budget with ``estimate``; see :meth:`infgram.Index.count`."""
        reply = self.call("count", **request_fields("count", locals()))
        if by is not None or "estimated" in reply:
            return CountByResult(int(reply["count"]), dict(reply.get("by", {})), int(reply.get("missing", 0)),
                                 reply.get("estimated"), reply.get("sample_size"), reply.get("population"),
                                 reply.get("sample"), reply.get("intervals"))
        return int(reply["count"])

    def count_batch(self, queries: Iterable[Any], exact_tokens: bool = False, whole_words: bool = False,
                    ignore_case: bool = False, max_work: int | None = None, exact: bool = False) -> np.ndarray:
        """The counts of many queries, as an int64 array (``count_batch`` requests of at most
        4 MiB and 100,000 queries each); the options as in :meth:`infgram.Index.count_batch`,
        each query with its own budget."""
        options = request_fields("count_batch", {name: value for name, value in locals().items() if name != "queries"})
        if isinstance(queries, str):  # refused by the index, as in process
            self.call("count_batch", queries=queries, **options)
        try:
            rows = queries.tolist() if isinstance(queries, np.ndarray) else list(queries)
        except TypeError:
            raise QueryError(f"expected a list of queries (strings or id lists), found {type(queries).__name__}") from None

        def counted(body: bytes, size: int) -> np.ndarray:
            status, content = self.request("POST", "/v1/count_batch", body)
            counts = _read_counts(status, content)
            if len(counts) != size:
                raise InfgramError(f"expected {size:,} counts from the server, found {len(counts):,}; retry")
            return counts

        bodies = _count_batch_bodies(rows, options)
        first, second = next(bodies, None), next(bodies, None)
        if second is None:  # one request (up to 100,000 queries): the server counts it on every core
            return counted(*first) if first is not None else np.empty(0, dtype=np.int64)
        # More: two requests in flight, each on its own connection, so that while the server
        # counts one, this process writes the next and reads the last reply.
        with ThreadPoolExecutor(2, thread_name_prefix="infgram-count-batch") as pool:
            pending = deque([pool.submit(counted, *first), pool.submit(counted, *second)])
            done = []
            for body in bodies:
                done.append(pending.popleft().result())
                pending.append(pool.submit(counted, *body))
            done.extend(future.result() for future in pending)
        return np.concatenate(done)

    def contamination(self, text: str, where: Any = None) -> dict[str, Any]:
        """How much of one benchmark entry occurs in the corpus (the reply of the ``contamination`` op),
        or in its documents meeting ``where``."""
        reply = self.call("contamination", text=text, **({} if where is None else {"where": where}))
        reply.pop("op", None)
        return reply


__all__ = ["Client"]


def remote_method(op: str) -> Callable[..., Any]:
    """The :class:`Client` method of the operation ``op``, made from its registry entry
    (:mod:`infgram.query.operations`): the parameters of :class:`~infgram.Index`'s method in
    the same order with the same defaults, sent as the request's fields, the reply rebuilt as
    the result type.

    >>> import inspect
    >>> str(inspect.signature(remote_method("novelty")))
    '(self, text, max_n=20) -> infgram.query.results.NoveltyResult'
    """
    spec = OPERATIONS[op]
    keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD
    signature = inspect.Signature(
        [inspect.Parameter("self", keyword)] +
        [inspect.Parameter(parameter.name, keyword,
                           default=inspect.Parameter.empty if parameter.required else parameter.default)
         for parameter in spec.python_parameters()],
        return_annotation=spec.result if spec.result is not None else Any)

    def method(self: "Client", *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        return self._ask(op, dict(bound.arguments))

    method.__name__ = op
    method.__qualname__ = f"Client.{op}"
    method.__signature__ = signature  # type: ignore[attr-defined]
    method.__doc__ = (f"{spec.summary[:1].upper()}{spec.summary[1:]}, from the server (see :meth:`infgram.Index.{op}`"
                      "; a parameter that means nothing remotely, such as ``progress``, is ignored).")
    return method


def add_remote_methods(client_class: type) -> None:
    """Give ``client_class`` every query method of the registry it does not define itself."""
    for op in METHOD_ORDER:
        if op not in client_class.__dict__:
            setattr(client_class, op, remote_method(op))


add_remote_methods(Client)
