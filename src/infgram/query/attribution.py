"""Attribution of a text (say, a model's output) to the corpus: its verbatim spans.

This is what OLMoTrace shows on top of infini-gram. The spans come from the *matching
statistics* of the text: for every token i, the length m[i] of the longest stretch starting
at i that occurs in the corpus (:meth:`infgram.Index.longest_matches`, one pass). The stretch
[i, i + m[i]) is *maximal* (not inside a longer one) exactly when it ends later than the
one before it: since m[i + 1] >= m[i] - 1, the ends i + m[i] never decrease, so a stretch
is contained in an earlier one only if the previous stretch ends where it does.

Maximal stretches at least ``min_length`` tokens long are the spans. In a byte index a span
is cut at the word boundaries of the text, without whitespace at its ends, as OLMoTrace
shows spans (:func:`trim_to_words`; what remains still occurs verbatim, perhaps more often,
so it is counted again); word characters are those of :mod:`infgram.query.words` (Python's
``\\w``). Each span gets its count and the number of documents that hold it; spans held by
more than ``max_count`` documents are marked ``common`` and come without examples, the
others with up to ``examples`` documents, cut to ``context`` tokens around the match.

**Whole words** (``whole_words=True``, ``--whole-words``, ``"whole_words": true``). Take
the text as the tokens spell it (see :mod:`infgram.query.forms`; a token that carries a
word-start space, "Ġcat" or "▁cat", starts its text after the space). A *whole-word
stretch* of the text is a run of its tokens [start, end) whose text

- begins and ends at character boundaries, neither with whitespace, and
- is a whole word in the text: the character just before it (the carried space, if any)
  and the character just after it are not word characters, or are the text's edges.

The spans are the whole-word stretches of at least ``min_length`` tokens whose tokens occur
in the corpus as whole words (by the rule of :mod:`infgram.query.words`, the first token's
carried space counting as the character before), and that lie inside no longer such
stretch. A span's ``count`` and ``num_documents`` count its whole-word occurrences; its
examples are the first ``examples`` documents holding one, in index order, each cut around
its first one. Finding them reads occurrences until a whole-word one turns up, and every
occurrence of each span, within the work budget ``max_work`` (:mod:`infgram.query.budget`;
past it a :class:`~infgram.errors.LimitError`, ``exact=True`` lifts it).
``_reference.whole_word_spans`` (byte indexes, by regular expressions on the documents'
text) and ``_reference.whole_word_token_spans`` (token indexes) compute the same spans by
brute force.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..errors import QueryError, UnsupportedOperationError
from ..format.metadata import Where
from .budget import charge, refuse, work_limit
from .corpus import Corpus
from .documents import documents, read_document
from .encoding import Query, check_text, check_whole_number
from .filtering import conditions_of, filtered_match_lengths
from .metadata import filtered_documents
from .options import Matching
from .partials import run_of
from .results import AttributedSpan, AttributionResult
from .words import is_word_character, whole_word_in_run, whole_word_summary

MAX_ATTRIBUTION_TOKENS = 100_000
"""Longer texts are refused: split them (the spans of each part are found the same way)."""


def default_settings(corpus: Corpus) -> dict[str, int]:
    """``min_length`` and ``context`` default to about the same text in either kind of index:
    32 bytes or 8 tokens for a span, 100 bytes or 25 tokens of context."""
    if corpus.tokenizer.tokens_are_bytes:
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


tokens_and_characters = _tokens_and_characters
"""The text, its ids, and the [start, end) character offsets of each token (for tracing)."""


class TextEdges:
    """The characters around every token boundary of the text a token sequence spells (on a
    byte index, the text itself): what the word rules of attribution look at.

    ``spellings`` are the bytes each token spells; with ``carries_space`` (a tokenized
    index) a token spelling " " and more carries the word-start space of the text after it
    (see :mod:`infgram.query.forms`): a stretch starting there begins after that space,
    which counts as the character before it. Undecodable bytes are characters of their own
    that are neither word characters nor whitespace.

    >>> edges = TextEdges([bytes([b]) for b in "a é_b".encode()], carries_space=False)
    >>> edges.whole_word_starts().tolist(), edges.whole_word_ends().tolist()
    ([0, 2], [1, 6])
    """

    def __init__(self, spellings: list[bytes], carries_space: bool):
        data = b"".join(spellings)
        self.offsets = np.concatenate(([0], np.cumsum([len(spelling) for spelling in spellings]))).astype(np.int64)
        self.carried = np.array([carries_space and len(spelling) > 1 and spelling[:1] == b" "
                                 for spelling in spellings], dtype=bool)
        if data.isascii():
            self.characters = data.decode("ascii")
            index_of = self.offsets  # one byte, one character
            at_character = np.ones(len(self.offsets), dtype=bool)
        else:
            self.characters = data.decode("utf-8", errors="surrogateescape")
            sizes = [1 if "\udc80" <= character <= "\udcff" else len(character.encode("utf-8"))
                     for character in self.characters]
            starts = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)  # the byte where each character starts
            where = np.searchsorted(starts, self.offsets)
            at_character = starts[np.minimum(where, len(starts) - 1)] == self.offsets
            index_of = where
        self.at_character = at_character
        """Whether each boundary is between two characters (not inside one)."""
        self.index_of = np.asarray(index_of, dtype=np.int64)
        """The character index of each boundary (valid where ``at_character``)."""
        self._word_and_space: tuple[np.ndarray, np.ndarray] | None = None

    def _padded(self, classes: list[bool]) -> np.ndarray:
        """A per-character class with a False on each side, so that the characters just
        outside the text (indices -1 and len) read as neither word nor whitespace."""
        return np.concatenate(([False], np.array(classes, dtype=bool), [False]))

    def _at(self, padded: np.ndarray, index: np.ndarray) -> np.ndarray:
        """A padded class at character indices (clipped to the text's edges, which are False)."""
        return padded[np.clip(index, -1, len(self.characters)) + 1]

    def _inside(self, index: np.ndarray) -> np.ndarray:
        return (index >= 0) & (index < len(self.characters))

    def text_start(self, token: int) -> int:
        """The character index where the text of a stretch starting at ``token`` begins."""
        return int(self.index_of[token]) + int(self.carried[token])

    # The four sets below look at the characters on each side of every boundary at once: a
    # word character is one of Python's ``\w`` (words.is_word_character), computed once per
    # character of the text, so a long text costs array operations, not a Python loop.
    def whole_word_starts(self) -> np.ndarray:
        """The tokens where a whole-word stretch may start: at a character boundary, after a
        non-word character (or the text's start, or the space the token carries), its text
        starting with a character that is not whitespace."""
        tokens = len(self.offsets) - 1
        index = self.index_of[:tokens]
        carried = self.carried[:tokens]
        first = index + carried
        word, space = self._classes()
        before_is_word = ~carried & self._at(word, index - 1)
        found = (self.at_character[:tokens] & (first < self.index_of[1:]) & self._inside(first)
                 & ~self._at(space, first) & ~before_is_word)
        return np.flatnonzero(found).astype(np.int64)

    def whole_word_ends(self) -> np.ndarray:
        """The boundaries where a whole-word stretch may end: at a character boundary, before
        a non-word character (or the text's end), after a character that is not whitespace."""
        index = self.index_of[1:]
        word, space = self._classes()
        found = (self.at_character[1:] & self._inside(index - 1) & ~self._at(space, index - 1)
                 & ~self._at(word, index))
        return np.flatnonzero(found).astype(np.int64) + 1

    def word_boundary_starts(self) -> np.ndarray:
        """The tokens where a stretch cut at word boundaries may start: at a character
        boundary that is not inside a word, before a character that is not whitespace."""
        index = self.index_of[: len(self.offsets) - 1]
        word, space = self._classes()
        found = (self.at_character[: len(self.offsets) - 1] & self._inside(index) & ~self._at(space, index)
                 & ~(self._at(word, index - 1) & self._at(word, index)))
        return np.flatnonzero(found).astype(np.int64)

    def word_boundary_ends(self) -> np.ndarray:
        """The boundaries where a stretch cut at word boundaries may end: at a character
        boundary that is not inside a word, after a character that is not whitespace."""
        index = self.index_of[1:]
        word, space = self._classes()
        found = (self.at_character[1:] & self._inside(index - 1) & ~self._at(space, index - 1)
                 & ~(self._at(word, index - 1) & self._at(word, index)))
        return np.flatnonzero(found).astype(np.int64) + 1

    def _classes(self) -> tuple[np.ndarray, np.ndarray]:
        """Whether each character is a word character, and whether it is whitespace (padded)."""
        if self._word_and_space is None:
            self._word_and_space = (self._padded([is_word_character(c) for c in self.characters]),
                                    self._padded([c.isspace() for c in self.characters]))
        return self._word_and_space


def trim_to_words(edges: TextEdges, spans: list[tuple[int, int]], min_length: int) -> list[tuple[int, int]]:
    """Spans cut at the word boundaries of the text, without whitespace at either end: each
    becomes the longest stretch inside it that starts and ends at such boundaries; those
    shorter than ``min_length`` or inside another are dropped.

    >>> edges = TextEdges([bytes([b]) for b in b"the cat sat"], carries_space=False)
    >>> trim_to_words(edges, [(1, 9), (0, 11)], 3), trim_to_words(edges, [(1, 9)], 3)
    ([(0, 11)], [(4, 7)])
    """
    starts, ends = edges.word_boundary_starts(), edges.word_boundary_ends()
    trimmed: list[tuple[int, int]] = []
    for start, end in spans:
        first = int(np.searchsorted(starts, start))
        last = int(np.searchsorted(ends, end, side="right")) - 1
        if first < len(starts) and last >= 0 and ends[last] - starts[first] >= min_length:
            trimmed.append((int(starts[first]), int(ends[last])))
    kept: list[tuple[int, int]] = []
    for start, end in sorted(set(trimmed), key=lambda span: (span[0], -span[1])):
        if kept and end <= kept[-1][1]:
            continue  # inside the span before it
        kept.append((start, end))
    return kept


class _WholeWordReader:
    """Reads whole-word occurrences of token sequences, shard by shard in order, within one
    work budget for the request (one unit per suffix-array row read; see
    :mod:`infgram.query.budget`); past it a :class:`~infgram.errors.LimitError`."""

    def __init__(self, corpus: Corpus, budget: int):
        self.corpus = corpus
        self.budget = budget
        self.work = 0
        self.test = corpus.word_test()

    def exists(self, encoded: bytes, spaced: bool) -> bool:
        """Whether the sequence has a whole-word occurrence (reading rows until one is found)."""
        shard_set = self.corpus.shard_set
        for number, cost in enumerate(shard_set.locate_costs):
            rows = max(self.budget - self.work, 0) // cost
            found, read, known = shard_set.call(number, whole_word_in_run, self.test, encoded, spaced, rows)
            self.work += read * cost
            charge(read * cost)
            if found:
                return True
            if not known:
                raise refuse("this whole-word attribution", self.work + cost, self.budget)
        return False

    def summary(self, encoded: bytes, spaced: bool) -> tuple[np.ndarray, np.ndarray, int]:
        """The global numbers of the documents holding a whole-word occurrence (sorted), the
        offset of the first one in each, and the number of occurrences (reads every one)."""
        shard_set = self.corpus.shard_set
        before = self.work
        self.work += sum((hi - lo) * cost for (lo, hi), cost in zip(shard_set.map(run_of, encoded),
                                                                    shard_set.locate_costs))
        if self.work > self.budget:
            raise refuse("this whole-word attribution", self.work, self.budget)
        charge(self.work - before)
        parts = shard_set.map(whole_word_summary, self.test, encoded, spaced)
        numbers = np.concatenate([np.zeros(0, dtype=np.int64)] + [local + first for (local, _, _), first in
                                                                   zip(parts, shard_set.first_documents)])
        offsets = np.concatenate([np.zeros(0, dtype=np.int64)] + [offsets for _, offsets, _ in parts])
        return numbers, offsets, sum(count for _, _, count in parts)


def whole_word_stretches(edges: TextEdges, lengths: np.ndarray, min_length: int,
                         occurs: Callable[[int, int], bool]) -> list[tuple[int, int]]:
    """The maximal whole-word stretches [start, end) of at least ``min_length`` tokens whose
    tokens occur as whole words (``occurs(start, end)``), from the matching statistics
    ``lengths`` (no stretch is longer than its start's longest match).

    Two facts make it one pass. Inside a stretch that occurs as whole words, every shorter
    whole-word stretch of the text does too (at the same place: the characters around it
    are the same text), so the ends that work for a start are the first ones, and are
    found from the longest down; and a stretch from a later start to an end that worked
    for an earlier one works, so each start's search begins past it. A stretch is maximal
    exactly when it ends later than every stretch starting before it.

    >>> edges = TextEdges([bytes([b]) for b in b"a b c"], carries_space=False)
    >>> whole_word_stretches(edges, np.array([5, 4, 3, 2, 1]), 1, lambda start, end: (start, end) != (0, 5))
    [(0, 3), (2, 5)]
    """
    ends = edges.whole_word_ends()
    best = -1  # the furthest end that worked so far
    found: list[tuple[int, int]] = []
    for start in edges.whole_word_starts().tolist():
        top = start + int(lengths[start])
        if top - start < min_length:
            continue
        end = best if best > start else None  # [start, best) works: known without a search
        candidates = ends[np.searchsorted(ends, max(best, start), side="right") : np.searchsorted(ends, top, "right")]
        for candidate in candidates[::-1].tolist():
            if candidate - start < min_length or edges.index_of[candidate] <= edges.text_start(start):
                break
            if occurs(start, candidate):
                end = candidate
                break
        if end is not None and end > best:
            if end - start >= min_length:
                found.append((start, end))
            best = end
    return found


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
              context: int | None = None, whole_words: bool = False, max_work: int | None = None,
              exact: bool = False, where: Any = None) -> AttributionResult:
    """See :meth:`infgram.Index.attribute`; with ``where``, see :func:`_attribute_filtered`."""
    defaults = default_settings(corpus)
    min_length = defaults["min_length"] if min_length is None else min_length
    context = defaults["context"] if context is None else context
    min_length = check_whole_number("min_length", min_length)
    max_count = check_whole_number("max_count", max_count)
    examples = check_whole_number("examples", examples, 1000)
    context = check_whole_number("context", context)
    if not isinstance(whole_words, bool):
        raise QueryError(f"expected whole_words to be true or false, found {whole_words!r:.40}")
    ceiling = getattr(corpus, "max_work_ceiling", None)
    budget = work_limit(max_work, exact, ceiling)
    if whole_words and corpus.tokenizer.kind not in ("bytes", "huggingface"):
        raise UnsupportedOperationError("whole_words needs text, but this index was built from token ids (it has no "
                                        "tokenizer to spell them); attribute without whole_words")
    conditions = conditions_of(where)
    if conditions is not None and whole_words:
        raise UnsupportedOperationError("attribution with both whole_words and where is not supported; attribute "
                                        "with where alone, or with whole_words alone")
    text, ids, starts, ends = _tokens_and_characters(corpus, text)
    if conditions is not None:
        return _attribute_filtered(corpus, text, ids, starts, ends, min_length, max_count, examples, context,
                                   conditions, budget)
    matches = corpus.longest_matches(ids)
    lengths = np.asarray(matches.lengths, dtype=np.int64)
    if whole_words:
        return _attribute_whole_words(corpus, text, ids, starts, ends, lengths, max(min_length, 1), max_count,
                                      examples, context, _WholeWordReader(corpus, budget), min_length)
    spans = maximal_spans(lengths, min_length)
    counts = [matches.counts[start] for start, _ in spans]
    if corpus.tokenizer.tokens_are_bytes and spans:
        edges = TextEdges([bytes([token]) for token in ids.tolist()], carries_space=False)
        spans = trim_to_words(edges, spans, max(min_length, 1))
        counts = corpus.count_batch([ids[start:end] for start, end in spans]).tolist() if spans else []
    result = []
    for (start, end), count in zip(spans, counts):
        span_ids = ids[start:end]
        found = documents(corpus, span_ids, limit=examples, context=context, budget=budget)
        common = found.num_documents > max_count
        result.append(AttributedSpan(
            start, end, int(starts[start]), int(ends[end - 1]), text[int(starts[start]) : int(ends[end - 1])],
            int(count), found.num_documents, common, [] if common else found.documents))
    return AttributionResult(text, len(ids), min_length, result)


