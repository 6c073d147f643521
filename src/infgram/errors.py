"""Every error infgram raises on purpose, in one hierarchy.

Catch :class:`InfgramError` to handle them all. Each message says what was expected,
what was found, and what to do about it. The CLI prints the message on one line and
exits non-zero; the batch command reports ``{"type": <class name>, "message": ...}``.

>>> try:
...     raise QueryError("expected token ids below 255, found 300; use ids the index knows")
... except InfgramError as error:
...     print(type(error).__name__, "-", error)
QueryError - expected token ids below 255, found 300; use ids the index knows
"""

from __future__ import annotations


class InfgramError(Exception):
    """Base class of all errors infgram raises deliberately."""


class InputError(InfgramError):
    """An input file or document cannot be indexed (bad JSON, invalid UTF-8, ...)."""


class BuildError(InfgramError):
    """A build cannot go on (options, output directory, memory budget, ...)."""


class IndexFormatError(InfgramError):
    """An index on disk is missing, damaged, incomplete or of another format version."""


class IncompleteIndexError(IndexFormatError):
    """The index directory holds a build that has not finished."""


class QueryError(InfgramError):
    """A query is malformed: ids out of range, the separator, not one token, too long."""


class UnsupportedOperationError(InfgramError):
    """The operation is not available on this kind of index or tokenizer."""


__all__ = [
    "InfgramError",
    "InputError",
    "BuildError",
    "IndexFormatError",
    "IncompleteIndexError",
    "QueryError",
    "UnsupportedOperationError",
]
