"""``infgram serve``: the request protocol over HTTP (FastAPI + uvicorn), with a web page.

Every operation of :mod:`.protocol` is ``POST /v1/{op}``: the body is the batch request
without ``"op"`` (read as JSON whatever the Content-Type says, so ``curl -d`` works), the
reply is the batch reply, answered by the same :func:`~.protocol.run_request`, so HTTP and
the JSON Lines batch cannot drift. ``?index=NAME`` picks one of the served indexes (the
first by default). ``POST /v1/batch`` takes JSON Lines and streams JSON Lines back
(:func:`~.batch.reply_blocks`); ``POST /v1/count_batch`` takes many queries in one JSON array
and answers their counts in another, both read and written in bulk. ``GET /v1/indexes``
lists the indexes, ``GET /v1/health`` is 200 once they are open, ``GET /metrics`` is in
Prometheus' text format, ``GET /`` is the web page, ``/openapi.json`` and ``/docs`` describe
the API (Swagger UI, served from the package installed with the server, so it needs no network).

An error is never a 200, nor a 500 for anything a client sends: its body is
``{"error": {"type", "message", ...typed fields}}`` and its status follows its type
(:mod:`.http`).

Load: cheap requests never wait behind expensive ones. The cheap operations (count,
probability, next tokens, the ∞-gram, document: :attr:`~.protocol.Operation.expensive` is
false) are answered by :class:`CheapRoute`, plain ASGI ahead of the framework, and on an
index in memory on the event loop itself: they take microseconds, less than a thread
hand-off. Expensive queries run on their own threads (the compiled searches release the
GIL), at most ``expensive_slots`` at once in the whole server, over every worker process
(:class:`ServerSlots`), so a core is left to cheap ones. A request that finds its pool busy
waits in that pool's FIFO queue, and beyond it is answered 503 at once; one still waiting or
running past ``deadline_seconds`` is answered 503 naming that limit; every 429 and 503
carries ``Retry-After``. ``/v1/health`` and ``/metrics`` show each queue's depth. Every request's
work budget is capped by ``--max-work`` (``index.max_work_ceiling``), and :class:`~.http.Limits`
bound body size, attribution length and co-occurrence size, on every transport.
Indexes are memory-mapped: several worker processes (``--workers``) share the page cache.

Safety: read-only, no request names a file, 127.0.0.1 by default, CORS off unless asked,
an optional API key (``--api-key-file``) and rate limit (``--rate-limit``), and a strict
Content-Security-Policy on the page, which shows corpus text as text only.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import hmac
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import types
import typing
import weakref
from collections import OrderedDict, defaultdict, deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, AsyncIterator, Callable, Optional, Union

import h11
from orjson import loads as fast_loads
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, PlainTextResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from swagger_ui_bundle import swagger_ui_path
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..errors import IndexFormatError, InfgramError, QueryError
from ..format import generation_of, read_manifest
from ..query import results
from ..query.budget import DEFAULT_MAX_BATCH_WORK, DEFAULT_MAX_WORK, LIFT_BUDGET, WorkAccount
from ..query.index import Index, index_directories
from ..resources import available_cpus
from ..shards.residency import thread_read_bytes
from .batch import dump_reply, parse_line, reply_blocks_of_text
from .http import (
    GuardedIndex,
    Limits,
    NotFoundError,
    DeadlineExceededError,
    OverCapacityError,
    RateLimitedError,
    UnauthorizedError,
    error_body,
    status_of_type,
    too_large,
)
from ..query.operations import REQUEST_ID_TYPE, REQUESTS as SPECS, Operation as Spec
from .official_api import OFFICIAL_API_PATH, answer_payload
from .protocol import OPERATIONS, InternalError, run_request
from .shared import METRICS_PUBLISH_SECONDS, SharedState, alive, newer
from .verification import Verifier, identity_of

STATIC = Path(__file__).resolve().parent / "static"

CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
"""The page's own script and style only: no inline script, no other origin, no frames."""

SERVED_LIFT_BUDGET = ("narrow the query (a request's max_work can be raised up to the server's ceiling, --max-work, "
                      "which only its operator can raise)")
"""What a refusal over the budget suggests over HTTP, where no request can pass exact=True past the ceiling."""


