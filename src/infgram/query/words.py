"""Whole words and case: which occurrences of a text a query keeps, and which spellings it searches.

**Whole words** (``whole_words=True``, ``--whole-words``, ``"whole_words": true``). An
occurrence of a text counts only when the character just before it and the character just
after it are not word characters, or are document edges. Word characters are those of
Python's ``\\w``: Unicode letters, digits and the underscore (``str.isalnum()`` or ``_``).
So "sed" counts in "sed -n" and "(sed)", not in "used" or "sed_x"; the query's own first
and last characters do not matter (the rule is the regular expression ``(?<!\\w)TEXT(?!\\w)``,
which is what ``_reference.whole_word_occurrences`` applies to the decoded documents).

- On a byte index an occurrence starts and ends at character boundaries (the query is
  whole UTF-8 characters), so the characters before and after it are read from the index:
  up to 4 bytes on each side, a multibyte character decoded whole.
- On a tokenized index the occurrences are the aligned ones (:mod:`infgram.query.forms`).
  The character before one is the last character the tokens before it spell, or the
  word-start space its first token carries (a space: never a word character); the
  character after it is the first character the following tokens spell.

Deciding needs each occurrence's position: there is no suffix-array run of "occurrences
followed or preceded by a non-word character". So a whole-word query reads the positions
of every occurrence of the text: its cost is the text's number of occurrences (times the
FM sampling rate on an FM-index), within the work budget of :mod:`infgram.query.budget`
(``max_work``; ``exact=True`` lifts it). ``count`` past the budget is refused with a
:class:`~infgram.errors.LimitError` naming ``max_work``; ``documents`` gives its page and an
exact lower bound of the document count, as without whole words.

**Ignoring case** (``ignore_case=True``, ``--ignore-case``, ``"ignore_case": true``), on a
byte index: a document character matches a query character when it is one of the query
character's *case variants*: the character itself, its ``lower()``, ``upper()`` and
``title()`` (those that are one character: "ẞ" matches "ẞ" and "ß", but "ß", whose upper
case is "SS", matches only itself; nothing matches a different number of characters). The query
is searched as every combination of variants that occurs in the corpus, found character
by character with one batch of counts per character (only prefixes that occur are
extended), so a long query costs no more than the corpus holds. Past
``MAX_CASE_VARIANTS`` spellings the query is refused with a
:class:`~infgram.errors.LimitError` naming that limit. A tokenized index refuses
``ignore_case``: the case variants of a text tokenize differently, and building with a
normalized text is the way there.

>>> is_word_character("é"), is_word_character("_"), is_word_character("-")
(True, True, False)
>>> case_variants("ẞ"), case_variants("ß")
(['ß', 'ẞ'], ['ß'])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..errors import LimitError
from .partials import first_of_runs

MAX_CASE_VARIANTS = 10_000
"""An ``ignore_case`` query may be searched as at most this many spellings (counted as they
are tried, prefixes included); past it the query is refused."""

_WORD, _OTHER, _UNKNOWN = 1, 0, -1


def is_word_character(character: str) -> bool:
    """Whether a character is a word character of Python's ``\\w`` (letters, digits, ``_``)."""
    return character == "_" or character.isalnum()


def case_variants(character: str) -> list[str]:
    """The characters that match ``character`` when case is ignored: itself, its lower, upper
    and title case (each only if one character), sorted.

    >>> case_variants("a"), case_variants("1")
    (['A', 'a'], ['1'])
    """
    found = {character}
    for variant in (character.lower(), character.upper(), character.title()):
        if len(variant) == 1:
            found.add(variant)
    return sorted(found)


def case_spellings(text: str, count_many: Callable[[list[bytes]], list[int]]) -> list[tuple[bytes, int]]:
    """The spellings of ``text`` with each character replaced by one of its case variants
    that occur (``count_many`` counts UTF-8 strings), with their counts, sorted. Built
    character by character, extending only prefixes that occur.

    >>> corpus = "Sed sed SED sEd"
    >>> case_spellings("sed", lambda pieces: [corpus.count(p.decode()) for p in pieces])
    [(b'SED', 1), (b'Sed', 1), (b'sEd', 1), (b'sed', 1)]
    """
    prefixes: list[bytes] = [b""]
    counts: list[int] = []
    tried = 0
    for character in text:
        variants = [variant.encode("utf-8") for variant in case_variants(character)]
        candidates = [prefix + variant for prefix in prefixes for variant in variants]
        tried += len(candidates)
        if tried > MAX_CASE_VARIANTS:
            raise LimitError(f"expected ignoring case in {text[:80]!r} to take at most {MAX_CASE_VARIANTS:,} "
                             f"spellings, found more; search a shorter text, or without ignore_case "
                             "(--ignore-case)", "ignore_case", MAX_CASE_VARIANTS, tried)
        found = count_many(candidates)
        pairs = [(candidate, int(count)) for candidate, count in zip(candidates, found) if count]
        prefixes = [candidate for candidate, _ in pairs]
        counts = [count for _, count in pairs]
        if not prefixes:
            return []
    return sorted(zip(prefixes, counts))


