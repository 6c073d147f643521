"""The typed results of queries. Field names are those of the batch contract (``batch.py``).

The result types of applications live with them (``EntryContamination`` in
:mod:`infgram.apps.contamination`), on the base :class:`Result`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Result:
    """The base of every result type (those of applications too): :meth:`to_dict` is its reply."""

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON-ready data; ``forms`` only when the query was a string,
        ``inside_tokens`` and ``notice`` only when asked for."""
        data = asdict(self)
        for key in ("forms", "notice", "by", "missing", "estimated", "sample_size", "population", "sample", "intervals"):
            if data.get(key, 0) is None:
                del data[key]
        if data.get("inside_tokens", 0) is None and "notice" not in data:
            del data["inside_tokens"]  # not asked for (undecided comes with a notice)
        return data


_Result = Result  # the name the result types below are written with


@dataclass(frozen=True, slots=True)
class Form(_Result):
    """One token sequence a string query was searched as (see :mod:`infgram.query.forms`):
    its ``ids``, the ``text`` they spell, and its ``count`` of occurrences."""

    ids: list[int]
    text: str
    count: int


@dataclass(frozen=True)
class ProbabilityResult(_Result):
    """count(prompt + next) / count(prompt); ``probability`` is None when the prompt never occurs."""

    prompt_count: int
    count: int
    probability: float | None
    forms: list[Form] | None = field(default=None, repr=False, compare=False)
    """The forms of a string prompt (None for ids), each with its count."""
    inside_tokens: bool | None = field(default=None, repr=False, compare=False)
    """Asked for with ``inside_tokens=True`` on a tokenized index, when ``forms`` are listed:
    whether the strings also occur starting or ending inside tokens (None: not asked, or
    undecided, then with a ``notice``); see :meth:`infgram.Index.inside_tokens_fields`."""
    notice: str | None = field(default=None, repr=False, compare=False)
    """When ``inside_tokens`` is not false: the strings that occur inside tokens, and that a byte index counts them."""


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
    """The exact distribution of the token after every occurrence of the prompt (in every
    form of a string prompt, listed in ``forms``; None for ids)."""

    prompt_count: int
    tokens: list[NextToken] = field(default_factory=list)
    forms: list[Form] | None = field(default=None, repr=False, compare=False)
    inside_tokens: bool | None = field(default=None, repr=False, compare=False)
    """Asked for with ``inside_tokens=True`` on a tokenized index, when ``forms`` are listed:
    whether the strings also occur starting or ending inside tokens (None: not asked, or
    undecided, then with a ``notice``); see :meth:`infgram.Index.inside_tokens_fields`."""
    notice: str | None = field(default=None, repr=False, compare=False)
    """When ``inside_tokens`` is not false: the strings that occur inside tokens, and that a byte index counts them."""


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
    forms: list[Form] | None = field(default=None, repr=False, compare=False)
    """The forms of a string query (None for ids), each with its count of occurrences."""
    inside_tokens: bool | None = field(default=None, repr=False, compare=False)
    """Asked for with ``inside_tokens=True`` on a tokenized index, when ``forms`` are listed:
    whether the strings also occur starting or ending inside tokens (None: not asked, or
    undecided, then with a ``notice``); see :meth:`infgram.Index.inside_tokens_fields`."""
    notice: str | None = field(default=None, repr=False, compare=False)
    """When ``inside_tokens`` is not false: the strings that occur inside tokens, and that a byte index counts them."""
    by: dict[str, int] | None = None
    """Asked for with ``by``: the number of documents per value of a metadata field (see
    :mod:`infgram.query.metadata`); ``missing``: those lacking the field."""
    missing: int | None = None
    estimated: bool | None = None
    """Asked for with ``estimate=True``: whether ``num_documents``, ``by`` and ``missing`` are
    estimates from a sample (past the work budget; see
    :func:`infgram.query.metadata.estimated_documents`) or exact (False); None when not asked."""
    sample_size: int | None = None
    """Of an estimate: the occurrences (documents, for the empty query) drawn."""
    population: int | None = None
    """Of an estimate: the occurrences (documents, for the empty query) drawn from."""
    sample: dict[str, Any] | None = None
    """Of an estimate: the documents seen in the sample (``count``, ``by``, ``missing``)."""
    intervals: dict[str, Any] | None = None
    """Of an estimate: 95% intervals [low, high] of the documents (``count``), of each value of ``by`` and of ``missing``."""


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
    forms: list[list[list[Form] | None]] | None = field(default=None, repr=False, compare=False)
    """The forms of each string phrase, by clause then phrase (None for a phrase of ids or
    one form); None when no phrase has forms to list."""
    inside_tokens: bool | None = field(default=None, repr=False, compare=False)
    """Asked for with ``inside_tokens=True`` on a tokenized index, when ``forms`` are listed:
    whether the strings also occur starting or ending inside tokens (None: not asked, or
    undecided, then with a ``notice``); see :meth:`infgram.Index.inside_tokens_fields`."""
    notice: str | None = field(default=None, repr=False, compare=False)
    """When ``inside_tokens`` is not false: the strings that occur inside tokens, and that a byte index counts them."""


@dataclass(frozen=True)
class _Span(_Result):
    """What every span of a text found in the corpus has: ``start``/``end``, token offsets
    into the text ([start, end)), ``character_start``/``character_end`` the same in
    characters, its ``text``, and its ``count`` occurrences in ``num_documents`` documents."""

    start: int
    end: int
    character_start: int
    character_end: int
    text: str
    count: int
    num_documents: int