# -- settings ---------------------------------------------------------------------------------------
@dataclass
class Settings:
    """Everything ``infgram serve`` can be told (also the JSON handed to worker processes)."""

    indexes: list[tuple[str, str]]
    """(name, location) of each served index, the default first."""
    max_work: int = DEFAULT_MAX_WORK
    max_batch_work: int = DEFAULT_MAX_BATCH_WORK
    """The work budget of one ``POST /v1/batch`` as a whole, summed over its lines (and of
    one ``count_batch``, summed over its queries)."""
    limits: Limits = field(default_factory=Limits)
    threads: int = field(default_factory=lambda: max(2, available_cpus()))
    """Threads for cheap operations, per worker process (by default the cores it may use,
    see :func:`infgram.resources.available_cpus`)."""
    expensive_threads: int = field(default_factory=lambda: max(1, available_cpus() // 2))
    """Threads for expensive operations (documents, search, attribution, ...), per worker process."""
    queue: int = 64
    """Requests that may wait for a thread, per pool; beyond them, 503 at once."""
    expensive_slots: int = field(default_factory=lambda: max(1, available_cpus() - 1))
    """Expensive queries running at once in the whole server, over every worker process (by
    default one fewer than the cores, so that one core is always left to cheap requests)."""
    deadline_seconds: float = 30.0
    """How long one request may wait and run before it is dropped with a 503 (0: no deadline)."""
    slot_directory: str | None = None
    """Where worker processes hold the server-wide expensive slots (set by :func:`serve`)."""
    api_keys: list[str] = field(default_factory=list)
    rate_limit: float | None = None
    """Requests a second per client (see :meth:`Service.client`), with bursts of as many; for
    the whole server: the worker processes share the buckets (see :mod:`.shared`)."""
    trusted_proxies: list[str] = field(default_factory=list)
    """Addresses of reverse proxies whose ``X-Forwarded-For`` names the client (no other's is read)."""
    cors: list[str] = field(default_factory=list)
    cache: int = 0
    """Replies kept in an LRU cache, per worker process (0: none)."""
    ray_address: str | None = None
    """Serve shards held by actors of this Ray cluster ('local', 'auto' or an address) instead of in process."""
    reload_seconds: float = 5.0
    """How often each worker looks for a new generation of its indexes (``infgram add``/``remove``/
    ``compact``) and reloads them; 0: only on SIGHUP."""
    load: str = "auto"
    """Where the indexes live while they answer: ``auto``, ``ram`` or ``disk`` (see
    :meth:`infgram.Index.open`). Every worker maps the same files, so the page cache and the
    RAM tier of sampled keys are shared between workers, not copied."""
    query_memory: str | int | None = None
    """The budget of the RAM tier of each index read from disk (default: a quarter of the
    memory available)."""
    verify: bool = True
    """Verify every served index against its checksums in the background (``--verify``, see
    :mod:`.verification`); a damaged one answers 503 from then on."""
    workers: int = 1
    """The server's worker processes (set by :func:`serve`)."""
    shared_directory: str | None = None
    """Where the worker processes keep their shared state (made by :func:`serve`; None: a
    directory of this process's own)."""

    def to_json(self) -> str:
        """The settings as JSON (see :meth:`from_json`)."""
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Settings":
        """Settings from :meth:`to_json`."""
        values = json.loads(text)
        values["indexes"] = [tuple(pair) for pair in values["indexes"]]
        values["limits"] = Limits(**values["limits"])
        return cls(**values)


def index_names(locations: list[str]) -> list[tuple[str, str]]:
    """(name, location) for command-line arguments ``DIR`` or ``NAME=DIR`` (a DIR may be ``a,b``).

    >>> index_names(["idx/wiki", "prose=data/p1,data/p2", "other/wiki"])
    [('wiki', 'idx/wiki'), ('prose', 'data/p1,data/p2'), ('wiki-2', 'other/wiki')]
    """
    named: list[tuple[str, str]] = []
    for argument in locations:
        name, separator, location = argument.partition("=")
        if not separator or not name or "/" in name or "," in name:
            location = argument
            name = index_directories(argument)[0].resolve().name if argument.strip() else ""
            name = name or "index"
        base, number = name, 2
        while any(name == taken for taken, _ in named):
            name, number = f"{base}-{number}", number + 1
        named.append((name, location))
    return named


# -- the OpenAPI models, from the result dataclasses ------------------------------------------------
_PAIR = Annotated[list[int], Field(min_length=2, max_length=2)]
_MODELS_OF_DATACLASSES: dict[type, type[BaseModel]] = {}


def _schema_type(hint: Any) -> Any:
    """A result field's type for the OpenAPI schema: dataclasses become models, pairs lists of two."""
    if dataclasses.is_dataclass(hint):
        return _reply_model(hint.__name__, hint, reply=False)
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:
        return _PAIR
    if origin is list:
        return list[_schema_type(arguments[0])]  # type: ignore[misc]
    if origin in (Union, types.UnionType):
        return Union[tuple(_schema_type(argument) for argument in arguments)]
    return hint


def _reply_model(name: str, result_type: type, leave_out: tuple[str, ...] = (), reply: bool = True) -> type[BaseModel]:
    """A pydantic model of a result dataclass; a reply's has ``op`` too."""
    if not reply and result_type in _MODELS_OF_DATACLASSES:
        return _MODELS_OF_DATACLASSES[result_type]
    hints = typing.get_type_hints(result_type)
    fields: dict[str, Any] = {"op": (Optional[str], None), "id": (Optional[REQUEST_ID_TYPE], None)} if reply else {}
    for item in dataclasses.fields(result_type):
        if item.name in leave_out:
            continue
        if item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING:
            fields[item.name] = (_schema_type(hints[item.name]), ...)
        else:  # a field with a default may be left out of a reply
            fields[item.name] = (Optional[_schema_type(hints[item.name])], None)
    model = create_model(name, __doc__=result_type.__doc__, **fields)
    if not reply:
        _MODELS_OF_DATACLASSES[result_type] = model
    return model


class CountResult(BaseModel):
    """The occurrences of a sequence; a text's ``forms`` on a tokenized index (or with
    ``ignore_case``), and ``inside_tokens`` and ``notice`` when asked for."""

    op: Optional[str] = None
    id: Optional[REQUEST_ID_TYPE] = None
    count: int
    forms: Optional[list[_schema_type(results.Form)]] = None  # type: ignore[misc]
    inside_tokens: Optional[bool] = None
    notice: Optional[str] = None


class CountBatchReply(BaseModel):
    """The counts of the queries, in their order."""

    op: Optional[str] = None
    id: Optional[REQUEST_ID_TYPE] = None
    counts: list[int]


def _camel(op: str) -> str:
    return "".join(part.capitalize() for part in op.split("_"))


REPLY_MODELS: dict[str, type[BaseModel]] = {
    op: CountResult if op == "count" else CountBatchReply if op == "count_batch" else
    _reply_model(_camel(op) + "Reply", spec.result, leave_out=("index",) if op == "contamination" else ())
    for op, spec in SPECS.items()
}
"""The reply of every operation (``op`` may be left out): its result type in the registry
(:mod:`infgram.query.operations`) as a model, ``count`` and ``count_batch`` their own (a
number and its forms; the numbers), and ``contamination`` without ``index`` (the entry is the
request itself)."""


class ErrorDetail(BaseModel):
    """What went wrong: the exception's class name, its message, and typed fields of some types."""

    model_config = ConfigDict(extra="allow")
    type: str
    message: str
    option: Optional[str] = Field(None, description="LimitError: the setting that raises the limit")
    limit: Optional[int] = Field(None, description="LimitError: the limit's value")
    needed: Optional[int] = Field(None, description="LimitError: what the request needs, at least")
    position: Optional[int] = Field(None, description="a malformed search query: the character where it fails")


class ErrorReply(BaseModel):
    """Every error: never a 200, and never a 500 for anything a client sends."""

    op: Optional[str] = None
    id: Optional[REQUEST_ID_TYPE] = None
    error: ErrorDetail


def _request_fields(spec: Spec) -> dict[str, Any]:
    """The model fields of an operation's request: each parameter's JSON field and aliases, and ``id``."""
    fields: dict[str, Any] = {}
    for parameter in spec.parameters:
        if parameter.field is None:
            continue
        limits = {key: value for key, value in (("ge", parameter.minimum), ("le", parameter.maximum)) if value is not None}
        if parameter.required and not parameter.aliases:
            fields[parameter.field] = (parameter.type, Field(..., description=parameter.doc, **limits))
        elif parameter.required:  # one of several names
            fields[parameter.field] = (Optional[parameter.type], Field(None, description=parameter.doc, **limits))
        else:
            fields[parameter.field] = (parameter.type, Field(parameter.default, description=parameter.doc, **limits))
        for alias, annotation in parameter.aliases:
            fields[alias] = (Optional[annotation], Field(None, description=f"instead of {parameter.field}"))
    fields["id"] = (Optional[REQUEST_ID_TYPE], Field(None, description="any string or integer, echoed in the reply"))
    return fields


def _request_model(op: str) -> type[BaseModel]:
    """The request body of ``POST /v1/{op}``, from the registry; a field it does not define is an error."""
    spec = SPECS[op]
    return create_model(_camel(op) + "Request", __doc__=spec.summary, __config__=ConfigDict(extra="forbid"),
                        **_request_fields(spec))


REQUEST_MODELS: dict[str, type[BaseModel]] = {op: _request_model(op) for op in SPECS}
"""The request body of every operation: the batch request without ``op``, built from
:mod:`infgram.query.operations`. The server reads bodies with the protocol's own checks (so
HTTP and batch answer alike, and an unknown field is a 400 naming the nearest valid one);
these models document them."""


class AnyRequest(BaseModel):
    """The fields of the operation (see the protocol's documentation)."""

    model_config = ConfigDict(extra="allow")


class AnyReply(BaseModel):
    """The fields of the operation's result."""

    model_config = ConfigDict(extra="allow")
    op: Optional[str] = None


def request_model(op: str) -> type[BaseModel]:
    """The documented request body of an operation (an open object for one without a model yet)."""
    return REQUEST_MODELS.get(op, AnyRequest)


def reply_model(op: str) -> type[BaseModel]:
    """The documented reply of an operation (an open object for one without a model yet)."""
    return REPLY_MODELS.get(op, AnyReply)


_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorReply, "description": description} for status, description in (
        (400, "a malformed request, or one over a limit (QueryError, LimitError, UnsupportedOperationError)"),
        (401, "no valid API key (UnauthorizedError)"),
        (404, "no such index (NotFoundError)"),
        (413, "the body is too large (RequestTooLargeError)"),
        (429, "too many requests a second (RateLimitedError)"),
        (500, "a defect of infgram (InternalError)"),
        (503, "over capacity (OverCapacityError) or a damaged index (IndexFormatError)"),
    )
}


_INDEX_NAME_LENGTH = 200
_INDEX_PARAMETER = Query(None, max_length=_INDEX_NAME_LENGTH, description="the served index to ask (default: the first; see "
                                                          "GET /v1/indexes)")

# -- running queries: two bounded pools and a bounded queue -----------------------------------------
EXPENSIVE_NICENESS = 10
"""Expensive threads run at this lower priority (Linux schedules threads one by one), so
that the event loop and cheap queries get the cores first when both wait."""


def _yield_to_cheap_work() -> None:
    """Lower the calling thread's priority, and make the GIL change hands often (every
    millisecond), so a query holding it cannot delay a cheap one for long."""
    sys.setswitchinterval(0.001)
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), EXPENSIVE_NICENESS)
    except (AttributeError, OSError):  # not Linux, or not allowed: priorities stay equal
        pass


class ServerSlots:
    """At most ``count`` expensive queries running at once across every worker process of one
    server: a slot is an exclusive ``flock`` on one of ``count`` files of a directory the
    workers share (the kernel drops it with the process, so a dead worker frees its slot).
    A worker looks for a slot only while it holds the turnstile (one more lock file): the
    worker that has just given a slot back cannot take it again ahead of one already waiting,
    so every worker's expensive requests get their turn.

    >>> import tempfile, time
    >>> directory = tempfile.mkdtemp()
    >>> one, other = ServerSlots(directory, 1), ServerSlots(directory, 1)
    >>> held = one.acquire(None)
    >>> other.acquire(time.monotonic()) is None  # the one slot is taken: past the deadline, none
    True
    >>> one.release(held)
    >>> other.release(other.acquire(None))
    """

    POLL_SECONDS = 0.002

    def __init__(self, directory: str, count: int):
        self.paths = [os.path.join(directory, f"expensive-{number}.lock") for number in range(max(1, count))]
        self.turnstile = os.path.join(directory, "turnstile.lock")

    def _take(self, paths: list[str], deadline: float | None) -> int | None:
        """An exclusive lock on one of ``paths`` (its file descriptor), or None past the deadline."""
        import fcntl

        while True:
            for path in paths:
                descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return descriptor
                except OSError:
                    os.close(descriptor)
            if deadline is not None and time.monotonic() >= deadline:
                return None
            time.sleep(self.POLL_SECONDS)

    def acquire(self, deadline: float | None) -> int | None:
        """A held slot (a file descriptor), or None once ``deadline`` (``time.monotonic``) has passed."""
        turn = self._take([self.turnstile], deadline)
        if turn is None:
            return None
        try:
            return self._take(self.paths, deadline)
        finally:
            os.close(turn)  # the next waiter may look now

    @staticmethod
    def release(descriptor: int) -> None:
        """Give a slot back (closing the file drops its lock)."""
        os.close(descriptor)