def _attribute_filtered(corpus: Corpus, text: str, ids: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                        min_length: int, max_count: int, examples: int, context: int, where: Where,
                        budget: int) -> AttributionResult:
    """Attribution to the documents meeting ``where``: the answer an index of those documents
    alone gives. The matching statistics are filtered (:func:`~infgram.query.filtering.
    filtered_match_lengths`), then spans are cut and counted as without ``where``, each count
    and example list from matching documents only; every read draws on one work budget."""
    lengths, reader = filtered_match_lengths(corpus, ids, where, budget, max(min_length, 1))
    spans = maximal_spans(lengths, min_length)
    if corpus.tokenizer.tokens_are_bytes and spans:
        edges = TextEdges([bytes([token]) for token in ids.tolist()], carries_space=False)
        spans = trim_to_words(edges, spans, max(min_length, 1))
    encode = corpus.encoder.encode
    result = []
    for start, end in spans:
        span_ids = ids[start:end]
        count = reader.count(encode(span_ids))
        found = filtered_documents(corpus, span_ids, where, examples, 0, None, context,
                                   max(reader.budget - reader.work, 0), Matching())
        reader.work += reader.cost(encode(span_ids))  # the examples read the span's occurrences again (charged there)
        common = found.num_documents > max_count
        result.append(AttributedSpan(
            start, end, int(starts[start]), int(ends[end - 1]), text[int(starts[start]) : int(ends[end - 1])],
            int(count), found.num_documents, common, [] if common else found.documents))
    return AttributionResult(text, len(ids), min_length, result)