# -- whole words ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class WordTest:
    """What a shard needs to decide whole words: the bytes every token id spells (None in a
    byte index, where token b spells the byte b)."""

    spellings: Sequence[bytes] | None = None

    def spell(self, token: int) -> bytes:
        return bytes([token]) if self.spellings is None else self.spellings[token]


def _character_before(test: WordTest, row: Sequence[int], edge: bool) -> int:
    """The class of the last character the tokens of ``row`` spell (-1 entries: before the
    document), ``edge`` when the row reaches the document's start."""
    spelled = b"".join(test.spell(token) for token in row if token >= 0)
    lead = len(spelled) - 1
    while lead >= 0 and 0x80 <= spelled[lead] < 0xC0:
        lead -= 1
    if lead < 0:
        return _OTHER if edge else _UNKNOWN
    character = spelled[lead:].decode("utf-8", errors="replace")[-1:]
    return _WORD if is_word_character(character) else _OTHER


def _character_after(test: WordTest, row: Sequence[int], edge: bool) -> int:
    """The class of the first character the tokens of ``row`` spell (-1 entries: past the
    document's end), ``edge`` when the row reaches the document's end."""
    spelled = b"".join(test.spell(token) for token in row if token >= 0)
    if not spelled:
        return _OTHER if edge else _UNKNOWN
    lead = spelled[0]
    size = 1 if lead < 0xC0 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
    if len(spelled) < size and not edge:
        return _UNKNOWN
    character = spelled[:size].decode("utf-8", errors="replace")[:1]
    return _WORD if is_word_character(character) else _OTHER


