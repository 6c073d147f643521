"""The typed results of queries. Field names are those of the batch contract (``batch.py``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class _Result:
    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON-ready data."""
        return asdict(self)


@dataclass(frozen=True)
class ProbabilityResult(_Result):
    """count(prompt + next) / count(prompt); ``probability`` is None when the prompt never occurs."""

    prompt_count: int
    count: int
    probability: float | None


@dataclass(frozen=True)
class InfgramProbabilityResult(_Result):
    """As :class:`ProbabilityResult`, on the longest suffix of the prompt that occurs."""

    suffix_length: int
    prompt_count: int
    count: int
    probability: float | None


@dataclass(frozen=True, slots=True)
class NextToken(_Result):
    """One entry of a next-token distribution; ``id`` None is the end of a document."""

    id: int | None
    text: str | None
    count: int
    probability: float


@dataclass(frozen=True)
class NextTokensResult(_Result):
    """The exact distribution of the token after every occurrence of the prompt."""

    prompt_count: int
    tokens: list[NextToken] = field(default_factory=list)


@dataclass(frozen=True)
class InfgramNextTokensResult(_Result):
    """A next-token distribution on the longest suffix of the prompt that occurs."""

    suffix_length: int
    prompt_count: int
    tokens: list[NextToken] = field(default_factory=list)


@dataclass(frozen=True)
class Document(_Result):
    """A document, or a window of it.

    ``index`` is the document's number in the whole index; ``start`` the token offset of the
    first match within the document (None when the document was asked for by number);
    ``window_start`` the token offset where ``text`` begins (0 for the whole document).
    """

    index: int
    text: str
    start: int | None
    metadata: dict[str, Any]
    window_start: int = 0
    num_tokens: int = 0


@dataclass(frozen=True)
class DocumentsResult(_Result):
    """How many documents contain the query, and one page of them."""

    count: int
    documents: list[Document] = field(default_factory=list)


@dataclass(frozen=True)
class EntryContamination(_Result):
    """How much of one benchmark entry occurs in the corpus (see ``infgram.contamination``).

    ``index`` is the entry's number (0-based, blank lines not counted); ``windows`` its
    number of 50-character windows and ``found`` how many of them occur; ``fraction`` is
    found / windows and ``label`` one of clean, suspicious, dirty. ``example`` is None or
    ``{"document", "window", "count", "snippet", "metadata"}``: the found window that occurs
    least often and one document that contains it.
    """

    index: int
    windows: int
    found: int
    fraction: float
    label: str
    example: dict[str, Any] | None = None
