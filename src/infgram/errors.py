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
    """An input file or document cannot be indexed (bad JSON, invalid UTF-8, a truncated or
    unreadable file, ...)."""


class BuildError(InfgramError):
    """A build cannot go on (options, output directory, memory budget, ...)."""


class IndexFormatError(InfgramError):
    """An index on disk is missing, damaged, incomplete or of another format version."""


class IncompleteIndexError(IndexFormatError):
    """The index directory holds a build that has not finished."""


class IndexLockedError(InfgramError):
    """Another process is changing the index (``add``, ``remove``, ``compact``); changes
    are made one at a time. ``holder`` describes the process holding the lock, when known."""

    def __init__(self, message: str, holder: str | None = None):
        super().__init__(message)
        self.holder = holder

    @property
    def fields(self) -> dict[str, object]:
        """The typed fields an error reply carries besides type and message."""
        return {"holder": self.holder}


class MemoryBudgetWarning(UserWarning):
    """A build cannot stay within its memory budget (``--memory``): the budget is below the
    floor that the interpreter and its libraries take before any data is read."""


class QueryError(InfgramError):
    """A query is malformed: ids out of range, the separator, not one token, too long."""


class DocumentRemovedError(QueryError):
    """The document asked for was taken down (``infgram remove``); its number stays a gap.
    ``document`` is its global number."""

    def __init__(self, message: str, document: int | None = None):
        super().__init__(message)
        self.document = document

    @property
    def fields(self) -> dict[str, object]:
        """The typed fields an error reply carries besides type and message."""
        return {"document": self.document}


class UnsupportedOperationError(InfgramError):
    """The operation is not available on this kind of index or tokenizer."""


class LimitError(QueryError):
    """A request would cost more than its budget allows. ``option`` names the setting that
    raises the budget, ``limit`` is its value, and ``needed`` is what the request needs
    (at least)."""

    def __init__(self, message: str, option: str, limit: int, needed: int):
        super().__init__(message)
        self.option = option
        self.limit = limit
        self.needed = needed

    @property
    def fields(self) -> dict[str, object]:
        """The typed fields an error reply carries besides type and message."""
        return {"option": self.option, "limit": self.limit, "needed": self.needed}


def shown(value: object) -> str:
    """``value`` as text for a one-line message: control characters (a newline in a file
    name, say) are escaped as in ``repr``, everything else is left as it is.

    >>> shown("data/a.jsonl"), shown("bad\\nname.jsonl"), shown("caf\\u00e9")
    ('data/a.jsonl', 'bad\\\\nname.jsonl', 'café')
    """
    text = str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


__all__ = [
    "InfgramError",
    "InputError",
    "BuildError",
    "IndexFormatError",
    "IncompleteIndexError",
    "IndexLockedError",
    "QueryError",
    "DocumentRemovedError",
    "UnsupportedOperationError",
    "LimitError",
    "MemoryBudgetWarning",
    "shown",
]
