"""Tracing an output back to the corpus as OLMoTrace does (Liu et al., 2025).

OLMoTrace ("Tracing Language Model Outputs Back to Trillions of Training Tokens") shows,
on a model's output, the stretches that occur verbatim in the training data, and for each
the training documents most relevant to the conversation. Its pipeline has five steps; here
is each, as this module computes it (``_reference.trace_*`` computes each by brute force).

1. **Candidate spans.** The maximal stretches of the output that occur in the corpus and
   are *self-contained*: a stretch holds no sentence break except as its last token (a break
   is a token whose text holds a period or a newline; in a byte index the bytes ``.`` and
   ``\\n``), and in a byte index it starts and ends at word boundaries of the output, without
   whitespace at either end (the rule of :func:`~infgram.query.attribution.trim_to_words`:
   no word is cut in the middle). Tokens are never cut: a span is a run of whole tokens.
   *Maximal* means inside no longer such stretch. They come from the matching statistics
   (:meth:`~infgram.Index.longest_matches`): clipping each start's longest match at the
   first break from it gives the longest self-contained stretch from every start (a prefix
   of an occurring stretch occurs too), and the ends of the clipped stretches still never
   decrease within a sentence, so :func:`~infgram.query.attribution.maximal_spans` applies.
2. **Keep the rarest.** The *span unigram probability* of a span is the product of the
   unigram probabilities of its units, a unit's being its count over the corpus's tokens.
   Units are tokens, or in a byte index the words of the output (runs of word characters,
   Python's ``\\w``), a single byte being no meaningful unit: a word's probability is then
   the chance that a given corpus position starts it. Of an output of L units, the
   ``ceil(0.05 * L)`` spans with the lowest probability are kept (ties: the earlier span).
   Probabilities are compared exactly, as fractions of integers, never rounded.
3. **Merge.** Kept spans that share a token are merged into one highlighted span (spans
   that only touch are not), which lists the kept spans, its *pieces*.
4. **Retrieve.** Up to ``documents_per_span`` (default 10, as in OLMoTrace) documents per
   piece, in index order, each a window of ``context`` tokens around its first match; a
   document retrieved for several pieces of a span is listed once.
5. **Rank.** Every document is scored by BM25 (Robertson and Zaragoza's Okapi BM25, k1 =
   1.2, b = 0.75) against the prompt and the output together. As in OLMoTrace, the
   collection of the documents retrieved (their windows, each once) is the corpus of the
   statistics: a term's inverse document frequency is ``ln(1 + (n - df + 0.5) / (df +
   0.5))`` with ``n`` the retrieved documents and ``df`` those holding the term, and
   lengths are compared with their average length; the reply says so in ``idf_source``.
   Terms are lowercased runs of word characters; each distinct term of the query counts
   once. A span's documents come most relevant first (ties: the lower number), and every
   score gets a level, ``high`` (at least 2/3 of the best score of the trace), ``medium``
   (at least 1/3) or ``low``, as OLMoTrace shades its highlights; a span's level is its best
   document's.

The cost is bounded: at most :data:`MAX_TRACE_TOKENS` tokens of output (and as many of
prompt), at most :data:`MAX_DOCUMENTS_PER_SPAN` documents per piece, each retrieval within
the request's work budget; past a limit a :class:`~infgram.errors.LimitError` names it.

>>> import infgram
>>> index = infgram.Index.from_texts(["the cat sat on the mat.", "a dog sat on a log", "cats and dogs"])
>>> result = index.trace("my cat sat on a log.", prompt="where do pets sit?")
>>> result.unit, result.num_units, result.num_candidates, result.num_kept, result.idf_source
('word', 6, 3, 1, 'retrieved documents')
>>> [(span.text, [document.index for document in span.documents]) for span in result.spans]
[('sat on a log', [1])]
"""

from __future__ import annotations

import math
import re
from collections import Counter
from fractions import Fraction
from typing import Any, Sequence

import numpy as np

from ..errors import LimitError, QueryError
from .attribution import TextEdges, maximal_spans, tokens_and_characters, trim_to_words
from .budget import work_limit
from .corpus import Corpus
from .documents import documents, merge_spans
from .encoding import Query, check_whole_number
from .results import AttributedSpan, AttributionResult, Document, TracedDocument, TracedPiece, TracedSpan, TraceResult