class Pools:
    """Cheap and expensive work: a thread pool each, a bounded FIFO queue each, and a deadline.

    A request whose pool has no free thread waits in that pool's queue (first come, first
    served); past ``queue`` waiting, it is refused at once (503). A request given a
    ``deadline`` is dropped with :class:`~.http.DeadlineExceededError` when it passes, waiting
    or running; a thread already running its query finishes it (compiled searches cannot be
    interrupted, and the work budget bounds them) and keeps its place until then, so the cap
    counts the work actually running. With ``slots``, an expensive query also holds one of
    the server-wide slots while it runs (several worker processes, one cap).
    """

    def __init__(self, threads: int, expensive_threads: int, queue: int, deadline_seconds: float | None = None,
                 slots: ServerSlots | None = None):
        self.sizes = {False: threads, True: expensive_threads}
        self.executors = {expensive: ThreadPoolExecutor(size, thread_name_prefix=f"infgram-{'slow' if expensive else 'fast'}",
                                                        initializer=_yield_to_cheap_work if expensive else None)
                          for expensive, size in self.sizes.items()}
        self.queue = queue
        self.deadline_seconds = deadline_seconds
        self.server_slots = slots
        self.free = dict(self.sizes)
        self.waiters: dict[bool, deque[asyncio.Future[None]]] = {False: deque(), True: deque()}
        self.running = {False: 0, True: 0}

    @property
    def waiting(self) -> dict[bool, int]:
        """Requests waiting for a thread, by pool (True: the expensive one)."""
        return {expensive: len(waiters) for expensive, waiters in self.waiters.items()}

    def depths(self) -> dict[str, dict[str, int]]:
        """Each queue's depth, its limit, and the requests running, by pool."""
        return {("expensive" if expensive else "cheap"): {"waiting": len(self.waiters[expensive]), "queue": self.queue,
                                                          "running": self.running[expensive],
                                                          "threads": self.sizes[expensive]}
                for expensive in (False, True)}

    def full(self, expensive: bool) -> bool:
        """Whether a request for this pool would be refused now."""
        return self.free[expensive] == 0 and len(self.waiters[expensive]) >= self.queue

    def deadline(self) -> float | None:
        """The deadline (``time.monotonic``) of a request starting now, None without one."""
        return None if not self.deadline_seconds else time.monotonic() + self.deadline_seconds

    def late(self, where: str) -> DeadlineExceededError:
        """The error of a request whose deadline passed while it was ``where``."""
        seconds = self.deadline_seconds or 0.0
        return DeadlineExceededError(f"expected an answer within the server's deadline of {seconds:g} seconds "
                                     f"(--deadline-seconds), found the request still {where} when it passed; retry "
                                     "later, narrow the query (a smaller limit or max_work), or ask the server's "
                                     "operator for a longer deadline", seconds)

    async def _take(self, expensive: bool, admitted: bool, deadline: float | None) -> None:
        """Wait for a thread of the pool, in order of arrival."""
        waiters = self.waiters[expensive]
        if self.free[expensive] > 0 and not waiters:
            self.free[expensive] -= 1
            return
        if len(waiters) >= self.queue and not admitted:
            raise OverCapacityError(f"expected a free worker or a place in the queue, found all "
                                    f"{self.sizes[expensive]} {'expensive' if expensive else 'cheap'} workers "
                                    f"busy and {len(waiters)} requests waiting; retry shortly")
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters.append(turn)
        try:
            if deadline is None:
                await turn
            else:
                await asyncio.wait_for(turn, max(0.0, deadline - time.monotonic()))
        except (asyncio.TimeoutError, asyncio.CancelledError) as error:
            if turn.done() and not turn.cancelled():  # handed a thread just as it gave up: pass it on
                self._give(expensive)
            else:
                turn.cancel()
                if turn in waiters:
                    waiters.remove(turn)
            if isinstance(error, asyncio.TimeoutError):
                raise self.late(f"waiting for {'an expensive' if expensive else 'a'} worker") from None
            raise

    def _give(self, expensive: bool) -> None:
        """A thread is free: the first request waiting gets it."""
        waiters = self.waiters[expensive]
        while waiters:
            turn = waiters.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self.free[expensive] += 1

    def _call(self, expensive: bool, deadline: float | None, function: Callable[..., Any], args: tuple) -> Any:
        """On a pool thread: past the deadline, nothing; with server-wide slots, hold one while running."""
        if deadline is not None and time.monotonic() >= deadline:
            raise self.late("waiting for a thread")
        if not expensive or self.server_slots is None:
            return function(*args)
        slot = self.server_slots.acquire(deadline)
        if slot is None:
            raise self.late("waiting for an expensive worker of the server")
        try:
            return function(*args)
        finally:
            self.server_slots.release(slot)

    async def run(self, expensive: bool, function: Callable[..., Any], *args: Any, admitted: bool = False,
                  deadline: float | None = None) -> Any:
        """``function(*args)`` on a thread of its pool; OverCapacityError if the queue is full
        (unless the request was ``admitted`` before: the later steps of a streamed batch wait),
        DeadlineExceededError once ``deadline`` (``time.monotonic``) has passed."""
        await self._take(expensive, admitted, deadline)
        self.running[expensive] += 1
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(self.executors[expensive], self._call, expensive, deadline, function, args)

        def done(finished: asyncio.Future[Any]) -> None:  # when the thread has finished, not when the request stops waiting
            if not finished.cancelled():
                finished.exception()  # retrieved: a reply dropped at its deadline is not an error to log
            self.running[expensive] -= 1
            self._give(expensive)

        work.add_done_callback(done)
        if deadline is None:
            return await asyncio.shield(work)
        try:
            return await asyncio.wait_for(asyncio.shield(work), max(0.0, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            raise self.late("running") from None

    def shutdown(self) -> None:
        """Finish the queries running, then stop the threads."""
        for executor in self.executors.values():
            executor.shutdown(wait=True)


class Metrics:
    """Counters and latency histograms per operation, in Prometheus' text format."""

    BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

    def __init__(self) -> None:
        self.requests: dict[tuple[str, int], int] = defaultdict(int)
        self.batch_lines = 0
        self.rejections: dict[tuple[str, str], int] = defaultdict(int)
        self.latency_counts: dict[str, list[int]] = defaultdict(lambda: [0] * (len(self.BUCKETS) + 1))
        self.latency_sums: dict[str, float] = defaultdict(float)
        self.disk_read_bytes: dict[str, int] = defaultdict(int)
        self.disk_measured: dict[str, int] = defaultdict(int)

    def observe_reads(self, operation: str, read_bytes: int) -> None:
        """Count the bytes one request had read from storage (indexes read from disk only)."""
        self.disk_read_bytes[operation] += read_bytes
        self.disk_measured[operation] += 1

    def observe(self, operation: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        self.requests[(operation, status)] += 1
        counts = self.latency_counts[operation]
        counts[next((i for i, bound in enumerate(self.BUCKETS) if seconds <= bound), len(self.BUCKETS))] += 1
        self.latency_sums[operation] += seconds
        reason = {401: "unauthorized", 413: "too_large", 429: "rate_limited", 503: "over_capacity"}.get(status)
        if reason is not None:
            self.rejections[(operation, reason)] += 1

    def snapshot(self, pools: Pools) -> dict[str, Any]:
        """This worker's metrics as JSON (see :meth:`of_workers`)."""
        return {"requests": [[op, status, n] for (op, status), n in self.requests.items()],
                "rejections": [[op, reason, n] for (op, reason), n in self.rejections.items()],
                "latency_counts": self.latency_counts, "latency_sums": self.latency_sums,
                "disk_read_bytes": self.disk_read_bytes, "disk_measured": self.disk_measured,
                "batch_lines": self.batch_lines, "depths": pools.depths()}

    @classmethod
    def of_workers(cls, snapshots: list[tuple[dict[str, Any], bool]]) -> tuple["Metrics", Any]:
        """The server's metrics from every worker's :meth:`snapshot` (with whether the worker
        still runs): counters added up over all, gauges over the live ones; returns them and
        the gauges, in the shape :meth:`text` takes."""
        total = cls()
        depths: dict[str, dict[str, int]] = {}
        for snapshot, running in snapshots:
            for op, status, n in snapshot["requests"]:
                total.requests[(op, status)] += n
            for op, reason, n in snapshot["rejections"]:
                total.rejections[(op, reason)] += n
            for op, counts in snapshot["latency_counts"].items():
                total.latency_counts[op] = [a + b for a, b in zip(total.latency_counts[op], counts)]
            for name in ("latency_sums", "disk_read_bytes", "disk_measured"):
                for op, value in snapshot[name].items():
                    getattr(total, name)[op] += value
            total.batch_lines += snapshot["batch_lines"]
            if running:  # each queue's figures (waiting, running, places, threads) added up over the live workers
                for name, depth in snapshot.get("depths", {}).items():
                    summed = depths.setdefault(name, {})
                    for key, value in depth.items():
                        summed[key] = summed.get(key, 0) + value
        return total, types.SimpleNamespace(depths=lambda: depths)

    def text(self, pools: Pools) -> str:
        """All metrics, in the Prometheus text exposition format (version 0.0.4)."""
        lines = ["# HELP infgram_requests_total Requests answered, by operation and status.",
                 "# TYPE infgram_requests_total counter"]
        lines += [f'infgram_requests_total{{operation="{op}",status="{status}"}} {n}'
                  for (op, status), n in sorted(self.requests.items())]
        lines += ["# HELP infgram_rejections_total Requests refused before running, by operation and reason.",
                  "# TYPE infgram_rejections_total counter"]
        lines += [f'infgram_rejections_total{{operation="{op}",reason="{reason}"}} {n}'
                  for (op, reason), n in sorted(self.rejections.items())]
        lines += ["# HELP infgram_request_seconds Time to answer a request, by operation.",
                  "# TYPE infgram_request_seconds histogram"]
        for op, counts in sorted(self.latency_counts.items()):
            total = 0
            for bound, count in zip([*map(str, self.BUCKETS), "+Inf"], counts):
                total += count
                lines.append(f'infgram_request_seconds_bucket{{operation="{op}",le="{bound}"}} {total}')
            lines.append(f'infgram_request_seconds_sum{{operation="{op}"}} {self.latency_sums[op]:.6f}')
            lines.append(f'infgram_request_seconds_count{{operation="{op}"}} {total}')
        if self.disk_measured:
            lines += ["# HELP infgram_disk_read_bytes_total Bytes read from storage while answering, by operation "
                      "(indexes read from disk; divide by infgram_disk_requests_total for a request's mean).",
                      "# TYPE infgram_disk_read_bytes_total counter"]
            lines += [f'infgram_disk_read_bytes_total{{operation="{op}"}} {n}'
                      for op, n in sorted(self.disk_read_bytes.items())]
            lines += ["# HELP infgram_disk_requests_total Requests whose disk reads were counted, by operation.",
                      "# TYPE infgram_disk_requests_total counter"]
            lines += [f'infgram_disk_requests_total{{operation="{op}"}} {n}'
                      for op, n in sorted(self.disk_measured.items())]
        lines += ["# HELP infgram_batch_lines_total Lines of POST /v1/batch taken up (a batch whose client has gone "
                  "stops taking them).", "# TYPE infgram_batch_lines_total counter",
                  f"infgram_batch_lines_total {self.batch_lines}"]
        depths = pools.depths()
        lines += ["# HELP infgram_queue_depth Requests waiting for a worker thread, by queue.",
                  "# TYPE infgram_queue_depth gauge"]
        lines += [f'infgram_queue_depth{{queue="{name}"}} {depth["waiting"]}' for name, depth in depths.items()]
        lines += ["# HELP infgram_running Requests running, by pool.", "# TYPE infgram_running gauge"]
        lines += [f'infgram_running{{pool="{name}"}} {depth["running"]}' for name, depth in depths.items()]
        return "\n".join(lines) + "\n"


class RateLimiter:
    """A token bucket per client: ``rate`` requests a second, in bursts of up to ``rate``."""

    def __init__(self, rate: float, clients: int = 10_000):
        self.rate = rate
        self.clients = clients
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, client: str) -> bool:
        """Take one token from the client's bucket; False if it is empty."""
        now = time.monotonic()
        tokens, then = self.buckets.pop(client, (self.rate, now))
        tokens = min(self.rate, tokens + (now - then) * self.rate)
        allowed = tokens >= 1
        self.buckets[client] = (tokens - 1 if allowed else tokens, now)
        while len(self.buckets) > self.clients:
            self.buckets.popitem(last=False)
        return allowed


class SharedBuckets:
    """:class:`RateLimiter` over the buckets every worker process shares (see :mod:`.shared`)."""

    def __init__(self, shared: SharedState, rate: float):
        self.shared = shared
        self.rate = rate

    def allow(self, client: str) -> bool:
        """Take one token from the client's bucket, for the whole server; False if it is empty."""
        return self.shared.take(client, self.rate)


class ReplyCache:
    """The last ``size`` replies (status and body) by index and request, least recently used out."""

    def __init__(self, size: int):
        self.size = size
        self.entries: OrderedDict[tuple[str, str], tuple[int, bytes]] = OrderedDict()

    def get(self, key: tuple[str, str]) -> tuple[int, bytes] | None:
        """A kept reply, or None."""
        if key in self.entries:
            self.entries.move_to_end(key)
            return self.entries[key]
        return None

    def put(self, key: tuple[str, str], reply: tuple[int, bytes]) -> None:
        """Keep a reply (those of over-capacity and damaged indexes are not kept)."""
        if self.size <= 0 or reply[0] >= 500:
            return
        self.entries[key] = reply
        self.entries.move_to_end(key)
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)


# -- the application ---------------------------------------------------------------------------------
def bearer_token(header: str) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header (the scheme in any case, any
    whitespace around and between), or None for another scheme.

    >>> bearer_token("Bearer key"), bearer_token("  bearer \t  key "), bearer_token("Basic key"), bearer_token("Bearer")
    ('key', 'key', None, None)
    """
    parts = header.split(None, 1)
    return parts[1].strip() if len(parts) == 2 and parts[0].lower() == "bearer" else None


RETRY_AFTER_SECONDS = "1"
"""What every 429 and 503 tells a client to wait before it tries again."""


def _json(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dump_reply(body).encode("utf-8"), status_code=status, media_type="application/json",
                    headers=headers)


def _error(error: BaseException, public: Callable[[str], str] = str) -> Response:
    body = error_body(error)
    body["error"]["message"] = public(body["error"]["message"])
    headers = {"Retry-After": RETRY_AFTER_SECONDS} if status_of_type(body["error"]["type"]) in (429, 503) else None
    if isinstance(error, UnauthorizedError):
        headers = {"WWW-Authenticate": "Bearer"}
    return _json(body, status_of_type(body["error"]["type"]), headers)


def _operation_of(path: str) -> str:
    if path.startswith("/v1/"):
        name = path[4:]
        return name if name in OPERATIONS or name in ("batch", "indexes", "health") else "unknown"
    return {"/": "page", "/metrics": "metrics"}.get(path, "static" if path.startswith("/static/") else "other")


def _places(indexes: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(how a served index's directory may be written, its name), longest first: the
    directory as given, absolute and resolved, and as JSON writes it."""
    places: dict[str, str] = {}
    for name, location in indexes:
        try:
            directories = index_directories(location)
        except InfgramError:
            continue
        for directory in directories:
            for spelling in {str(directory), str(directory.absolute()), str(directory.resolve())}:
                if "/" in spelling.strip("/"):  # not a bare word, which a message may hold for another reason
                    for written in {spelling, json.dumps(spelling)[1:-1]}:
                        places[written] = name
    return sorted(places.items(), key=lambda item: -len(item[0]))


def public_info(info: dict[str, Any]) -> dict[str, Any]:
    """An index's info as a server shows it: no directory, and a change's input files by name only.

    >>> public_info({"directory": "/srv/idx", "changes": [{"action": "add", "inputs": ["/home/a/new.jsonl"]}]})
    {'changes': [{'action': 'add', 'inputs': ['new.jsonl']}]}
    """
    def named(change: Any) -> Any:
        if not isinstance(change, dict):
            return change
        change = dict(change)
        if isinstance(change.get("inputs"), list):
            change["inputs"] = [Path(str(item)).name for item in change["inputs"]]
        if isinstance(change.get("fingerprint"), list):  # [path, size, time] per input file
            change["fingerprint"] = [[Path(str(entry[0])).name, *entry[1:]] if isinstance(entry, list) and entry
                                     else entry for entry in change["fingerprint"]]
        return change

    shown = {key: value for key, value in info.items() if key != "directory"}
    if isinstance(shown.get("changes"), list):
        shown["changes"] = [named(change) for change in shown["changes"]]
    return shown


def _generations(location: str) -> tuple[int | None, ...]:
    """The generation of each directory of an index location (None where it cannot be read)."""
    found: list[int | None] = []
    for directory in index_directories(location):
        try:
            found.append(generation_of(read_manifest(directory)))
        except InfgramError:
            found.append(None)
    return tuple(found)


def _open_index(location: str, settings: "Settings") -> Index:
    """An index in this process, or one whose shards are held by a Ray cluster's actors."""
    ray_address = settings.ray_address
    if ray_address is None:
        # Several workers share one RAM tier: a sparser sample of the keys is a file of their shared folder.
        return Index.open(location, load=settings.load, memory=settings.query_memory,
                          tier_directory=settings.shared_directory if settings.workers > 1 else None)
    from ..distributed import open as open_on_cluster

    return open_on_cluster(location, address=ray_address)


class Service:
    """The served indexes and the machinery shared by the routes."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.indexes: dict[str, GuardedIndex] = {}
        self.broken: dict[str, InfgramError] = {}
        for name, location in settings.indexes:
            try:
                index = _open_index(location, settings)
            except InfgramError as error:
                logging.getLogger("uvicorn.error").warning("index %s answers 503: %s", name, error)
                self.broken[name] = error
                continue
            index.max_work_ceiling = settings.max_work
            self.indexes[name] = GuardedIndex(index, settings.limits)
        self.generations = {name: _generations(location) for name, location in settings.indexes}
        self.names = [name for name, _ in settings.indexes]
        slots = ServerSlots(settings.slot_directory, settings.expensive_slots) if settings.slot_directory else None
        self.pools = Pools(settings.threads, max(1, min(settings.expensive_threads, settings.expensive_slots)),
                           settings.queue, settings.deadline_seconds, slots)
        self.metrics = Metrics()
        # One state for all worker processes (see .shared): with one worker, a private one.
        self.together = settings.workers > 1 and settings.shared_directory is not None
        self.own_directory = None if self.together else tempfile.mkdtemp(prefix="infgram-serve-")
        self.shared = SharedState(Path(settings.shared_directory if self.together else self.own_directory))
        if self.own_directory is not None:  # also when the application never runs its lifespan
            weakref.finalize(self, shutil.rmtree, self.own_directory, True)
        self.limiter: Any = None
        if settings.rate_limit:
            self.limiter = SharedBuckets(self.shared, settings.rate_limit) if self.together \
                else RateLimiter(settings.rate_limit)
        self.damaged: dict[str, str] = {}
        """The indexes found damaged by verification, by name: the identity found damaged."""
        self.seen_change: tuple[int, int] | None = None
        """The shared state's change token when this worker was last up to date with it."""
        self.cache = ReplyCache(settings.cache)
        self.keys = [key.encode("utf-8") for key in settings.api_keys]
        self.places = _places(settings.indexes)
        self.stopping = threading.Event()
        """Set when the server shuts down: running batches take no more lines."""
        self.verifier = Verifier(self.shared, self.stopping, self.found_damaged, self.public) if settings.verify \
            else None
        for name, served in self.indexes.items():
            self.opened(name, served.index)

    def opened(self, name: str, index: Index) -> None:
        """Record that ``index`` now answers as ``name``: its generations published to the
        other workers (before it answers), its verification started."""
        self.generations[name] = tuple(generation_of(manifest) for manifest in index.manifests)
        if self.together:
            self.shared.publish_generations(name, self.generations[name])
        if self.verifier is not None and self.settings.ray_address is None:
            self.verifier.start(name, index)

    def found_damaged(self, name: str, identity: str, error: InfgramError) -> None:
        """Verification found an index damaged: it answers 503 from now on."""
        self.damaged[name] = identity
        self.broken[name] = error
        self.cache = ReplyCache(self.settings.cache)

    def catch_up(self) -> bool:
        """With several workers, before answering: take up damage other workers found, and
        say whether another worker answers from a newer generation (then reload first)."""
        token = self.shared.change_token()
        if token is not None and token == self.seen_change:
            return False  # nothing published since this worker was last up to date: one stat
        if self.verifier is not None:
            for name, (identity, message) in self.verifier.damaged().items():
                if self.damaged.get(name) != identity:
                    self.found_damaged(name, identity, IndexFormatError(message))
        newest = self.shared.newest_generations()
        behind = any(name in self.generations and newer(found, self.generations[name]) and name not in self.damaged
                     for name, found in newest.items())
        if not behind:
            self.seen_change = token
        return behind

    async def behind_refusal(self) -> InfgramError | None:
        """With several workers, before a request to /v1/ is answered: None once this worker
        answers from the newest generation any worker answers from (reloading first when
        another is ahead), else why it cannot answer yet. So a client never sees an older
        generation after a newer one."""
        if not self.together or not self.catch_up():
            return None
        await asyncio.get_running_loop().run_in_executor(None, self.reload, False)
        if not self.catch_up():
            return None
        return OverCapacityError("expected this worker to have the newest generation of the index, found it still "
                                 "reloading; retry shortly")

    def publish_metrics(self) -> None:
        """Publish this worker's metrics for the others' ``/metrics``."""
        self.shared.publish_metrics(self.metrics.snapshot(self.pools))

    def metrics_text(self) -> str:
        """``/metrics``: the whole server's (every worker's) with several workers, else this one's."""
        if not self.together:
            return self.metrics.text(self.pools)
        self.publish_metrics()
        snapshots = [(snapshot, pid == os.getpid() or alive(pid)) for pid, snapshot in self.shared.metrics_snapshots()]
        total, gauges = Metrics.of_workers(snapshots)
        return total.text(gauges)

    def close(self) -> None:
        """Stop verifying, leave the shared state (a private one is removed)."""
        self.stopping.set()
        if self.together:
            self.publish_metrics()
        self.shared.close()
        if self.own_directory is not None:
            shutil.rmtree(self.own_directory, ignore_errors=True)

    def reload(self, force: bool = False) -> list[str]:
        """Open again every served index whose directories hold a new generation (all of them
        with ``force``, as on SIGHUP); returns the names reloaded. A request already running
        keeps the index it started with; the next one gets the new one. Cached replies go."""
        reloaded: list[str] = []
        if self.settings.ray_address is not None:
            # Reopening would start a second set of shard actors beside the first: a served
            # cluster index takes a new generation when the server is restarted.
            if force:
                logging.getLogger("uvicorn.error").warning("indexes served with --ray reload on restart only")
            return reloaded
        for name, location in self.settings.indexes:
            generations = _generations(location)
            if not force and generations == self.generations.get(name) and name not in self.broken:
                continue
            if not force and name in self.damaged and generations == self.generations.get(name):
                continue  # found damaged: 503 until a new generation or a restart
            try:
                index = _open_index(location, self.settings)
            except InfgramError as error:
                logging.getLogger("uvicorn.error").warning("index %s not reloaded: %s", name, error)
                continue
            if name in self.damaged and identity_of(index) == self.damaged[name]:
                continue  # the same files, found damaged
            index.max_work_ceiling = self.settings.max_work
            self.opened(name, index)
            self.indexes[name] = GuardedIndex(index, self.settings.limits)  # one assignment: old or new
            self.broken.pop(name, None)
            self.damaged.pop(name, None)
            reloaded.append(name)
        if reloaded:
            self.cache = ReplyCache(self.settings.cache)  # replaced, not cleared: the loop may be using the old one
            logging.getLogger("uvicorn.error").info("reloaded %s", ", ".join(reloaded))
        return reloaded

    def counted(self, operation: str, served: "GuardedIndex", function: Callable[..., Any]) -> Callable[..., Any]:
        """``function``, counting in the metrics the bytes it has read from storage when the
        index is read from disk (a thread's own count: /proc/thread-self/io)."""
        residency = getattr(served.index, "residency", None)
        if residency is None or residency.load != "disk":
            return function

        def measured(*args: Any) -> Any:
            before = thread_read_bytes()
            try:
                return function(*args)
            finally:
                after = thread_read_bytes()
                if before is not None and after is not None:
                    self.metrics.observe_reads(operation, after - before)
        return measured

    def index(self, name: str | None) -> GuardedIndex:
        """The served index of that name (the first when None)."""
        name = self.names[0] if name is None else name
        if name in self.broken:
            raise self.broken[name]
        if name not in self.indexes:
            raise NotFoundError(f"expected an index served here ({', '.join(self.names)}), found {name!r:.80}; "
                                "see GET /v1/indexes")
        return self.indexes[name]

    def public(self, text: str) -> str:
        """Text for a reply: every served index's directory replaced by the index's name, so
        that no reply shows where the server keeps its files."""
        for place, name in self.places:
            text = text.replace(place, name)
        # No request can lift this server's ceiling: a refusal says what can be done instead.
        return text.replace(LIFT_BUDGET, SERVED_LIFT_BUDGET)

    def public_error(self, error: BaseException) -> dict[str, Any]:
        """An error's body for a reply, without the server's paths."""
        body = error_body(error)
        body["error"]["message"] = self.public(body["error"]["message"])
        return body

    def authorized(self, request: Request) -> bool:
        """Whether the request carries one of the API keys (always, when there are none)."""
        return not self.keys or self.key_of(request) is not None

    def key_of(self, request: Request) -> bytes | None:
        """The API key the request carries, if it is one of the server's: the token after
        ``Bearer`` (any case) and any whitespace."""
        given = bearer_token(request.headers.get("authorization", ""))
        if given is None or not self.keys:
            return None
        return next((key for key in self.keys if hmac.compare_digest(given.encode("utf-8"), key)), None)

    def refusal(self, request: Request) -> InfgramError | None:
        """Why a request to a protected path is refused before it is read (no valid key, over
        the rate limit), or None."""
        if not self.authorized(request):
            return UnauthorizedError("expected an API key as 'Authorization: Bearer KEY', found "
                                     f"{'a wrong one' if 'authorization' in request.headers else 'none'}; "
                                     "ask the server's operator for a key")
        if self.limiter is not None and not self.limiter.allow(self.client(request)):
            return RateLimitedError(f"expected at most {self.settings.rate_limit:g} requests a second from "
                                    "one client, found more; retry after a second")
        return None

    @staticmethod
    def inline(served: GuardedIndex, request: dict[str, Any]) -> bool:
        """Whether a cheap request is answered on the event loop itself: an index in memory
        (no disk read, no cluster), with none of the options whose cost grows with the
        occurrences. It takes microseconds there, less than handing it to a thread and back."""
        residency = getattr(served.index, "residency", None)
        return (residency is not None and residency.load != "disk"
                and not any(request.get(option) is True for option in _GROWING_OPTIONS))

    def client(self, request: Request) -> str:
        """Who the rate limit counts a request against: its API key when it carries a valid one,
        else its address (the one a trusted proxy names in ``X-Forwarded-For``). A header the
        server does not check (a bearer value without keys, a forwarded address from anyone but
        a trusted proxy) never makes a new client."""
        key = self.key_of(request)
        if key is not None:
            return "key " + hashlib.sha256(key).hexdigest()
        address = request.client.host if request.client else ""
        if address in self.settings.trusted_proxies:
            # The proxy appends the address it saw: read from the right, past trusted proxies.
            forwarded = [part.strip() for header in request.headers.getlist("x-forwarded-for")
                         for part in header.split(",")]
            for hop in reversed(forwarded):
                if hop and hop not in self.settings.trusted_proxies:
                    return "address " + hop[:100]
        return "address " + address

    async def body(self, request: Request, option: str = "max_body_bytes") -> bytes:
        """The request body, refused (413) past the limit ``option`` (``max_body_bytes``, or
        ``max_batch_body_bytes`` for a batch) without reading the rest."""
        limit = getattr(self.settings.limits, option)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large(limit, int(declared), option)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large(limit, size, option)
            chunks.append(chunk)
        return b"".join(chunks)


_GROWING_OPTIONS = ("whole_words", "ignore_case", "inside_tokens")
"""Options of cheap operations whose cost grows with the occurrences or the vocabulary."""
_EXPENSIVE_FIELDS = ("by", "where")
"""Fields that make a cheap operation expensive: a count by a metadata field, or within a filter,
visits every occurrence's document (seconds for a common phrase), so it waits with the expensive ones."""


async def _answer_operation(service: Service, op: str, request: Request, index: str | None) -> tuple[int, bytes]:
    """The status and JSON body of ``POST /v1/{op}``: read the body, answer from the cache, on
    the event loop (a cheap request on an index in memory) or on a pool's thread."""
    deadline = service.pools.deadline()
    name = service.names[0] if index is None else index
    served = service.index(name)
    many = op == "count_batch"  # many counts: a batch's body limit and work budget
    body = await service.body(request, "max_batch_body_bytes" if many else "max_body_bytes")
    key = (name, op + "\0" + body.decode("utf-8", "replace")) if service.settings.cache and not many else None
    kept = service.cache.get(key) if key is not None else None
    if kept is not None:
        return kept
    try:
        protocol_request = _read_request(op, body)
    except InfgramError as error:
        return status_of_type(type(error).__name__), dump_reply(error_body(error)).encode("utf-8")
    del body
    expensive = OPERATIONS[op].expensive or any(protocol_request.get(field) is not None for field in _EXPENSIVE_FIELDS)
    answer = functools.partial(_within_batch_work, service.settings.max_batch_work) if many else run_request
    if not expensive and service.inline(served, protocol_request):
        reply = run_request(served, protocol_request)
    else:
        reply = await service.pools.run(expensive, service.counted(op, served, answer), served,
                                        protocol_request, deadline=deadline)
    if "error" in reply:
        reply["error"]["message"] = service.public(reply["error"]["message"])
    status = status_of_type(reply["error"]["type"]) if "error" in reply else 200
    content = dump_reply(reply).encode("utf-8")
    if key is not None and service.indexes.get(name) is served:  # not an answer of a generation reloaded meanwhile
        service.cache.put(key, (status, content))
    return status, content


def _within_batch_work(max_batch_work: int, served: GuardedIndex, request: dict[str, Any]) -> dict[str, Any]:
    """The reply to a request of many queries (``count_batch``), whose work is bounded as a
    whole by the batch's budget (``--max-batch-work``), as its queries would be as lines of
    ``POST /v1/batch``: only whole-word and case-blind counts spend it."""
    with WorkAccount(max_batch_work).drawn_on():
        return run_request(served, request)


_SECURITY_HEADERS = [(b"content-security-policy", CONTENT_SECURITY_POLICY.encode("ascii")),
                     (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]


class CheapRoute:
    """``POST /v1/{op}`` of the cheap operations in plain ASGI, ahead of the framework.

    A count takes microseconds in the engine; FastAPI's request machinery (an HTTP middleware,
    dependency and parameter resolution, a response object) takes a good part of a
    millisecond, and a thread pool hand-off more under load. This route does what those would
    do for these operations and nothing else: the API key and rate limit, the ``index``
    parameter, the body limit, the cache, the protocol's :func:`~.protocol.run_request`, the
    same error bodies and headers, and the metrics. Every other request, and every other
    method on these paths, goes on to the application, whose ``/v1/{op}`` routes still
    document these operations (and answer them the same way, through the same function).
    """

    def __init__(self, app: Any, service: Service):
        self.app = app
        self.service = service
        self.paths = {f"/v1/{op}": op for op, operation in OPERATIONS.items() if not operation.expensive}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        op = self.paths.get(scope.get("path", "")) if scope["type"] == "http" and scope["method"] == "POST" else None
        if op is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        service = self.service
        request = Request(scope, receive)
        headers: dict[str, str] = {}
        try:
            refusal = service.refusal(request) or await service.behind_refusal()
            if refusal is not None:
                raise refusal
            index = request.query_params.get("index")
            if index is not None and len(index) > _INDEX_NAME_LENGTH:
                raise QueryError("expected a valid request, found query.index: String should have at most "
                                 f"{_INDEX_NAME_LENGTH} characters")
            status, content = await _answer_operation(service, op, request, index)
        except ClientDisconnect:
            return
        except Exception as error:
            if not isinstance(error, InfgramError):
                error = InternalError(f"infgram failed on this request ({type(error).__name__}); please report it")
            response = _error(error, service.public)
            status, content = response.status_code, response.body
            headers = {key: value for key, value in response.headers.items() if key not in ("content-length", "content-type")}
        if status in (429, 503):
            headers.setdefault("retry-after", RETRY_AFTER_SECONDS)
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(content)).encode("ascii")),
            *_SECURITY_HEADERS, *((key.encode("latin-1"), value.encode("latin-1")) for key, value in headers.items())]})
        await send({"type": "http.response.body", "body": content})
        service.metrics.observe(op, status, time.perf_counter() - started)