@dataclass(frozen=True)
class AttributedSpan(_Span):
    """A maximal stretch of the text that occurs verbatim in the corpus (the fields of
    :class:`_Span` first). ``common`` spans are in more documents than the ``max_count``
    asked for and come without example ``documents``.
    """

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
    forms: list[list[Form] | None] | None = field(default=None, repr=False, compare=False)
    """The forms of each string phrase (None for a phrase of ids or one form); None when no
    phrase has forms to list."""
    inside_tokens: bool | None = field(default=None, repr=False, compare=False)
    """Asked for with ``inside_tokens=True`` on a tokenized index, when ``forms`` are listed:
    whether the strings also occur starting or ending inside tokens (None: not asked, or
    undecided, then with a ``notice``); see :meth:`infgram.Index.inside_tokens_fields`."""
    notice: str | None = field(default=None, repr=False, compare=False)
    """When ``inside_tokens`` is not false: the strings that occur inside tokens, and that a byte index counts them."""


@dataclass(frozen=True, slots=True)
class DraftToken(_Result):
    """One drafted token: its ``id`` and ``text``, its ∞-gram ``probability`` and ``count``
    after the longest suffix (of ``suffix_length`` tokens) of the prompt and the tokens
    drafted before it."""

    id: int
    text: str
    probability: float
    count: int
    suffix_length: int


@dataclass(frozen=True)
class DraftResult(_Result):
    """A greedy ∞-gram continuation and why it stopped: ``stop`` is ``end_of_document`` (the
    end of a document ranked first; not emitted), ``min_probability`` or ``min_count`` (the
    first choice fell below that threshold; not emitted) or ``max_tokens``. ``text`` is the
    drafted tokens decoded together (bytes joined into characters; an incomplete UTF-8
    sequence at the end is U+FFFD)."""

    tokens: list[DraftToken] = field(default_factory=list)
    stop: str = "max_tokens"
    text: str = ""


@dataclass(frozen=True)
class NoveltyResult(_Result):
    """n-gram novelty of a text: ``novelty[n - 1]`` is the share of its n-grams (n units from
    every start i with i + n ≤ ``num_units``) that occur nowhere in the corpus, None where the
    text has fewer than n units. ``unit`` is ``token``, or ``word`` in a byte index."""

    unit: str
    num_units: int
    novelty: list[float | None] = field(default_factory=list)


@dataclass(frozen=True)
class CreativityResult(_Result):
    """The Creativity Index of a text (Lu et al., 2024): ``uniqueness[k]`` is the share of its
    units not covered by any span of at least ``min_lengths[k]`` units that occurs in the corpus
    (None for an empty text), and ``creativity_index`` their sum. ``unit`` is ``token``, or
    ``word`` in a byte index."""

    unit: str
    num_units: int
    min_lengths: list[int] = field(default_factory=list)
    uniqueness: list[float | None] = field(default_factory=list)
    creativity_index: float | None = None


@dataclass(frozen=True)
class TracedPiece(_Span):
    """One span kept by OLMoTrace's filter (see :mod:`infgram.query.tracing`): a maximal
    self-contained stretch of the output's tokens (the fields of :class:`_Span` first);
    ``log10_probability`` is the log10 of its span unigram probability (the product of the
    unigram probabilities of its units) and ``num_units`` its units."""

    num_units: int
    log10_probability: float


@dataclass(frozen=True)
class TracedDocument(_Result):
    """A document retrieved for a traced span: ``index`` its number, ``text`` the window shown
    (starting at token ``window_start`` of the document), ``spans`` the [start, end) character
    ranges of ``text`` where the span's pieces occur (to highlight), ``pieces`` the numbers of
    the pieces it was retrieved for, ``score`` its BM25 relevance to the prompt and output and
    ``relevance`` that score's level (``high``, ``medium`` or ``low``)."""

    index: int
    text: str
    metadata: dict[str, Any]
    window_start: int
    score: float
    relevance: str
    spans: list[tuple[int, int]] = field(default_factory=list)
    pieces: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class TracedSpan(_Result):
    """A highlighted span of the output: the union of overlapping kept ``pieces``, tokens
    [``start``, ``end``) and characters [``character_start``, ``character_end``), with its
    ``documents`` most relevant first; ``relevance`` is that of its best document."""

    start: int
    end: int
    character_start: int
    character_end: int
    text: str
    relevance: str
    score: float
    pieces: list[TracedPiece] = field(default_factory=list)
    documents: list[TracedDocument] = field(default_factory=list)


@dataclass(frozen=True)
class TraceResult(_Result):
    """An OLMoTrace-style trace of an output (see :mod:`infgram.query.tracing`).

    ``num_tokens`` tokens of ``text`` (after ``prompt``), ``num_units`` its units (``unit``:
    ``token``, or ``word`` in a byte index); of ``num_candidates`` maximal self-contained
    spans, the ``num_kept`` = ceil(0.05 x num_units) with the lowest span unigram
    probability were kept and merged into ``spans``. Documents are ranked by BM25
    (``bm25_k1``, ``bm25_b``) with the inverse document frequencies from ``idf_source``.
    """

    text: str
    prompt: str
    num_tokens: int
    unit: str
    num_units: int
    num_candidates: int
    num_kept: int
    idf_source: str
    bm25_k1: float
    bm25_b: float
    spans: list[TracedSpan] = field(default_factory=list)