MAX_TRACE_TOKENS = 20_000
"""The longest output (and the longest prompt) traced, in tokens: 40 times OLMoTrace's
500-token answers. Longer ones are refused with a LimitError naming ``max_trace_tokens``."""
MAX_DOCUMENTS_PER_SPAN = 100
"""The most documents retrieved per kept span (``documents_per_span``)."""
DEFAULT_DOCUMENTS_PER_SPAN = 10
"""OLMoTrace's number of documents per span."""
SPAN_FRACTION = 0.05
"""The share of the output's units that is the number of spans kept (rounded up)."""
BM25_K1 = 1.2
BM25_B = 0.75
IDF_SOURCE = "retrieved documents"
"""Where BM25's document frequencies come from: the windows of the retrieved documents."""
_TERM = re.compile(r"\w+")


def default_context(corpus: Corpus) -> int:
    """The window shown and scored around each match: 500 bytes or 100 tokens (about the same text)."""
    return 500 if corpus.tokenizer.tokens_are_bytes else 100


# -- step 1 -------------------------------------------------------------------------------------------
def self_contained_lengths(lengths: np.ndarray, breaks: np.ndarray) -> np.ndarray:
    """Each start's longest match, cut after the first break token at or after it.

    >>> self_contained_lengths(np.array([4, 3, 3, 1]), np.array([False, True, False, False])).tolist()
    [2, 1, 2, 1]
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    positions = np.flatnonzero(breaks)
    starts = np.arange(len(lengths), dtype=np.int64)
    # The first break at or after each start; past the last one, the text's end bounds the stretch.
    limits = np.full(len(lengths), len(lengths), dtype=np.int64)
    following = np.searchsorted(positions, starts)
    has_break = following < len(positions)
    limits[has_break] = positions[following[has_break]] + 1
    return np.minimum(lengths, limits - starts)


def candidate_spans(lengths: np.ndarray, breaks: np.ndarray, min_length: int,
                    edges: TextEdges | None = None) -> list[tuple[int, int]]:
    """Step 1: the maximal self-contained stretches [start, end) of at least ``min_length`` (and
    1) tokens, from the matching statistics ``lengths``; with ``edges`` (a byte index) cut at
    the word boundaries of the text.

    >>> candidate_spans(np.array([5, 4, 3, 2, 1]), np.array([False, False, True, False, False]), 1)
    [(0, 3), (3, 5)]
    >>> edges = TextEdges([bytes([b]) for b in b"a cat. b"], carries_space=False)
    >>> candidate_spans(np.array([8, 7, 6, 5, 4, 3, 2, 1]), np.frombuffer(b"a cat. b", np.uint8) == 46, 1, edges)
    [(0, 6), (7, 8)]
    """
    shortest = max(min_length, 1)
    spans = maximal_spans(self_contained_lengths(lengths, breaks), 1)
    if edges is not None:
        return trim_to_words(edges, spans, shortest) if spans else []
    return [(start, end) for start, end in spans if end - start >= shortest]


def break_tokens(corpus: Corpus, ids: np.ndarray) -> np.ndarray:
    """Whether each token is a sentence break: its text holds a period or a newline (none for
    an index of bare token ids, which has no text)."""
    if corpus.tokenizer.tokens_are_bytes:
        return (ids == ord(".")) | (ids == ord("\n"))
    if not corpus.tokenizer.text_has_forms:  # bare token ids: no text to hold a break
        return np.zeros(len(ids), dtype=bool)
    spellings = corpus.spelling_speller().spellings
    return np.array([b"." in spellings[token] or b"\n" in spellings[token] for token in ids.tolist()], dtype=bool)


# -- step 2 -------------------------------------------------------------------------------------------
def word_units(data: bytes) -> list[tuple[int, int]]:
    """The words of a byte text, as [start, end) byte offsets: runs of word characters (``\\w``)
    of its UTF-8 decoding (an undecodable byte is no word character).

    >>> word_units("a été, b_2".encode())
    [(0, 1), (2, 7), (9, 12)]
    """
    characters = data.decode("utf-8", errors="surrogateescape")
    sizes = [1 if "\udc80" <= character <= "\udcff" else len(character.encode("utf-8")) for character in characters]
    byte_of = np.concatenate(([0], np.cumsum(sizes, dtype=np.int64))) if sizes else np.zeros(1, dtype=np.int64)
    return [(int(byte_of[found.start()]), int(byte_of[found.end()])) for found in _TERM.finditer(characters)]


def span_probability(counts: Sequence[int], num_tokens: int) -> Fraction:
    """The span unigram probability: the product of its units' counts over the corpus's tokens.

    >>> span_probability([2, 3], 10)
    Fraction(3, 50)
    """
    numerator = math.prod(int(count) for count in counts)
    return Fraction(numerator, max(num_tokens, 1) ** len(counts))


def lowest_probability(unit_counts: Sequence[Sequence[int]], num_tokens: int, keep: int) -> list[int]:
    """Step 2: the numbers of the ``keep`` spans with the lowest span unigram probability
    (ties: the earlier span), in span order.

    >>> lowest_probability([[5], [1, 1], [2]], 10, 2)
    [1, 2]
    """
    ranked = sorted(range(len(unit_counts)), key=lambda number: (span_probability(unit_counts[number], num_tokens),
                                                                 number))
    return sorted(ranked[:keep])


def num_kept(num_units: int) -> int:
    """The number of spans OLMoTrace keeps of an output of ``num_units`` units: ceil(0.05 x L).

    >>> num_kept(0), num_kept(1), num_kept(500)
    (0, 1, 25)
    """
    return -(-num_units * 5 // 100)  # ceil(L * 5 / 100) in integers: SPAN_FRACTION exactly


# -- step 3 -------------------------------------------------------------------------------------------
def merge_overlapping(spans: Sequence[tuple[int, int]]) -> list[tuple[int, int, list[int]]]:
    """Step 3: spans that share a token, merged: (start, end, numbers of the spans merged),
    by start. Spans that only touch stay apart.

    >>> merge_overlapping([(0, 3), (2, 5), (5, 7), (9, 10)])
    [(0, 5, [0, 1]), (5, 7, [2]), (9, 10, [3])]
    """
    merged: list[tuple[int, int, list[int]]] = []
    for number in sorted(range(len(spans)), key=lambda number: spans[number]):
        start, end = spans[number]
        if merged and start < merged[-1][1]:  # shares the token before merged[-1]'s end
            first, last, members = merged[-1]
            merged[-1] = (first, max(last, end), members + [number])
        else:
            merged.append((start, end, [number]))
    return merged


# -- step 5 -------------------------------------------------------------------------------------------
def terms(text: str) -> list[str]:
    """BM25's terms of a text: its lowercased runs of word characters.

    >>> terms("The cat's 2 Cats!")
    ['the', 'cat', 's', '2', 'cats']
    """
    return _TERM.findall(text.lower())


def bm25_scores(query: str, texts: Sequence[str], k1: float = BM25_K1, b: float = BM25_B) -> list[float]:
    """The BM25 score of each text for the query, the texts being the whole collection (the
    source of the document frequencies and of the average length).

    >>> [round(score, 3) for score in bm25_scores("red rose", ["a red rose", "a rose", "a dog"])]
    [1.299, 0.499, 0.0]
    """
    bags = [Counter(terms(text)) for text in texts]
    lengths = [sum(bag.values()) for bag in bags]
    average = sum(lengths) / len(lengths) if lengths and sum(lengths) else 1.0
    frequencies = Counter(term for bag in bags for term in bag)
    size = len(bags)
    idf = {term: math.log(1 + (size - df + 0.5) / (df + 0.5)) for term, df in frequencies.items()}
    wanted = [term for term in dict.fromkeys(terms(query)) if term in idf]
    scores = []
    for bag, length in zip(bags, lengths):
        norm = k1 * (1 - b + b * length / average)
        scores.append(sum((idf[term] * bag[term] * (k1 + 1) / (bag[term] + norm) for term in wanted if bag[term]),
                          0.0))
    return scores


def relevance(score: float, best: float) -> str:
    """The level of a score against the trace's best: ``high``, ``medium`` or ``low``.

    >>> relevance(3.0, 4.0), relevance(2.0, 4.0), relevance(0.5, 4.0), relevance(0.0, 0.0)
    ('high', 'medium', 'low', 'low')
    """
    if best <= 0 or score <= 0:
        return "low"
    if 3 * score >= 2 * best:
        return "high"
    return "medium" if 3 * score >= best else "low"


# -- the pipeline -------------------------------------------------------------------------------------
def _refuse_long(what: str, needed: int) -> LimitError:
    return LimitError(f"expected {what} of at most {MAX_TRACE_TOKENS:,} tokens to trace (max_trace_tokens), found "
                      f"{needed:,}; trace the output in parts", "max_trace_tokens", MAX_TRACE_TOKENS, needed)


def _checked_length(corpus: Corpus, text: Query, what: str) -> None:
    """Refuse an over-long text before encoding it (a token is at least one character or byte)."""
    if isinstance(text, str) and len(text) > 8 * MAX_TRACE_TOKENS:
        raise _refuse_long(what, len(text) // 8)
    if not isinstance(text, str):
        num_tokens = len(corpus.tokenize(text))
        if num_tokens > MAX_TRACE_TOKENS:
            raise _refuse_long(what, num_tokens)


def candidates(corpus: Corpus, ids: np.ndarray, min_length: int = 1) -> list[tuple[int, int]]:
    """Step 1 on the index: the candidate spans of a token sequence (see the module docstring).

    >>> import infgram
    >>> index = infgram.Index.from_texts(["the cat sat. on it"])
    >>> candidates(index, index.tokenize("a cat sat. on"))  # "a" occurs, inside "sat"
    [(0, 1), (2, 10), (11, 13)]
    """
    ids = np.asarray(ids, dtype=np.int64)
    if not len(ids):
        return []
    lengths = np.asarray(corpus.longest_matches(ids).lengths, dtype=np.int64)
    edges = None
    if corpus.tokenizer.tokens_are_bytes:
        edges = TextEdges([bytes([token]) for token in ids.tolist()], carries_space=False)
    return candidate_spans(lengths, break_tokens(corpus, ids), min_length, edges)


def _units(corpus: Corpus, ids: np.ndarray) -> tuple[str, list[tuple[int, int]]]:
    """The output's units as [start, end) token ranges: words in a byte index, else tokens."""
    if corpus.tokenizer.tokens_are_bytes:
        return "word", word_units(ids.astype(np.uint8).tobytes())
    return "token", [(i, i + 1) for i in range(len(ids))]