def _read_request(op: str, body: bytes) -> dict[str, Any]:
    """The protocol request of ``POST /v1/{op}``: the body as a JSON object, plus ``op``. The
    body of a ``count_batch`` (up to 100,000 queries) is read by the fast parser, 4 times
    faster; a body it refuses takes the common way, which names what is wrong."""
    request = None
    if op == "count_batch":
        try:
            request = fast_loads(body)
        except ValueError:
            pass
    if type(request) is not dict:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as error:
            raise QueryError(f"expected the body to be JSON in UTF-8, found invalid UTF-8 at byte {error.start}") from None
        if not text.strip():
            raise QueryError(f"expected a JSON object as the body of a {op} request, found an empty body; "
                             'send e.g. {"text": "natural language"}')
        request = parse_line(text)
    if request.get("op", op) != op:
        raise QueryError(f"expected no op in the body, or the op of the path ({op}), found {request['op']!r:.80}")
    request["op"] = op
    return request


def create_app(settings: Settings) -> FastAPI:
    """The FastAPI application serving ``settings.indexes`` (opened now; a damaged one answers 503)."""
    service = Service(settings)

    async def reload(force: bool) -> None:
        await asyncio.get_running_loop().run_in_executor(None, service.reload, force)

    async def watch() -> None:
        """Look for new generations every ``reload_seconds``."""
        while True:
            await asyncio.sleep(settings.reload_seconds)
            try:
                await reload(False)
            except Exception as error:  # a watcher that dies would stop reloads for good
                logging.getLogger("uvicorn.error").warning("looking for a new generation failed: %s", error)

    async def publish() -> None:
        """Publish this worker's metrics for the whole server's /metrics (several workers)."""
        while True:
            await asyncio.sleep(METRICS_PUBLISH_SECONDS)
            try:
                service.publish_metrics()
            except Exception as error:  # noqa: BLE001 (a publisher that dies would freeze the metrics)
                logging.getLogger("uvicorn.error").warning("publishing metrics failed: %s", error)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        watcher = loop.create_task(watch()) if settings.reload_seconds > 0 and settings.ray_address is None else None
        publisher = loop.create_task(publish()) if service.together else None
        try:  # SIGHUP reloads every index; only the main thread may install a handler
            loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(reload(True)))
        except (RuntimeError, ValueError, NotImplementedError):
            pass
        yield
        service.stopping.set()
        for task in (watcher, publisher):
            if task is not None:
                task.cancel()
        await loop.run_in_executor(None, service.pools.shutdown)
        service.close()

    # /docs is Swagger UI from the package installed with the server, not from a CDN: it works offline.
    app = FastAPI(title="infgram", version=_version(), lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Exact n-gram and ∞-gram search over a corpus. Every operation of the JSON Lines "
                              "batch is POST /v1/{op} with the batch request (without op) as its body.")
    app.state.service = service

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Any]) -> Response:
        started = time.perf_counter()
        path = request.url.path
        operation = _operation_of(path)
        protected = path.startswith("/v1/") and path != "/v1/health" or path == "/metrics"
        refusal = service.refusal(request) if protected else None
        if refusal is not None:
            response = _error(refusal)
        elif path.startswith("/v1/") and (behind := await service.behind_refusal()) is not None:
            response = _error(behind)
        else:
            response = await call_next(request)
        if response.status_code in (429, 503) and "retry-after" not in response.headers:
            response.headers["Retry-After"] = RETRY_AFTER_SECONDS
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        service.metrics.observe(operation, response.status_code, time.perf_counter() - started)
        return response

    app.add_middleware(CheapRoute, service=service)  # outside the guard: it does the guard's work itself
    if settings.cors:  # added last, so outermost: a preflight is answered before the key is asked for
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])

    @app.exception_handler(InfgramError)
    async def infgram_error(request: Request, error: InfgramError) -> Response:
        return _error(error, service.public)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(map(str, item.get('loc', ())))}: {item.get('msg', '')}"
                             for item in error.errors()[:5])
        return _error(QueryError(f"expected a valid request, found {problems[:400]}"))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        path = request.url.path
        if error.status_code == 404:
            if path.startswith("/v1/"):
                return _error(NotFoundError(f"expected an operation ({', '.join(OPERATIONS)}) or batch, indexes, "
                                            f"health after /v1/, found {path[4:]!r:.80}"))
            return _error(NotFoundError(f"expected a path of this API (see /docs), found {path!r:.80}"))
        allowed = (error.headers or {}).get("Allow") or ("POST" if path.startswith("/v1/") else "GET")
        body = error_body(QueryError(f"expected {' or '.join(allowed.split(', '))} for {path:.80}, found "
                                     f"{request.method}" if error.status_code == 405 else str(error.detail)))
        return _json(body, error.status_code, dict(error.headers or {}))

    @app.exception_handler(Exception)
    async def defect(request: Request, error: Exception) -> Response:
        return _error(InternalError(f"infgram failed on this request ({type(error).__name__}); please report it"))

    def answer(op: str) -> Callable[..., Any]:
        async def route(request: Request, index: Optional[str] = _INDEX_PARAMETER) -> Response:
            status, content = await _answer_operation(service, op, request, index)
            return Response(content, status_code=status, media_type="application/json")

        route.__name__ = op
        return route

    for op, operation in OPERATIONS.items():
        app.post(f"/v1/{op}", summary=operation.summary, tags=["operations"], response_model=None,
                 responses={200: {"model": reply_model(op), "description": "the reply"}, **_ERROR_RESPONSES},
                 openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                     "schema": {"$ref": f"#/components/schemas/{request_model(op).__name__}"}}}}})(answer(op))

    @app.post("/v1/batch", tags=["operations"], response_model=None, summary="JSON Lines requests, JSON Lines replies",
              responses={200: {"content": {"application/x-ndjson": {"schema": {"type": "string"}}},
                               "description": "one reply per non-blank line, in order"}, **_ERROR_RESPONSES},
              openapi_extra={"requestBody": {"required": True, "content": {"application/x-ndjson": {
                  "schema": {"type": "string", "description": "one request {\"op\": OP, ...} per line"}}}}})
    async def batch(request: Request, index: Optional[str] = _INDEX_PARAMETER) -> Response:
        served = service.index(index)
        body = await service.body(request, "max_batch_body_bytes")
        text = body.decode("utf-8", "replace")
        del body
        if service.pools.full(True):
            raise OverCapacityError("expected a free worker or a place in the queue, found none; retry shortly")
        stopped = threading.Event()  # set when the client has gone or the server stops: no more lines

        def proceed(taken: int) -> bool:
            if stopped.is_set() or service.stopping.is_set():
                return False
            service.metrics.batch_lines += taken
            return True

        # A step answers a chunk of lines (thousands of plain counts, or fewer lines of other
        # requests) and is sent as one piece of the streamed reply.
        blocks = reply_blocks_of_text(served, text, settings.max_batch_work, proceed)

        async def stream() -> AsyncIterator[bytes]:
            try:
                while not await request.is_disconnected():
                    step = await service.pools.run(True, next, blocks, None, admitted=True)
                    if step is None:
                        return
                    yield service.public(step).encode("utf-8")
            finally:  # also when the response is cancelled (its client gone): the thread stops at its
                stopped.set()  # next line or run of counts

        return StreamingResponse(stream(), media_type="application/x-ndjson")

    @app.post(OFFICIAL_API_PATH, tags=["operations"], response_model=None,
              summary="the official infini-gram hosted API's payloads (query_type, query, maxnum, ...)",
              responses={200: {"description": "the hosted API's reply",
                               "content": {"application/json": {"schema": {"type": "object"}}}}, **_ERROR_RESPONSES},
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
                  "type": "object", "required": ["query_type"],
                  "properties": {"query_type": {"type": "string"}, "index": {"type": "string"},
                                 "query": {"type": "string"}, "query_ids": {"type": "array", "items": {"type": "integer"}},
                                 "maxnum": {"type": "integer"}, "max_disp_len": {"type": "integer"}}}}}}})
    async def infini_gram(request: Request) -> Response:
        deadline = service.pools.deadline()
        body = await service.body(request)
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        name = payload.get("index") if isinstance(payload, dict) else None
        served = service.index(name if isinstance(name, str) and name in service.indexes else None)
        reply = await service.pools.run(True, answer_payload, served, payload, deadline=deadline)
        if "error" in reply:  # the hosted API's message, in infgram's error body
            return _error(QueryError(reply["error"]), service.public)
        return _json(reply)

    @app.get("/v1/indexes", tags=["service"], summary="the served indexes and what they hold")
    async def indexes() -> dict[str, Any]:
        listed: list[dict[str, Any]] = []
        for name in service.names:
            if name in service.broken:
                listed.append({"name": name, **service.public_error(service.broken[name])})
            else:
                info = await service.pools.run(False, service.indexes[name].info)
                listed.append({"name": name, "info": public_info(info)})
        return {"default": service.names[0], "indexes": listed}

    @app.get("/v1/health", tags=["service"], summary="200 once every index is open, 503 if one is damaged")
    async def health() -> Response:
        if service.broken:
            name, error = next(iter(service.broken.items()))
            return _json({"status": "degraded", "index": name, **service.public_error(error),
                          "queues": service.pools.depths()}, 503)
        healthy = {"status": "ok", "indexes": service.names, "queues": service.pools.depths()}
        if service.verifier is not None:
            healthy["verification"] = service.verifier.progress(service.names)
        return _json(healthy)

    @app.get("/metrics", tags=["service"], summary="Prometheus metrics of the whole server (every worker process)",
             response_class=PlainTextResponse)
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(service.metrics_text(), media_type="text/plain; version=0.0.4")

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> FileResponse:
        return FileResponse(STATIC / "docs.html", media_type="text/html; charset=utf-8")

    app.mount("/docs/assets", StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            _, definitions = models_json_schema([(model, "validation") for model in [*REQUEST_MODELS.values(), AnyRequest]],
                                                ref_template="#/components/schemas/{model}")
            schema.setdefault("components", {}).setdefault("schemas", {}).update(definitions.get("$defs", {}))
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("infgram")
    except PackageNotFoundError:
        return "0"


SETTINGS_VARIABLE = "INFGRAM_SERVE_SETTINGS"


def app_from_environment() -> FastAPI:
    """The application of the settings in ``$INFGRAM_SERVE_SETTINGS`` (how worker processes start)."""
    return create_app(Settings.from_json(os.environ[SETTINGS_VARIABLE]))


HEADER_TIMEOUT_SECONDS = 10.0
"""How long a connection may take to send a request's headers (the first, or the next on a
kept-alive connection) before it is closed: a slowloris client holds no connection longer."""

KEEP_ALIVE_SECONDS = 5
"""How long an idle kept-alive connection stays open after its last reply."""

MAX_HEADER_BYTES = 16 * 1024
"""The largest request line and headers accepted (h11's incomplete-event limit); beyond, 400."""

GRACEFUL_SHUTDOWN_SECONDS = 30
"""On SIGTERM, requests in flight have this long; then they are cancelled (a batch stops at its next line)."""


class _HeaderTimer:
    """The header timeout of both HTTP protocols below: a connection whose request line and
    headers do not all arrive within ``header_timeout`` seconds of its opening or of its last
    reply is closed. The protocol says when it waits for headers (``_awaiting_headers``)."""

    header_timeout = HEADER_TIMEOUT_SECONDS
    header_timer: asyncio.TimerHandle | None = None
    loop: asyncio.AbstractEventLoop
    transport: Any

    def _awaiting_headers(self) -> bool:
        raise NotImplementedError

    def _arm(self) -> None:
        self._disarm()
        self.header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _disarm(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _headers_late(self) -> None:
        self.header_timer = None
        if self._awaiting_headers() and not self.transport.is_closing():
            self.transport.close()  # still no complete request line and headers


class HeaderTimeoutProtocol(_HeaderTimer, H11Protocol):
    """uvicorn's HTTP/1.1 protocol with the header timeout (uvicorn alone waits for a request's
    line and headers forever, and a trickle of bytes defeats its keep-alive timeout)."""

    def _awaiting_headers(self) -> bool:
        return self.conn.their_state is h11.IDLE

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the headers are in: the request runs
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()  # the next request's headers get as long (an idle connection closes sooner, by keep-alive)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is not installed: h11 alone (pure Python, slower)
    HttpToolsProtocol = None


class CoalescingTransport:
    """A transport whose writes within one turn of the event loop leave in one ``send``.

    uvicorn writes a response's status line and headers, then its body, in two writes: two
    system calls, and on loopback two wake-ups of the client, which reads the head, waits, and
    is woken again for the body; on a busy machine each wake-up can cost the server its core
    for a while. Held until the loop's next turn, the two go as one.

    >>> class Sink:
    ...     sent: list = []
    ...     def write(self, data): self.sent.append(data)
    ...     def is_closing(self): return False
    >>> async def respond(transport):
    ...     transport.write(b"head;")
    ...     transport.write(b"body")
    ...     await asyncio.sleep(0)
    >>> asyncio.run(respond(CoalescingTransport(Sink()))); Sink.sent
    [b'head;body']
    """

    def __init__(self, transport: Any):
        self.transport = transport
        self.pending: list[bytes] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)

    def write(self, data: bytes) -> None:
        """Keep ``data`` to send with the other writes of this turn of the loop."""
        if not self.pending:
            asyncio.get_running_loop().call_soon(self.flush)
        self.pending.append(data)

    def flush(self) -> None:
        """Send what this turn of the loop wrote."""
        if self.pending:
            data = b"".join(self.pending)
            self.pending.clear()
            if not self.transport.is_closing():
                self.transport.write(data)

    def close(self) -> None:
        """Send what is kept, then close."""
        self.flush()
        self.transport.close()

    def get_write_buffer_size(self) -> int:
        """The bytes not sent yet, kept ones included (for flow control)."""
        return self.transport.get_write_buffer_size() + sum(map(len, self.pending))


if HttpToolsProtocol is not None:
    class FastHeaderTimeoutProtocol(_HeaderTimer, HttpToolsProtocol):  # type: ignore[misc, valid-type]
        """The same guards as :class:`HeaderTimeoutProtocol` on uvicorn's httptools protocol,
        whose compiled parser (llhttp) takes a fraction of h11's time a request (about 0.1 ms of
        pure Python on this path, as much as the whole route of a count): the header timeout,
        and a 400 once a request's line and headers pass ``MAX_HEADER_BYTES`` unfinished."""

        header_bytes = 0
        in_headers = True
        """Whether the connection waits for a request's line and headers (none is running)."""

        def _awaiting_headers(self) -> bool:
            return self.in_headers

        def _arm(self) -> None:
            self.in_headers, self.header_bytes = True, 0
            super()._arm()

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(CoalescingTransport(transport))
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.in_headers and not self.transport.is_closing():
                self.header_bytes += len(data)
                if self.header_bytes > MAX_HEADER_BYTES:  # still no end of the headers: refused, not buffered
                    self.send_400_response("Request line and headers too large.")

        def on_headers_complete(self) -> None:
            self.in_headers = False
            self._disarm()
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self.cycle is None or self.cycle.response_complete:  # no pipelined request has its headers in
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)
else:
    FastHeaderTimeoutProtocol = None  # type: ignore[assignment, misc]


