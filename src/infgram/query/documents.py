"""Documents: reading one by number, cutting a window around a match, and finding the
documents that contain a query.

The occurrences of a query in a shard are a suffix-array run; their token positions map to
documents through the sorted document start positions (:class:`~infgram.shards.documents.
DocumentTable`). Each shard reports its matching documents once each, with the position
of the first occurrence in each (a per-shard partial); the reducer numbers them globally,
and the page is cut from the merged list, in index order or in a seeded random order.

A window of ``context`` tokens on each side of a match is read from the shard directly
(an FM-index extracts just those bytes); in a byte index its edges move off UTF-8
continuation bytes so that no character is cut in two. Matches are marked as character
``spans`` of the window's text.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from ..errors import QueryError
from ..errors import DocumentRemovedError
from ..normalize import ORIGINALS_KEY, OffsetMap
from ..shards import Shard
from .budget import work_limit
from .corpus import Corpus
from .encoding import MAX_DOCUMENTS_LIMIT, Query, check_whole_number
from .partials import run_of
from .results import Document, DocumentsResult
from .words import WordTest, whole_word_positions

_FEW_SPANS = 8
"""Up to this many spans, each is placed by decoding the text before it (fast in C); more
are placed in one pass over the window, so that marking is linear in the document."""

_UTF8_CONTINUATION_MAX = 3
"""A UTF-8 character has at most 3 continuation bytes: windows are read with this margin."""


def merge_spans(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """[start, end) spans sorted, without empty ones, overlapping or touching ones merged.

    >>> merge_spans([(5, 7), (0, 2), (1, 3), (3, 4), (6, 6)])
    [(0, 4), (5, 7)]
    """
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        elif start < end:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


# -- partials ---------------------------------------------------------------------------------
def matching_documents(shard: Shard, encoded: bytes, rows: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The shard-local documents holding a query (sorted, each once) and the offset of its
    first occurrence in each; with ``rows``, only the occurrences in those rows of its run.
    Sorting the positions first makes the document lookups walk the document table in order
    (several times faster than looking up positions in suffix order and deduplicating after)."""
    lo, hi = shard.find(encoded) if rows is None else rows
    if hi == lo:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    positions = np.sort(shard.positions(lo, hi))
    documents = shard.documents.document_of(positions)
    if not shard.removals.is_empty:
        live = ~shard.removals.removed_of(documents)
        positions, documents = positions[live], documents[live]
    first = np.ones(len(documents), dtype=bool)
    first[1:] = documents[1:] != documents[:-1]
    documents = documents[first]
    return documents, positions[first] - shard.documents.starts[documents]


