"""What HTTP adds to the request protocol: its own errors, the status of every error, the limits.

The HTTP server (:mod:`.server`) and the Python client (:mod:`.client`) both read this
module, which needs nothing beyond the standard library, so a client never imports FastAPI.

An error body is the batch's error object (:func:`~infgram.service.protocol.error_reply`)
without the ``op``: ``{"error": {"type", "message", ...typed fields}}``. Besides the
engine's errors, a server answers with:

- :class:`NotFoundError` (404): an unknown path, operation or index name;
- :class:`RequestTooLargeError` (413): a body over ``--max-body-bytes`` (``--max-batch-body-bytes``
  for a batch; a :class:`~infgram.errors.LimitError`, with ``option``, ``limit`` and ``needed``);
- :class:`UnauthorizedError` (401): no valid ``Authorization: Bearer KEY`` header;
- :class:`RateLimitedError` (429): more than ``--rate-limit`` requests a second;
- :class:`OverCapacityError` (503): every worker busy and the waiting queue full;
- :class:`DeadlineExceededError` (503): no answer within the server's per-request deadline
  (``--deadline-seconds``).

Every 429 and 503 carries ``Retry-After``.

A client turns an error body back into the exception of the same name
(:func:`error_class`), so code that catches :class:`~infgram.errors.QueryError` locally
catches it remotely too.

>>> status_of_type("QueryError"), status_of_type("LimitError"), status_of_type("NotFoundError")
(400, 400, 404)
>>> error_class("IndexFormatError").__name__, status_of_type("SomethingElse")
('IndexFormatError', 500)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from .. import errors
from ..errors import InfgramError, LimitError, QueryError
from .protocol import STATUS_OF_ERROR, InternalError


class NotFoundError(QueryError):
    """No such path, operation or served index."""


class RequestTooLargeError(LimitError):
    """A request body is larger than the server accepts."""


class UnauthorizedError(InfgramError):
    """The server wants an API key (``Authorization: Bearer KEY``) and got none, or a wrong one."""


class RateLimitedError(InfgramError):
    """The client sent more requests a second than the server allows; retry after a second."""


class OverCapacityError(InfgramError):
    """Every worker is busy and the queue of waiting requests is full; retry shortly."""


class DeadlineExceededError(InfgramError):
    """A request waited and ran longer than the server's per-request deadline; it was dropped.
    ``option`` names the setting (``deadline_seconds``) and ``limit_seconds`` is its value."""

    def __init__(self, message: str, limit_seconds: float):
        super().__init__(message)
        self.limit_seconds = limit_seconds

    @property
    def fields(self) -> dict[str, object]:
        """The typed fields an error reply carries besides type and message."""
        return {"option": "deadline_seconds", "limit_seconds": self.limit_seconds}


HTTP_STATUS_OF_ERROR: dict[type, int] = {
    **STATUS_OF_ERROR,
    NotFoundError: 404,
    RequestTooLargeError: 413,
    UnauthorizedError: 401,
    RateLimitedError: 429,
    OverCapacityError: 503,
    DeadlineExceededError: 503,
}
"""The HTTP status of each error type (the most specific class listed wins)."""

_ERROR_CLASSES: dict[str, type] = {
    kind.__name__: kind
    for kind in [*(getattr(errors, name) for name in errors.__all__), InternalError, *HTTP_STATUS_OF_ERROR]
    if isinstance(kind, type) and issubclass(kind, InfgramError)
}


def error_class(name: Any) -> type:
    """The exception class of an error body's ``type`` (:class:`~infgram.errors.InfgramError` if unknown)."""
    return _ERROR_CLASSES.get(name, InfgramError) if isinstance(name, str) else InfgramError


def status_of_type(name: Any) -> int:
    """The HTTP status of an error body's ``type``; 500 for a type this module does not know."""
    kind = _ERROR_CLASSES.get(name) if isinstance(name, str) else None
    for base in kind.__mro__ if kind is not None else ():
        if base in HTTP_STATUS_OF_ERROR:
            return HTTP_STATUS_OF_ERROR[base]
    return 500


def error_body(error: BaseException) -> dict[str, Any]:
    """The body of an error reply: ``{"error": {"type", "message", ...fields}}``."""
    body: dict[str, Any] = {"type": type(error).__name__, "message": str(error)}
    body.update(getattr(error, "fields", {}))
    return {"error": body}


def too_large(limit: int, needed: int, option: str = "max_body_bytes") -> RequestTooLargeError:
    """The error for a body of ``needed`` bytes (at least) under a limit of ``limit``, the
    setting ``option`` (``max_batch_body_bytes`` for a batch)."""
    return RequestTooLargeError(f"expected a request body of at most {limit:,} bytes, found {needed:,} or more; "
                                "send a smaller request (split a batch), or start the server with a larger "
                                f"--{option.replace('_', '-')}", option, limit, needed)