def connection_options() -> dict[str, Any]:
    """uvicorn's options for connections: the header timeout, keep-alive and the header size
    limit, on httptools' parser when it is installed (else h11's).

    >>> sorted(connection_options())
    ['h11_max_incomplete_event_size', 'http', 'timeout_keep_alive']
    """
    return {"http": FastHeaderTimeoutProtocol or HeaderTimeoutProtocol, "timeout_keep_alive": KEEP_ALIVE_SECONDS,
            "h11_max_incomplete_event_size": MAX_HEADER_BYTES}


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
          access_log: bool = True) -> None:
    """Serve until interrupted; on SIGINT or SIGTERM, stop taking requests and finish those in
    flight (for at most ``GRACEFUL_SHUTDOWN_SECONDS``)."""
    import uvicorn

    options: dict[str, Any] = {"host": host, "port": port, "access_log": access_log, "log_level": "info",
                               "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS, "server_header": False,
                               **connection_options()}
    if workers > 1:  # the workers' shared state (see .shared) and their one cap on expensive queries (lock files)
        shared = tempfile.mkdtemp(prefix="infgram-serve-")
        settings = dataclasses.replace(settings, workers=workers, shared_directory=shared,
                                       slot_directory=tempfile.mkdtemp(prefix="infgram-serve-slots-"))
        os.environ[SETTINGS_VARIABLE] = settings.to_json()
        try:
            uvicorn.run("infgram.service.server:app_from_environment", factory=True, workers=workers, **options)
        finally:
            shutil.rmtree(settings.slot_directory, ignore_errors=True)
            shutil.rmtree(shared, ignore_errors=True)
    else:
        uvicorn.run(create_app(settings), **options)


__all__ = ["Settings", "create_app", "serve", "index_names", "REPLY_MODELS", "REQUEST_MODELS", "app_from_environment"]
