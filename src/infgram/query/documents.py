"""Documents: reading one by number, cutting a window around a match, and finding the
documents that contain a query.

The occurrences of a query in a shard are a suffix-array run; their token positions map to
documents through the sorted document start positions (:class:`~infgram.shards.documents.
DocumentTable`). A string may be searched in several forms (:mod:`infgram.query.forms`),
each with its own run.

**Counting.** Each shard reports its matching documents once each, with the position of the
first occurrence in each (a per-shard partial); the reducer numbers them globally. Reading
positions costs work (:mod:`infgram.query.budget`): past the budget the count is an exact
lower bound, ``num_documents_exact: false``.

**The page.** Without a seed it is cut from the counted documents, in index order. With a
seed it is *drawn*, the same way on every index kind, size and deployment:

1. The occurrences are numbered 0 .. N-1 in one global order: shard by shard, within a
   shard form by form (in the order the forms are searched), within a form's run by
   suffix-array row. Nothing is read to number them: the runs' lengths are all it takes.
2. A seeded random order of ``range(N)`` (:class:`~infgram.sampling.SeededPermutation`,
   evaluated only as far as it is read) says which occurrence is drawn at each step.
3. Drawn occurrences are located in blocks (the first as large as the page, each next one
   twice the last): each shard turns its drawn rows into documents (a per-shard partial),
   dropping removed documents and, with ``whole_words``, occurrences that are not whole
   words. A document enters the order when one of its occurrences is first drawn, and the
   occurrence shown in its window is that one.
4. Drawing stops when ``offset + limit`` documents are listed, when every occurrence is
   drawn, or when the work budget is spent (each draw costs its shard's locate cost); the
   page is documents ``offset .. offset + limit`` of the order.

So a seed gives one page on suffix-array and FM indexes of the same shard layout (their rows
are the same), locally, over HTTP and on Ray, whatever the budget as long as the draws fit
it; an FM-index locates only the occurrences drawn, never every occurrence, for the page.
The order is a draw of occurrences, not of documents: **a document with many occurrences
tends to come early** (the first document is one of an occurrence drawn uniformly at
random). The draws are made first, and the count gets the budget they leave; every
document drawn counts towards ``num_documents`` too, and when the draws reach every
occurrence the count is theirs, exact, without a pass of its own. The empty query, which
every document holds, draws documents directly: each live document is equally likely first.

A window of ``context`` tokens on each side of a match is read from the shard directly
(an FM-index extracts just those bytes); in a byte index its edges move off UTF-8
continuation bytes so that no character is cut in two. Matches are marked as character
``spans`` of the window's text.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from ..errors import DocumentRemovedError
from ..normalize import ORIGINALS_KEY, OffsetMap
from ..sampling import SeededPermutation, page_order
from ..shards import Shard
from .budget import DEFAULT_MAX_WORK, charge
from .corpus import Corpus
from .encoding import MAX_DOCUMENTS_LIMIT, Query, check_whole_number
from .options import Matching
from .partials import first_of_runs, run_of
from .results import Document, DocumentsResult
from .words import WordTest, whole_word_mask, whole_word_positions

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
    first = first_of_runs(documents)
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
    first = first_of_runs(documents)
    documents = documents[first]
    return documents, all_positions[first] - shard.documents.starts[documents], all_lengths[first]


def positions_of_rows(shard: Shard, rows: np.ndarray) -> np.ndarray:
    """The token positions of scattered suffix-array rows, as int64: one gather from a
    suffix array's pointers, one locate per row on other kinds (an FM-index walks the BWT
    from each row to a sample)."""
    rows = np.asarray(rows, dtype=np.int64)
    pointers = getattr(shard, "suffix_array_bytes", None)
    if pointers is None or not len(rows):
        return np.array([int(shard.positions(row, row + 1)[0]) for row in rows.tolist()], dtype=np.int64)
    width = shard.pointer_width  # a pointer is `width` little-endian bytes: widen to 8
    gathered = np.asarray(pointers)[rows[:, None] * width + np.arange(width, dtype=np.int64)[None, :]]
    padded = np.zeros((len(rows), 8), dtype=np.uint8)
    padded[:, :width] = gathered
    return padded.view("<u8").reshape(-1).astype(np.int64)


def drawn_occurrences(shard: Shard, forms: list[bytes], form_numbers: np.ndarray, rows: np.ndarray,
                      words: tuple[WordTest, list[bool]] | None = None) -> tuple[np.ndarray, ...]:
    """A per-shard partial of the seeded page: for each drawn occurrence (row ``rows[i]`` of
    the run of ``forms[form_numbers[i]]``), its shard-local document, its offset in it and
    its length in tokens; the document is -1 when the occurrence does not count (its
    document was removed, or with ``words`` it is not a whole word)."""
    rows, form_numbers = np.asarray(rows, dtype=np.int64), np.asarray(form_numbers, dtype=np.int64)
    positions = positions_of_rows(shard, rows)
    form_lengths = np.array([len(encoded) // shard.token_width for encoded in forms], dtype=np.int64)
    lengths = form_lengths[form_numbers] if len(rows) else np.zeros(0, dtype=np.int64)
    documents = shard.documents.document_of(positions).astype(np.int64)
    counts = np.ones(len(rows), dtype=bool)
    if not shard.removals.is_empty:
        counts &= ~shard.removals.removed_of(documents)
    if words is not None:
        for number in np.unique(form_numbers).tolist():
            tested = np.flatnonzero((form_numbers == number) & counts)
            counts[tested] = whole_word_mask(shard, words[0], positions[tested], positions[tested] + lengths[tested],
                                             words[1][number])
    offsets = positions - shard.documents.starts[documents]
    return np.where(counts, documents, -1), offsets.astype(np.int64), lengths


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
    if len(pieces) <= _FEW_SPANS or not corpus.tokenizer.tokens_are_bytes:
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
    margin = _UTF8_CONTINUATION_MAX if corpus.tokenizer.tokens_are_bytes else 0
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
        if corpus.tokenizer.tokens_are_bytes:  # not in the middle of a character
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


def occurrence_runs(corpus: Corpus, forms: list[bytes]) -> np.ndarray:
    """The suffix-array run [lo, hi) of each form in each shard, as an int64 array of shape
    (shards, forms, 2): the occurrences of a query, before any position is read."""
    runs = [corpus.shard_set.map(run_of, encoded) for encoded in forms]
    return np.array(runs, dtype=np.int64).reshape(len(forms), len(corpus.shard_set), 2).transpose(1, 0, 2)


def budget_rows(corpus: Corpus, forms: list[bytes], limit: int, runs: np.ndarray | None = None
                ) -> tuple[list[list[tuple[int, int]]], bool]:
    """The rows of each form's run in each shard to read within a work budget, and whether
    that is all of them. The budget goes to the shards in order and within a shard to the
    forms in order, each taking all it needs or what is left: a plan made from run lengths
    alone (``runs``, as :func:`occurrence_runs` gives them), before any position is read."""
    runs = occurrence_runs(corpus, forms) if runs is None else runs
    rows: list[list[tuple[int, int]]] = []
    left, complete = limit, True
    for number, cost in enumerate(corpus.shard_set.locate_costs):
        shard_rows = []
        for lo, hi in runs[number].tolist():
            take = min(hi - lo, left // cost)
            shard_rows.append((lo, lo + take))
            left -= take * cost
            complete &= lo + take == hi
        rows.append(shard_rows)
    return rows, complete


PROGRESS_ROWS = 1 << 20
"""Occurrences read per step when the count shows a progress bar (a step is a fraction of a
second of work, so the bar moves and an interrupt is taken soon)."""


def counted_with_progress(corpus: Corpus, forms: list[bytes], rows: list[list[tuple[int, int]]],
                          words: tuple[WordTest, list[bool]] | None) -> list[tuple[np.ndarray, ...]]:
    """What ``first_matches`` gives for each shard's rows, read ``PROGRESS_ROWS`` occurrences
    at a time under a progress bar. Each step finds the first occurrence of each document
    among its rows; a document's first occurrence overall is the earliest of its steps'."""
    from tqdm.auto import tqdm

    total = sum(hi - lo for shard_rows in rows for lo, hi in shard_rows)
    parts = []
    with tqdm(total=total, desc="reading occurrences", unit="occ", unit_scale=True) as bar:
        for number, shard_rows in enumerate(rows):
            pieces = []
            for form, (lo, hi) in enumerate(shard_rows):
                for start in range(lo, hi, PROGRESS_ROWS):
                    step = [(lo, lo)] * len(shard_rows)  # the other forms read nothing in this step
                    step[form] = (start, min(hi, start + PROGRESS_ROWS))
                    pieces.append(corpus.shard_set.call(number, first_matches, forms, step, words))
                    bar.update(step[form][1] - start)
            if not pieces:
                pieces = [corpus.shard_set.call(number, first_matches, forms, shard_rows, words)]
            documents, starts, lengths = (np.concatenate([piece[k] for piece in pieces]) for k in range(3))
            # Sorted by document, then offset: the first row of each document is its first occurrence.
            order = np.lexsort((starts, documents))
            documents, starts, lengths = documents[order], starts[order], lengths[order]
            first = first_of_runs(documents)
            parts.append((documents[first], starts[first], lengths[first]))
    return parts


class SeededDraw:
    """The documents of a query in the seeded order of its pages: occurrences drawn at random
    without replacement, each document listed when one of its occurrences is first drawn
    (see the module docstring). ``listed`` holds (global document, offset of the drawn
    occurrence, its length in tokens) in that order; ``spent`` the work units used and
    ``exhausted`` whether every occurrence was drawn."""

    def __init__(self, corpus: Corpus, forms: list[bytes], runs: np.ndarray, seed: int,
                 words: tuple[WordTest, list[bool]] | None):
        self.corpus, self.forms, self.words = corpus, forms, words
        num_forms = runs.shape[1]
        flat = runs.reshape(-1, 2)  # run k is form k % num_forms of shard k // num_forms
        self.run_starts = flat[:, 0]
        sizes = flat[:, 1] - flat[:, 0]
        self.ends = np.cumsum(sizes)
        """Occurrences numbered below ends[k] are those of runs 0..k: run k holds numbers
        ends[k] - sizes[k] .. ends[k] - 1 (an empty run has ends[k] == ends[k - 1])."""
        self.run_firsts = self.ends - sizes
        """The number of the first occurrence of each run (row ``run_starts[k]``)."""
        self.total = int(self.ends[-1]) if len(self.ends) else 0
        self.shard_of_run = np.arange(len(flat), dtype=np.int64) // max(num_forms, 1)
        self.form_of_run = np.arange(len(flat), dtype=np.int64) % max(num_forms, 1)
        self.cost_of_run = np.asarray(corpus.shard_set.locate_costs, dtype=np.int64)[self.shard_of_run]
        self.order = SeededPermutation(seed, self.total)
        self.listed: list[tuple[int, int, int]] = []
        self.seen: set[int] = set()
        self.drawn = 0
        self.spent = 0
        self.exhausted = self.total == 0
        self.out_of_budget = False

    def draw(self, wanted: int, budget: int) -> None:
        """Draw until ``wanted`` documents are listed, every occurrence is drawn, or the
        draws would cost more than ``budget`` work units in all."""
        block = max(wanted, 1)
        while len(self.listed) < wanted and not self.exhausted and not self.out_of_budget:
            steps = np.arange(self.drawn, min(self.total, self.drawn + block), dtype=np.int64)
            numbers = self.order.at(steps)
            # ends is nondecreasing; side="right" finds the first run whose end exceeds the
            # number, which is the run holding it (empty runs end where the one before does).
            runs = np.searchsorted(self.ends, numbers, side="right")
            # The longest prefix of the block whose costs fit what is left of the budget.
            affordable = int(np.searchsorted(np.cumsum(self.cost_of_run[runs]), budget - self.spent, side="right"))
            if affordable < len(steps):
                steps, numbers, runs = steps[:affordable], numbers[:affordable], runs[:affordable]
                self.out_of_budget = True
            self.spent += int(self.cost_of_run[runs].sum())
            self._list(runs, numbers)
            self.drawn += len(steps)
            self.exhausted = self.drawn == self.total
            block *= 2

    def _list(self, runs: np.ndarray, numbers: np.ndarray) -> None:
        """Locate the drawn occurrences (numbers, in their runs) and list the new documents
        in the order drawn."""
        rows = self.run_starts[runs] + numbers - self.run_firsts[runs]
        shards = self.shard_of_run[runs]
        shard_set = self.corpus.shard_set
        calls = []
        for number in np.unique(shards).tolist():
            chosen = shards == number
            calls.append((number, drawn_occurrences, (self.forms, self.form_of_run[runs][chosen], rows[chosen],
                                                      self.words)))
        documents = np.full(len(runs), -1, dtype=np.int64)
        offsets = np.zeros(len(runs), dtype=np.int64)
        lengths = np.zeros(len(runs), dtype=np.int64)
        for (number, _, _), (local, found_offsets, found_lengths) in zip(calls, shard_set.map_parallel(calls)):
            chosen = np.flatnonzero(shards == number)
            documents[chosen] = np.where(local >= 0, local + shard_set.first_documents[number], -1)
            offsets[chosen], lengths[chosen] = found_offsets, found_lengths
        for document, offset, length in zip(documents.tolist(), offsets.tolist(), lengths.tolist()):
            if document >= 0 and document not in self.seen:
                self.seen.add(document)
                self.listed.append((document, offset, length))


def documents(corpus: Corpus, query: Query, limit: int = 10, offset: int = 0, seed: int | None = None,
              context: int | None = None, budget: int = DEFAULT_MAX_WORK, matching: Matching = Matching(),
              progress: bool = False) -> DocumentsResult:
    """See :meth:`infgram.Index.documents`; ``budget`` is the request's work limit
    (:func:`~infgram.query.budget.work_limit`), ``matching`` its options."""
    limit = check_whole_number("limit", limit, MAX_DOCUMENTS_LIMIT)
    offset = check_whole_number("offset", offset)
    context = check_whole_number("context", context, optional=True)
    seed = check_whole_number("seed", seed, optional=True)
    plan = corpus.plan(query, matching)
    searched, forms, words = plan.searched, plan.forms, plan.words
    shard_set = corpus.shard_set
    if searched == [b""]:  # every live document matches: the order is of documents
        matched = np.setdiff1d(np.arange(shard_set.num_documents, dtype=np.int64), shard_set.removed_documents(),
                                assume_unique=True)
        found = [read_document(corpus, int(matched[i]), 0, 0, context)
                 for i in page_order(seed, len(matched), offset, limit).tolist()]
        return DocumentsResult(len(matched), found, True, forms)
    runs = occurrence_runs(corpus, searched)
    page: list[tuple[int, int, int]] | None = None
    drawn: SeededDraw | None = None
    if seed is not None and limit:
        drawn = SeededDraw(corpus, searched, runs, seed, words)
        drawn.draw(offset + limit, budget)
        page = drawn.listed[offset : offset + limit]
    if drawn is not None:
        charge(drawn.spent)
    if drawn is not None and drawn.exhausted:  # every occurrence drawn: the draw counted them all
        num_documents, complete = len(drawn.seen), True
    else:
        rows, complete = budget_rows(corpus, searched, budget - (drawn.spent if drawn else 0), runs)
        charge(sum((hi - lo) * cost for shard_rows, cost in zip(rows, shard_set.locate_costs) for lo, hi in shard_rows))
        if progress:
            parts = counted_with_progress(corpus, searched, rows, words)
        else:
            parts = [shard_set.call(number, first_matches, searched, shard_rows, words)
                     for number, shard_rows in enumerate(rows)]
        matched = np.concatenate([local + shard_set.first_documents[number]
                                  for number, (local, _, _) in enumerate(parts)])
        num_documents = len(matched)
        if drawn is not None and not complete:  # documents drawn past the counted rows count too
            num_documents = len(drawn.seen.union(matched.tolist()))
        if page is None:
            first_starts = np.concatenate([starts for _, starts, _ in parts])
            lengths = np.concatenate([length for _, _, length in parts])
            page = [(int(matched[i]), int(first_starts[i]), int(lengths[i]))
                    for i in range(min(offset, len(matched)), min(offset + limit, len(matched)))]
    found = [read_document(corpus, number, start, length, context) for number, start, length in page]
    return DocumentsResult(num_documents, found, complete, forms)