def first_matches(shard: Shard, forms: list[bytes], rows: list[tuple[int, int]],
                  words: tuple[WordTest, list[bool]] | None = None) -> tuple[np.ndarray, ...]:
    """Several forms of a query (see :mod:`infgram.query.forms`) in one shard: the documents
    holding any (sorted, each once), the offset of the first occurrence in each, and its
    length in tokens; only the occurrences in the given rows of each form's run are read.
    With ``words`` (a word test and, per form, whether it carries the space before the
    text), only whole-word occurrences count (see :mod:`infgram.query.words`)."""
    if words is not None:
        all_positions, all_lengths = whole_word_positions(shard, words[0], forms, words[1], rows)
    else:
        positions, lengths = [], []
        for encoded, (lo, hi) in zip(forms, rows):
            positions.append(shard.positions(lo, hi).astype(np.int64))
            lengths.append(np.full(hi - lo, len(encoded) // shard.token_width, dtype=np.int64))
        all_positions = np.concatenate(positions) if positions else np.zeros(0, dtype=np.int64)
        all_lengths = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64)
        order = np.argsort(all_positions, kind="stable")
        all_positions, all_lengths = all_positions[order], all_lengths[order]
    if not len(all_positions):
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    documents = shard.documents.document_of(all_positions)
    if not shard.removals.is_empty:
        live = ~shard.removals.removed_of(documents)
        all_positions, all_lengths, documents = all_positions[live], all_lengths[live], documents[live]
    first = np.ones(len(documents), dtype=bool)
    first[1:] = documents[1:] != documents[:-1]
    documents = documents[first]
    return documents, all_positions[first] - shard.documents.starts[documents], all_lengths[first]


def document_piece(shard: Shard, local: int, start: int, end: int) -> tuple[np.ndarray, int, dict[str, Any]]:
    """(tokens [start, end) of a document, clipped to it; its length; its metadata); a
    removed document raises :class:`~infgram.errors.DocumentRemovedError`."""
    if shard.removals.is_removed(local):
        number = shard.first_document + local
        raise DocumentRemovedError(f"expected a document of the index, found document {number}, which was removed "
                                   "(`infgram remove`); its number stays a gap: ask for another", number)
    length = shard.documents.length(local)
    return shard.document_slice(local, max(0, start), min(length, end)), length, shard.documents.metadata(local)


# -- reading documents ------------------------------------------------------------------------
def character_spans(corpus: Corpus, window: np.ndarray, window_start: int,
                    spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Token spans (document offsets) as [start, end) character offsets into the decoded
    window; overlapping spans merge, so that each highlight is one piece, and spans are cut
    to the window. Linear in the window for a byte index."""
    pieces = []
    for start, end in (spans if len(spans) == 1 else merge_spans(spans)):
        start, end = max(start, window_start) - window_start, min(end, window_start + len(window)) - window_start
        if start < end:
            pieces.append((start, end))
    if not pieces:
        return []
    decode = corpus.tokenizer.decode
    if len(pieces) <= _FEW_SPANS or corpus.tokenizer.kind != "bytes":
        return [(len(decode(window[:start])), len(decode(window[:end]))) for start, end in pieces]
    # Many spans in a byte index: one pass. The text is UTF-8, so the characters before byte
    # b are the lead bytes before it (a character cut at b decodes to one replacement
    # character, also one lead byte); counted up to the last span's end only.
    window = np.asarray(window, dtype=np.uint8)
    last = pieces[-1][1]
    leads = np.concatenate(([0], np.cumsum((window[:last] & 0xC0) != 0x80)))
    return [(int(leads[start]), int(leads[end])) for start, end in pieces]



def read_document(corpus: Corpus, number: int, start: int | None, length: int, context: int | None,
                  spans: list[tuple[int, int]] | None = None) -> Document:
    """Document ``number``, or a window of ``context`` tokens around the match at ``start``;
    ``spans`` (token offsets in the document, by start) are the matches to mark, by default
    the one at ``start``."""
    shard_number, local = corpus.shard_set.locate_document(number)
    if spans is None:
        spans = [] if start is None else [(start, start + length)]
    if corpus.encoder.normalization is not None:
        return _as_written(corpus, number, shard_number, local, start, length, context, spans)
    if context is None or start is None:
        tokens, num_tokens, metadata = corpus.shard_set.call(shard_number, document_piece, local, 0, 1 << 62)
        return Document(number, corpus.tokenizer.decode(tokens), start, metadata, 0, num_tokens,
                        character_spans(corpus, tokens, 0, spans))
    window_start, window_end = max(0, start - context), start + length + context
    margin = _UTF8_CONTINUATION_MAX if corpus.tokenizer.kind == "bytes" else 0
    piece_start = max(0, window_start - margin)
    piece, num_tokens, metadata = corpus.shard_set.call(shard_number, document_piece, local, piece_start,
                                                        window_end + margin)
    window_end = min(window_end, num_tokens)
    if margin:
        # Do not cut a UTF-8 character in two: move the edges off continuation bytes.
        piece_end = piece_start + len(piece)
        while window_start > piece_start and 0x80 <= piece[window_start - piece_start] < 0xC0:
            window_start -= 1
        while window_end < piece_end and 0x80 <= piece[window_end - piece_start] < 0xC0:
            window_end += 1
    window = piece[window_start - piece_start : window_end - piece_start]
    return Document(number, corpus.tokenizer.decode(window), start, metadata, window_start, num_tokens,
                    character_spans(corpus, window, window_start, spans))


def _as_written(corpus: Corpus, number: int, shard_number: int, local: int, start: int | None, length: int,
                context: int | None, spans: list[tuple[int, int]]) -> Document:
    """:func:`read_document` on a normalized index: the document as written (its changed
    pieces put back, see :mod:`infgram.normalize`), matches and window mapped to its
    characters. Reads the whole document."""
    tokens, num_tokens, metadata = corpus.shard_set.call(shard_number, document_piece, local, 0, 1 << 62)
    originals = metadata.pop(ORIGINALS_KEY, [])
    mapping = OffsetMap.of_document(corpus.tokenizer.decode(tokens), originals)
    window_start, window_end = 0, num_tokens
    if context is not None and start is not None:
        window_start, window_end = max(0, start - context), min(num_tokens, start + length + context)
        if corpus.tokenizer.kind == "bytes":  # not in the middle of a character
            while window_start > 0 and 0x80 <= tokens[window_start] < 0xC0:
                window_start -= 1
            while window_end < num_tokens and 0x80 <= tokens[window_end] < 0xC0:
                window_end += 1
    low, high = (character_spans(corpus, tokens, 0, [(window_start, window_end)]) or [(0, 0)])[0]
    low, high = mapping.original(low, True), mapping.original(high, False)
    marked = [(mapping.original(a, True) - low, mapping.original(b, False) - low)
              for a, b in character_spans(corpus, tokens, 0, spans)]
    return Document(number, mapping.text[low:high], start, metadata, window_start, num_tokens,
                    [(max(a, 0), min(b, high - low)) for a, b in marked if a < high - low and b > 0])


def budget_rows(corpus: Corpus, forms: list[bytes], limit: int) -> tuple[list[list[tuple[int, int]]], bool]:
    """The rows of each form's run in each shard to read within a work budget, and whether
    that is all of them. The budget goes to the shards in order and within a shard to the
    forms in order, each taking all it needs or what is left: a plan made from run lengths
    alone, before any position is read."""
    runs = [corpus.shard_set.map(run_of, encoded) for encoded in forms]
    rows: list[list[tuple[int, int]]] = []
    left, complete = limit, True
    for number, cost in enumerate(corpus.shard_set.locate_costs):
        shard_rows = []
        for form_runs in runs:
            lo, hi = form_runs[number]
            take = min(hi - lo, left // cost)
            shard_rows.append((lo, lo + take))
            left -= take * cost
            complete &= lo + take == hi
        rows.append(shard_rows)
    return rows, complete


def documents(corpus: Corpus, query: Query, limit: int = 10, offset: int = 0, seed: int | None = None,
              context: int | None = None, max_work: int | None = None, exact: bool = False,
              work_ceiling: int | None = None, exact_tokens: bool = False, whole_words: bool = False,
              ignore_case: bool = False) -> DocumentsResult:
    """See :meth:`infgram.Index.documents`."""
    limit = check_whole_number("limit", limit, MAX_DOCUMENTS_LIMIT)
    offset = check_whole_number("offset", offset)
    context = check_whole_number("context", context, optional=True)
    seed = check_whole_number("seed", seed, optional=True)
    budget = work_limit(max_work, exact, work_ceiling)
    if not isinstance(whole_words, bool):
        raise QueryError(f"expected whole_words to be true or false, found {whole_words!r:.40}")
    searched, forms = corpus._forms_searched(query, exact_tokens, ignore_case)
    words = (corpus._word_test(), corpus._spaced(query, searched)) if whole_words and searched != [b""] else None
    shard_set = corpus.shard_set
    complete = True
    if searched == [b""]:
        matching = np.setdiff1d(np.arange(shard_set.num_documents, dtype=np.int64), shard_set.removed_documents(),
                                assume_unique=True)
        first_starts = np.zeros(len(matching), dtype=np.int64)
        lengths = np.zeros(len(matching), dtype=np.int64)
    else:
        rows, complete = budget_rows(corpus, searched, budget)
        parts = [shard_set.call(number, first_matches, searched, shard_rows, words)
                 for number, shard_rows in enumerate(rows)]
        matching = np.concatenate([local + shard_set.first_documents[number]
                                   for number, (local, _, _) in enumerate(parts)])
        first_starts = np.concatenate([starts for _, starts, _ in parts])
        lengths = np.concatenate([length for _, _, length in parts])
    order = np.arange(len(matching)) if seed is None else np.random.default_rng(seed).permutation(len(matching))
    page = order[offset : offset + limit]
    found = [read_document(corpus, int(matching[i]), int(first_starts[i]), int(lengths[i]), context) for i in page]
    return DocumentsResult(len(matching), found, complete, forms)
