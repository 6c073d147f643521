"""Attribution of a text (say, a model's output) to the corpus: its verbatim spans.

This is what OLMoTrace shows on top of infini-gram. The spans come from the *matching
statistics* of the text: for every token i, the length m[i] of the longest stretch starting
at i that occurs in the corpus (:meth:`infgram.Index.longest_matches`, one pass). The stretch
[i, i + m[i]) is *maximal* (not inside a longer one) exactly when it ends later than the
one before it: since m[i + 1] >= m[i] - 1, the ends i + m[i] never decrease, so a stretch
is contained in an earlier one only if the previous stretch ends where it does.

Maximal stretches at least ``min_length`` tokens long are the spans. In a byte index a span
is trimmed to whole words, without spaces at its ends, as OLMoTrace shows spans (what remains
still occurs verbatim, perhaps more often, so it is counted again). Each span gets its count and the number of documents that
hold it; spans held by more than ``max_count`` documents are marked ``common`` and come
without examples, the others with up to ``examples`` documents, cut to ``context`` tokens
around the match.
"""

from __future__ import annotations

import numpy as np

from ..errors import QueryError
from .corpus import Corpus
from .documents import documents
from .encoding import Query, check_text, check_whole_number
from .results import AttributedSpan, AttributionResult

MAX_ATTRIBUTION_TOKENS = 100_000
"""Longer texts are refused: split them (the spans of each part are found the same way)."""


def default_settings(corpus: Corpus) -> dict[str, int]:
    """``min_length`` and ``context`` default to about the same text in either kind of index:
    32 bytes or 8 tokens for a span, 100 bytes or 25 tokens of context."""
    if corpus.tokenizer.kind == "bytes":
        return {"min_length": 32, "context": 100}
    return {"min_length": 8, "context": 25}


def _tokens_and_characters(corpus: Corpus, text: Query) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """The text, its ids, and the [start, end) character offsets of each token in the text."""
    if isinstance(text, str):
        if len(text) > MAX_ATTRIBUTION_TOKENS * 8:
            raise QueryError(f"expected a text of at most {MAX_ATTRIBUTION_TOKENS * 8:,} characters to attribute, "
                             f"found {len(text):,}; split the text")
        check_text(text)
        ids, starts, ends = corpus.tokenizer.encode_with_offsets(text)  # one encoding gives both
        ids = ids.astype(np.int64)
    else:
        ids = corpus.tokenize(text)
    if len(ids) > MAX_ATTRIBUTION_TOKENS:
        raise QueryError(f"expected at most {MAX_ATTRIBUTION_TOKENS:,} tokens to attribute, found {len(ids):,}; "
                         "split the text")
    if isinstance(text, str):
        return text, ids, starts, ends
    # Ids without a text: the text is their decoding, each token ending where its prefix does.
    decoded = corpus.tokenizer.decode(ids)
    ends = np.array([len(corpus.tokenizer.decode(ids[: k + 1])) for k in range(len(ids))], dtype=np.int64)
    starts = np.concatenate(([0], ends[:-1])).astype(np.int64)
    return decoded, ids, starts, ends


def _whole_words(ids: np.ndarray, spans: list[tuple[int, int]], min_length: int) -> list[tuple[int, int]]:
    """Byte spans trimmed to whole words (letters, digits and any non-ASCII character count as
    word bytes) without spaces at either end; spans that end up shorter than ``min_length`` or
    inside another are dropped.

    >>> ids = np.frombuffer("the cat sat".encode(), dtype=np.uint8)
    >>> _whole_words(ids, [(1, 9), (0, 11)], 3)
    [(0, 11)]
    >>> _whole_words(ids, [(1, 9)], 3)
    [(4, 7)]
    """
    word = np.zeros(256, dtype=bool)
    for low, high in ((48, 57), (65, 90), (97, 122), (128, 255)):
        word[low : high + 1] = True
    space = np.zeros(256, dtype=bool)
    space[[9, 10, 11, 12, 13, 32]] = True
    n = len(ids)
    trimmed: list[tuple[int, int]] = []
    for start, end in spans:
        while start < end and start > 0 and word[ids[start - 1]] and word[ids[start]]:
            start += 1
        while end > start and end < n and word[ids[end - 1]] and word[ids[end]]:
            end -= 1
        while start < end and space[ids[start]]:
            start += 1
        while end > start and space[ids[end - 1]]:
            end -= 1
        if end - start >= min_length:
            trimmed.append((start, end))
    kept: list[tuple[int, int]] = []
    for start, end in sorted(set(trimmed), key=lambda span: (span[0], -span[1])):
        if kept and end <= kept[-1][1]:
            continue  # inside the span before it
        kept.append((start, end))
    return kept


def maximal_spans(lengths: np.ndarray, min_length: int) -> list[tuple[int, int]]:
    """The maximal stretches [i, i + lengths[i]) at least ``min_length`` long, from matching statistics.

    >>> maximal_spans(np.array([3, 2, 4, 3, 2, 1]), 1)
    [(0, 3), (2, 6)]
    """
    if not len(lengths):
        return []
    ends = np.arange(len(lengths)) + lengths
    later = np.ones(len(lengths), dtype=bool)
    later[1:] = ends[1:] > ends[:-1]
    starts = np.flatnonzero(later & (lengths >= max(min_length, 1)))
    return [(int(s), int(ends[s])) for s in starts]


def attribute(corpus: Corpus, text: Query, min_length: int | None = None, max_count: int = 100, examples: int = 3,
              context: int | None = None) -> AttributionResult:
    """See :meth:`infgram.Index.attribute`."""
    defaults = default_settings(corpus)
    min_length = defaults["min_length"] if min_length is None else min_length
    context = defaults["context"] if context is None else context
    min_length = check_whole_number("min_length", min_length)
    max_count = check_whole_number("max_count", max_count)
    examples = check_whole_number("examples", examples, 1000)
    context = check_whole_number("context", context)
    text, ids, starts, ends = _tokens_and_characters(corpus, text)
    matches = corpus.longest_matches(ids)
    spans = maximal_spans(np.asarray(matches.lengths, dtype=np.int64), min_length)
    counts = [matches.counts[start] for start, _ in spans]
    if corpus.tokenizer.kind == "bytes" and spans:
        spans = _whole_words(ids, spans, max(min_length, 1))
        counts = corpus.count_batch([ids[start:end] for start, end in spans]).tolist() if spans else []
    result = []
    for (start, end), count in zip(spans, counts):
        span_ids = ids[start:end]
        found = documents(corpus, span_ids, limit=examples, context=context)
        common = found.num_documents > max_count
        result.append(AttributedSpan(
            start, end, int(starts[start]), int(ends[end - 1]), text[int(starts[start]) : int(ends[end - 1])],
            int(count), found.num_documents, common, [] if common else found.documents))
    return AttributionResult(text, len(ids), min_length, result)