@dataclass(frozen=True)
class Limits:
    """What one request may ask of a server, besides the work budget (``--max-work``)."""

    max_body_bytes: int = 4 * 1024 * 1024
    max_batch_body_bytes: int = 16 * 1024 * 1024
    """The body of ``POST /v1/batch`` and ``POST /v1/count_batch``: room for 100,000 plain
    counts and more (a batch's expensive lines are bounded by its work budget,
    ``--max-batch-work``, its counts by this)."""
    max_attribute_tokens: int = 10_000
    max_cooccurrence_phrases: int = 1_000
    max_cooccurrence_pairs: int = 100_000
    max_batch_queries: int = 100_000
    """Counts answered in one call: a batch answers at most 4,096 at a time, so this bounds
    the windows of one contamination entry."""


def _refuse(what: str, option: str, limit: int, needed: int) -> LimitError:
    return LimitError(f"expected {what} of at most {limit:,}, found {needed:,}; send less in one request, or start "
                      f"the server with a larger --{option.replace('_', '-')}", option, limit, needed)


class GuardedIndex:
    """An index as a server exposes it: every query method of the index, with the server's
    :class:`Limits` checked first. Protocol requests and batch lines both go through it, so
    the limits hold on every transport.
    """

    def __init__(self, index: Any, limits: Limits):
        self.index = index
        self.limits = limits
        self._info: dict[str, Any] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.index, name)

    def info(self) -> dict[str, Any]:
        """The index's info, read once (it sums the size of every file)."""
        if self._info is None:
            self._info = self.index.info()
        return dict(self._info)

    def attribute(self, text: Any, *args: Any, **kwargs: Any) -> Any:
        """:meth:`~infgram.Index.attribute`, for texts of at most ``max_attribute_tokens`` tokens."""
        if isinstance(text, str) and len(text) > 8 * self.limits.max_attribute_tokens:
            needed = len(text) // 8  # a token is at most a few characters: refuse before encoding
        else:
            needed = len(self.index.tokenize(text))
        if needed > self.limits.max_attribute_tokens:
            raise _refuse("a text to attribute in tokens", "max_attribute_tokens", self.limits.max_attribute_tokens,
                          needed)
        return self.index.attribute(text, *args, **kwargs)

    def trace(self, text: Any, prompt: Any = "", *args: Any, **kwargs: Any) -> Any:
        """:meth:`~infgram.Index.trace`, for an output and a prompt of at most ``max_attribute_tokens`` tokens each."""
        for what, given in (("an output to trace in tokens", text), ("a prompt in tokens", prompt)):
            if isinstance(given, str) and len(given) > 8 * self.limits.max_attribute_tokens:
                needed = len(given) // 8  # a token is at most a few characters: refuse before encoding
            else:
                needed = len(self.index.tokenize(given))
            if needed > self.limits.max_attribute_tokens:
                raise _refuse(what, "max_attribute_tokens", self.limits.max_attribute_tokens, needed)
        return self.index.trace(text, prompt, *args, **kwargs)

    def cooccurrence(self, phrases: Sequence[Any], pairs: Iterable[Any] | None = None, *args: Any, **kwargs: Any) -> Any:
        """:meth:`~infgram.Index.cooccurrence`, for at most ``max_cooccurrence_phrases`` phrases and
        ``max_cooccurrence_pairs`` pairs (all pairs of the phrases when none are given)."""
        if isinstance(phrases, Sequence) and len(phrases) > self.limits.max_cooccurrence_phrases:
            raise _refuse("co-occurrence phrases", "max_cooccurrence_phrases", self.limits.max_cooccurrence_phrases,
                          len(phrases))
        pairs = None if pairs is None else list(pairs)
        if isinstance(phrases, Sequence):
            needed = len(phrases) * (len(phrases) - 1) // 2 if pairs is None else len(pairs)
            if needed > self.limits.max_cooccurrence_pairs:
                raise _refuse("co-occurrence pairs", "max_cooccurrence_pairs", self.limits.max_cooccurrence_pairs,
                              needed)
        return self.index.cooccurrence(phrases, pairs, *args, **kwargs)

    def count_batch(self, queries: Any, *args: Any, **kwargs: Any) -> Any:
        """:meth:`~infgram.Index.count_batch`, for at most ``max_batch_queries`` queries."""
        if hasattr(queries, "__len__") and len(queries) > self.limits.max_batch_queries:
            raise _refuse("counts in one request (a contamination entry counts one window per word)",
                          "max_batch_queries", self.limits.max_batch_queries, len(queries))
        return self.index.count_batch(queries, *args, **kwargs)


__all__ = [
    "NotFoundError", "RequestTooLargeError", "UnauthorizedError", "RateLimitedError", "OverCapacityError",
    "DeadlineExceededError",
    "HTTP_STATUS_OF_ERROR", "error_class", "status_of_type", "error_body", "too_large", "Limits", "GuardedIndex",
]
