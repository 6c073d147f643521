"""Normalized text: what ``infgram build --normalize FORM`` indexes, and how documents are
shown as written.

The forms (``NORMALIZATIONS``):

- ``lowercase``: Python's ``str.lower``;
- ``nfkc``: Unicode NFKC (compatibility characters folded: "ﬁ" is "fi", "①" is "1");
- ``nfkc_casefold``: NFKC, then ``str.casefold``, then NFKC again ("Straße" is "strasse").

Each is applied piece by piece: a piece is an ASCII character with the non-ASCII
characters that follow it (and the non-ASCII characters at the start of the text). NFKC
never joins across an ASCII character, so for ``nfkc`` this is the same as normalizing the
whole text; for ``lowercase`` the only difference is the Greek final sigma, which is
lowered by its piece alone. The same function normalizes the documents at build time and
every string query (ids are taken as they are), so a query matches what it matches in the
normalized documents, exactly.

**Showing documents as written.** Every document whose text normalization changed keeps,
in its metadata under ``ORIGINALS_KEY``, the pieces it changed: ``[start, end, original]``
with [start, end) character offsets in the normalized text. A document is shown as written
(those pieces put back) with its matches mapped to the original characters, and the key
is not shown. It costs the changed pieces' original text (plus about 12 bytes of JSON per
piece) and nothing for a document normalization leaves unchanged.

>>> normalize_text("Ünïcode ﬁle", "nfkc_casefold")
'ünïcode file'
>>> normalized, originals = normalize_with_originals("The Cat", "lowercase")
>>> normalized, originals
('the cat', [[0, 1, 'T'], [4, 5, 'C']])
>>> restore(normalized, originals)
'The Cat'
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_right
from typing import Any

from .errors import BuildError

NORMALIZATIONS = ("lowercase", "nfkc", "nfkc_casefold")
"""The forms of ``--normalize`` (``normalize=`` in Python, ``"normalize"`` in the manifest's
tokenizer entry)."""

ORIGINALS_KEY = "infgram_originals"
"""The metadata key holding the original text of the pieces normalization changed."""


def check_normalization(form: Any) -> str | None:
    """``form`` if it is a normalization (or None), else a :class:`BuildError`.

    >>> check_normalization("nfkc"), check_normalization(None)
    ('nfkc', None)
    """
    if form is None or form in NORMALIZATIONS:
        return form
    raise BuildError(f"expected --normalize to be one of {', '.join(NORMALIZATIONS)}, found {form!r:.40}; "
                     "pick one, or leave it out to index the text as written")


def _normalize_piece(piece: str, form: str) -> str:
    if form == "lowercase":
        return piece.lower()
    if form == "nfkc":
        return unicodedata.normalize("NFKC", piece)
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", piece).casefold())


def pieces(text: str) -> list[tuple[int, int]]:
    """The [start, end) character ranges of the pieces of a text (see the module docstring).

    >>> pieces("aé b")
    [(0, 2), (2, 3), (3, 4)]
    """
    if text.isascii():
        return [(i, i + 1) for i in range(len(text))]
    found, start = [], 0
    for position in range(1, len(text)):
        if text[position].isascii():
            found.append((start, position))
            start = position
    if text:
        found.append((start, len(text)))
    return found


def normalize_text(text: str, form: str | None) -> str:
    """The text normalized by ``form`` (unchanged for None), piece by piece.

    >>> normalize_text("ǅungla ΣΑΣ", "lowercase")
    'ǆungla σας'
    """
    if form is None:
        return text
    if text.isascii():
        return text.lower() if form != "nfkc" else text
    return "".join(_normalize_piece(text[start:end], form) for start, end in pieces(text))


def normalize_with_originals(text: str, form: str) -> tuple[str, list[list[Any]]]:
    """The normalized text, and the original of each piece normalization changed, as
    ``[start, end, original]`` with [start, end) character offsets in the normalized text
    (neighbouring changed pieces joined)."""
    parts, originals, length = [], [], 0
    for start, end in pieces(text):
        original = text[start:end]
        normalized = _normalize_piece(original, form)
        if normalized != original:
            same = 0  # the characters both begin and end with are not recorded
            while same < min(len(original), len(normalized)) - 1 and original[same] == normalized[same]:
                same += 1
            tail = 0
            while tail < min(len(original), len(normalized)) - same and original[-1 - tail] == normalized[-1 - tail]:
                tail += 1
            low, high = length + same, length + len(normalized) - tail
            changed = original[same : len(original) - tail]
            if originals and originals[-1][1] == low:
                originals[-1][1] = high
                originals[-1][2] += changed
            else:
                originals.append([low, high, changed])
        parts.append(normalized)
        length += len(normalized)
    return "".join(parts), originals


def restore(normalized: str, originals: list[list[Any]]) -> str:
    """The original text from the normalized one and its changed pieces."""
    parts, at = [], 0
    for start, end, original in originals:
        parts.append(normalized[at:start])
        parts.append(original)
        at = end
    parts.append(normalized[at:])
    return "".join(parts)


class OffsetMap:
    """Maps character offsets of a normalized text to the text as written: an offset inside a
    changed piece goes to the piece's start (``start=True``) or end.

    >>> mapping = OffsetMap("ﬁ x", "nfkc")
    >>> mapping.normalized, mapping.original(1, start=True), mapping.original(1, start=False), mapping.original(3)
    ('fi x', 0, 1, 2)
    """

    def __init__(self, text: str, form: str | None, normalized: str | None = None,
                 originals: list[list[Any]] | None = None):
        if normalized is None:
            normalized, originals = normalize_with_originals(text, form) if form else (text, [])
        self.normalized = normalized
        self.text = text
        self.starts: list[int] = []  # normalized start, normalized end, original start, original end
        self.rows: list[tuple[int, int, int, int]] = []
        shift = 0
        for start, end, original in originals or []:
            self.starts.append(start)
            self.rows.append((start, end, start + shift, start + shift + len(original)))
            shift += len(original) - (end - start)

    @classmethod
    def of_document(cls, normalized: str, originals: list[list[Any]]) -> "OffsetMap":
        """The map of a stored document: its normalized text and its changed pieces."""
        return cls(restore(normalized, originals), None, normalized, originals)

    def original(self, offset: int, start: bool = True) -> int:
        """The offset in the text as written of a normalized offset."""
        number = bisect_right(self.starts, offset) - 1
        if number < 0:
            return offset
        low, high, original_low, original_high = self.rows[number]
        if offset >= high:
            return offset - high + original_high
        if offset == low:
            return original_low
        return original_low if start else original_high