def _attribute_whole_words(corpus: Corpus, text: str, ids: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                           lengths: np.ndarray, shortest: int, max_count: int, examples: int, context: int,
                           reader: _WholeWordReader, min_length: int) -> AttributionResult:
    """Attribution with ``whole_words``: see the module docstring."""
    if corpus.tokenizer.tokens_are_bytes:
        edges = TextEdges([bytes([token]) for token in ids.tolist()], carries_space=False)
    else:
        spellings = corpus.spelling_speller().spellings
        edges = TextEdges([spellings[token] for token in ids.tolist()], carries_space=True)
    encode = corpus.encoder.encode
    stretches = whole_word_stretches(
        edges, lengths, shortest,
        lambda start, end: reader.exists(encode(ids[start:end]), bool(edges.carried[start])))
    result = []
    for start, end in stretches:
        numbers, offsets, count = reader.summary(encode(ids[start:end]), bool(edges.carried[start]))
        common = len(numbers) > max_count
        shown = [] if common else [read_document(corpus, int(number), int(offset), end - start, context)
                                   for number, offset in zip(numbers[:examples].tolist(), offsets[:examples].tolist())]
        character_start, character_end = int(starts[start]), int(ends[end - 1])
        if edges.carried[start] and character_start < character_end and text[character_start].isspace():
            character_start += 1  # the word-start space the first token carries is not part of the span
        result.append(AttributedSpan(start, end, character_start, character_end, text[character_start:character_end],
                                     int(count), len(numbers), common, shown))
    return AttributionResult(text, len(ids), min_length, result)