def _read_rows(shard, first: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Tokens at positions ``first + [0, k)`` (a 2-D array of k columns), -1 where a
    position is outside its document (``inside`` masks the positions to read)."""
    columns = inside.shape[1]
    positions = first[:, None] + np.arange(columns, dtype=np.int64)[None, :]
    rows = np.full(positions.shape, -1, dtype=np.int64)
    tokens = getattr(shard, "tokens", None)
    if tokens is not None:  # a suffix array holds the tokens: one gather
        rows[inside] = np.asarray(tokens)[positions[inside]].astype(np.int64)
        return rows
    for number in range(len(rows)):  # an FM-index extracts bytes
        wanted = np.flatnonzero(inside[number])
        if len(wanted):
            low, high = int(positions[number, wanted[0]]), int(positions[number, wanted[-1]]) + 1
            rows[number, wanted] = np.frombuffer(shard.view.extract(low, high), dtype=np.uint8)
    return rows


def _classify(shard, test: WordTest, places: np.ndarray, limits: np.ndarray, before: bool) -> np.ndarray:
    """The class of the character before (or after) each place, reading more tokens until
    it is known: 1, 2, 4, ... tokens (a byte index needs at most 4)."""
    classes = np.full(len(places), _UNKNOWN, dtype=np.int8)
    classes[places == limits] = _OTHER  # a document edge
    width = 1
    decide = _character_before if before else _character_after
    while True:
        pending = np.flatnonzero(classes == _UNKNOWN)
        if not len(pending):
            return classes
        place, limit = places[pending], limits[pending]
        offsets = np.arange(width, dtype=np.int64)
        if before:  # positions place - width .. place - 1, from the document's start on
            first = place - width
            inside = first[:, None] + offsets[None, :] >= limit[:, None]
            edge = place - width <= limit
        else:  # positions place .. place + width - 1, up to the document's separator
            first = place
            inside = first[:, None] + offsets[None, :] < limit[:, None]
            edge = place + width >= limit
        rows = np.concatenate([_read_rows(shard, first, inside), edge[:, None].astype(np.int64)], axis=1)
        base = int(rows.max()) + 2
        if base ** rows.shape[1] < 1 << 62:  # each row as one number: a flat unique is much faster
            keys = np.zeros(len(rows), dtype=np.int64)
            for column in range(rows.shape[1]):
                keys = keys * base + rows[:, column] + 1
            _, where, inverse = np.unique(keys, return_index=True, return_inverse=True)
            unique = rows[where]
        else:
            unique, inverse = np.unique(rows, axis=0, return_inverse=True)
        decided = np.array([decide(test, row[:-1].tolist(), bool(row[-1])) for row in unique], dtype=np.int8)
        classes[pending] = decided[np.asarray(inverse).reshape(-1)]
        width *= 2


def whole_word_mask(shard, test: WordTest, starts: np.ndarray, ends: np.ndarray, spaced: bool = False) -> np.ndarray:
    """Which occurrences [start, end) (token positions in the shard, all in one document each)
    are whole words: no word character just before (unless ``spaced``: the first token
    carries the space before the text) or just after. See the module docstring."""
    starts, ends = np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)
    if not len(starts):
        return np.zeros(0, dtype=bool)
    table = shard.documents.starts
    documents = shard.documents.document_of(starts)
    keep = _classify(shard, test, ends, table[documents + 1] - 1, before=False) == _OTHER
    if not spaced and keep.any():
        kept = np.flatnonzero(keep)
        keep[kept] = _classify(shard, test, starts[kept], table[documents[kept]], before=True) == _OTHER
    return keep


def _live(shard, positions: np.ndarray) -> np.ndarray:
    """The positions that are not in removed documents (see :mod:`infgram.shards.removals`)."""
    if shard.removals.is_empty or not len(positions):
        return positions
    return positions[~shard.removals.removed_of(shard.documents.document_of(positions))]


def whole_word_positions(shard, test: WordTest, forms: list[bytes], spaced: Sequence[bool],
                         rows: list[tuple[int, int]] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The whole-word occurrences of a text's forms in one shard, from the given rows of
    each form's run (all of it by default): their positions and lengths in tokens, sorted
    by position."""
    positions, lengths = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    for number, encoded in enumerate(forms):
        lo, hi = shard.find(encoded) if rows is None else rows[number]
        if hi == lo:
            continue
        found = _live(shard, shard.positions(lo, hi).astype(np.int64))
        length = len(encoded) // shard.token_width
        found = found[whole_word_mask(shard, test, found, found + length, spaced[number])]
        positions.append(found)
        lengths.append(np.full(len(found), length, dtype=np.int64))
    all_positions, all_lengths = np.concatenate(positions), np.concatenate(lengths)
    order = np.argsort(all_positions, kind="stable")
    return all_positions[order], all_lengths[order]


def whole_word_documents(shard, test: WordTest, forms: list[bytes], spaced: Sequence[bool]) -> tuple[np.ndarray, int]:
    """A per-shard partial: the shard-local documents holding a whole-word occurrence of a
    text (sorted, each once) and the number of such occurrences."""
    positions, _ = whole_word_positions(shard, test, forms, spaced)
    return np.unique(shard.documents.document_of(positions)), len(positions)


def whole_word_summary(shard, test: WordTest, encoded: bytes, spaced: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """A per-shard partial: the shard-local documents holding a whole-word occurrence of one
    token sequence (sorted, each once), the offset of the first such occurrence in each, and
    the number of such occurrences."""
    positions, _ = whole_word_positions(shard, test, [encoded], [spaced])
    documents = shard.documents.document_of(positions)
    first = first_of_runs(documents)
    documents = documents[first]
    return documents, positions[first] - shard.documents.starts[documents], len(positions)


_FIRST_ROWS = 16
"""A search for one whole-word occurrence reads this many rows of the run first, then four
times as many at each step."""


def whole_word_in_run(shard, test: WordTest, encoded: bytes, spaced: bool, max_rows: int) -> tuple[bool, int, bool]:
    """A per-shard partial: whether one token sequence has a whole-word occurrence in the
    shard, reading the rows of its run in order, in growing chunks, stopping at the first
    one found and after at most ``max_rows`` rows. Returns (found, rows read, whether the
    answer is known: found, or every row read)."""
    lo, hi = shard.find(encoded)
    length = len(encoded) // shard.token_width
    read, chunk = 0, _FIRST_ROWS
    while lo + read < hi and read < max_rows:
        take = min(chunk, hi - lo - read, max_rows - read)
        found = _live(shard, shard.positions(lo + read, lo + read + take).astype(np.int64))
        read += take
        if len(found) and whole_word_mask(shard, test, found, found + length, spaced).any():
            return True, read, True
        chunk *= 4
    return False, read, lo + read == hi
