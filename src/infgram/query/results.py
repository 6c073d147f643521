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
    ``window_start`` the token offset where ``text`` begins (0 for the whole document);
    ``spans`` the matches shown in ``text``, as [start, end) character offsets into it.
    """

    index: int
    text: str
    start: int | None
    metadata: dict[str, Any]
    window_start: int = 0
    num_tokens: int = 0
    spans: list[tuple[int, int]] = field(default_factory=list)


@dataclass(frozen=True)
class DocumentsResult(_Result):
    """How many documents contain the query (``num_documents``), and one page of them.

    When counting every document would cost more than the request's work budget,
    ``num_documents`` is an exact lower bound (the documents among the occurrences read
    within the budget) and ``num_documents_exact`` is false; the page is drawn from those.
    """

    num_documents: int
    documents: list[Document] = field(default_factory=list)
    num_documents_exact: bool = True


@dataclass(frozen=True)
class InfgramProbabilitiesResult(_Result):
    """The ∞-gram probability of every token of a sequence given all the tokens before it.

    Entry i is for ``token_ids[i]``: the longest suffix of ``token_ids[:i]`` that occurs has
    ``suffix_lengths[i]`` tokens and occurs ``prompt_counts[i]`` times, ``counts[i]`` of them
    followed by the token; ``probabilities[i]`` is their ratio (None if the index is empty).
    """

    token_ids: list[int]
    suffix_lengths: list[int]
    prompt_counts: list[int]
    counts: list[int]
    probabilities: list[float | None]


@dataclass(frozen=True)
class LongestMatchesResult(_Result):
    """For every start i, the longest prefix of ``token_ids[i:]`` that occurs in the corpus:
    ``lengths[i]`` tokens, occurring ``counts[i]`` times (0 when not even one token occurs)."""

    token_ids: list[int]
    lengths: list[int]
    counts: list[int]


@dataclass(frozen=True)
class SearchResult(_Result):
    """An AND/OR document search: ``num_documents`` matching documents, ``sites`` match sites (token
    positions where a phrase of a clause begins, in a satisfying combination, each position
    counted once), and one page of the documents with their matches in ``spans``."""

    num_documents: int
    sites: int
    documents: list[Document] = field(default_factory=list)


@dataclass(frozen=True)
class AttributedSpan(_Result):
    """A maximal stretch of the text that occurs verbatim in the corpus.

    ``start``/``end`` are token offsets into the text ([start, end)), ``character_start``/
    ``character_end`` the same in characters; ``count`` its occurrences, in ``num_documents``
    documents. ``common`` spans are in more documents than the ``max_count`` asked for and
    come without example ``documents``.
    """

    start: int
    end: int
    character_start: int
    character_end: int
    text: str
    count: int
    num_documents: int
    common: bool
    documents: list[Document] = field(default_factory=list)


@dataclass(frozen=True)
class AttributionResult(_Result):
    """The verbatim spans of a text found in the corpus (at least ``min_length`` tokens), by start."""

    text: str
    num_tokens: int
    min_length: int
    spans: list[AttributedSpan] = field(default_factory=list)


@dataclass(frozen=True)
class CooccurrenceResult(_Result):
    """Statistics of many phrases: ``counts[i]`` occurrences and (when asked for)
    ``document_counts[i]`` documents of phrase i, and for each pair asked,
    ``pair_document_counts[k]`` documents that contain both phrases of ``pairs[k]``."""

    counts: list[int]
    document_counts: list[int] | None
    pairs: list[tuple[int, int]]
    pair_document_counts: list[int]


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