def _highlights(text: str, pieces: Sequence[str], found: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The character ranges of a document window to highlight: where each piece occurs in it,
    and the matches the retrieval located."""
    ranges = list(found)
    for piece in pieces:
        at = text.find(piece) if piece else -1
        while at >= 0:
            ranges.append((at, at + len(piece)))
            at = text.find(piece, at + len(piece))
    return merge_spans(ranges)


def trace(corpus: Corpus, text: Query, prompt: Query = "", min_length: int = 1,
          documents_per_span: int = DEFAULT_DOCUMENTS_PER_SPAN, context: int | None = None,
          max_work: int | None = None, exact: bool = False) -> TraceResult:
    """See :meth:`infgram.Index.trace`."""
    min_length = check_whole_number("min_length", min_length)
    documents_per_span = check_whole_number("documents_per_span", documents_per_span)
    if documents_per_span > MAX_DOCUMENTS_PER_SPAN:
        raise LimitError(f"expected documents_per_span of at most {MAX_DOCUMENTS_PER_SPAN}, found "
                         f"{documents_per_span:,}; ask for fewer", "documents_per_span", MAX_DOCUMENTS_PER_SPAN,
                         documents_per_span)
    context = default_context(corpus) if context is None else check_whole_number("context", context)
    budget = work_limit(max_work, exact, getattr(corpus, "max_work_ceiling", None))
    _checked_length(corpus, text, "an output")
    _checked_length(corpus, prompt, "a prompt")
    text, ids, starts, ends = tokens_and_characters(corpus, text)
    if len(ids) > MAX_TRACE_TOKENS:
        raise _refuse_long("an output", len(ids))
    prompt_text = prompt if isinstance(prompt, str) else corpus.tokenizer.decode(corpus.tokenize(prompt))
    if not isinstance(prompt_text, str):
        raise QueryError(f"expected the prompt as a string or token ids, found {type(prompt).__name__}")

    found = candidates(corpus, ids, min_length)
    unit, units = _units(corpus, ids)
    unit_starts = np.array([start for start, _ in units], dtype=np.int64)
    unit_ends = np.array([end for _, end in units], dtype=np.int64)
    # The units inside each span: those starting at or after its start and ending by its end.
    inside = [(int(np.searchsorted(unit_starts, start)), int(np.searchsorted(unit_ends, end, side="right")))
              for start, end in found]
    wanted = sorted({units[u] for first, last in inside for u in range(first, last)})
    unit_counts_of = dict(zip(wanted, corpus.count_batch([ids[a:b] for a, b in wanted]).tolist())) if wanted else {}
    unit_counts = [[unit_counts_of[units[u]] for u in range(first, last)] for first, last in inside]
    keep = num_kept(len(units))
    chosen = lowest_probability(unit_counts, corpus.num_tokens, keep)
    kept = [found[number] for number in chosen]
    kept_counts = [unit_counts[number] for number in chosen]

    def characters(start: int, end: int) -> tuple[int, int]:
        first, last = int(starts[start]), int(ends[end - 1])
        while first < last and text[first].isspace():  # the word-start space a token carries is no part of it
            first += 1
        while last > first and text[last - 1].isspace():
            last -= 1
        return first, last

    pieces: list[TracedPiece] = []
    retrieved: list[list[Any]] = []
    span_counts = corpus.count_batch([ids[a:b] for a, b in kept]).tolist() if kept else []
    for (start, end), counts, count in zip(kept, kept_counts, span_counts):
        result = documents(corpus, ids[start:end], limit=documents_per_span, context=context, budget=budget)
        first, last = characters(start, end)
        log10 = sum(math.log10(c) for c in counts) - len(counts) * math.log10(max(corpus.num_tokens, 1))
        pieces.append(TracedPiece(start, end, first, last, text[first:last], int(count), result.num_documents,
                                  len(counts), log10))
        retrieved.append(result.documents)

    # Step 5's collection: every retrieved document once (its first window), scored against prompt + output.
    windows: dict[int, Any] = {}
    for shown in retrieved:
        for document in shown:
            windows.setdefault(document.index, document)
    numbers = sorted(windows)
    scores = dict(zip(numbers, bm25_scores(prompt_text + "\n" + text, [windows[n].text for n in numbers])))
    best = max(scores.values(), default=0.0)

    spans = []
    for start, end, members in merge_overlapping(kept):
        holders: dict[int, list[int]] = {}
        for place, member in enumerate(members):
            for document in retrieved[member]:
                holders.setdefault(document.index, []).append(place)
        shown = []
        for number in sorted(holders, key=lambda n: (-scores[n], n)):
            window = windows[number]
            piece_texts = [pieces[members[piece]].text for piece in holders[number]]
            shown.append(TracedDocument(number, window.text, window.metadata, window.window_start, scores[number],
                                        relevance(scores[number], best),
                                        _highlights(window.text, piece_texts, window.spans), holders[number]))
        top = shown[0].score if shown else 0.0
        first, last = characters(start, end)
        spans.append(TracedSpan(start, end, first, last, text[first:last], relevance(top, best), top,
                                [pieces[member] for member in members], shown))
    return TraceResult(text, prompt_text, len(ids), unit, len(units), len(found), len(kept), IDF_SOURCE, BM25_K1,
                       BM25_B, spans)


def attribution_of_trace(traced: TraceResult, min_length: int, examples: int) -> AttributionResult:
    """A trace in the shape of an attribution (``attribute(..., mode="olmotrace")``): each merged
    span with the first ``examples`` of its documents, most relevant first, its ``count`` that
    of its rarest piece and ``num_documents`` the documents retrieved for it.

    >>> import infgram
    >>> index = infgram.Index.from_texts(["the cat sat on the mat", "a dog sat on a log"])
    >>> result = index.attribute("my dog sat on a log", mode="olmotrace")
    >>> [(span.text, span.count, span.num_documents) for span in result.spans]
    [('dog sat on a log', 1, 1)]
    """
    spans = []
    for span in traced.spans:
        shown = [Document(document.index, document.text, None, document.metadata, document.window_start,
                          spans=document.spans) for document in span.documents[:examples]]
        spans.append(AttributedSpan(span.start, span.end, span.character_start, span.character_end, span.text,
                                    min(piece.count for piece in span.pieces), len(span.documents), False, shown))
    return AttributionResult(traced.text, traced.num_tokens, min_length, spans)
