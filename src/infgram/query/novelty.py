"""How much of a text is new to the corpus: n-gram novelty and the Creativity Index.

Both come from one pass of :meth:`~infgram.query.corpus.Corpus.longest_matches` (so they are
query logic, answered by :meth:`infgram.Index.novelty` and :meth:`infgram.Index.creativity`), which gives
for every start i the length m[i] of the longest stretch of the text from i that occurs
verbatim in the corpus. Every piece of an occurring stretch occurs too, so:

- the n-gram starting at i occurs exactly when m[i] ≥ n. The **n-gram novelty** of a text is
  the share of its n-grams (starts i with i + n ≤ length) that occur nowhere in the corpus,
  for n = 1 .. ``max_n``, the measure of Merrill et al. (2024, "Evaluating n-gram novelty of
  language models using Rusty-DAWG");
- a unit j is covered by an occurring span of at least L units exactly when some start
  i ≤ j has a match reaching past j and at least L long. The **L-uniqueness** of a text is
  the share of its units that no such span covers, and its **Creativity Index** the sum of
  the L-uniqueness over a range of L: the exact-match definition of Lu et al. (2024, "AI as
  Humanity's Author: Quantifying Linguistic Creativity of Language Models via Systematic
  Attribution of Machine Text against Web Text", §2, arXiv:2410.04265), who sum over
  L = 5 .. 12 words, our default.

Units are the index's tokens; in a byte index they are words (maximal runs of
non-whitespace bytes, the paper's unit), and a span of words [a, b] is the bytes from the
start of word a to the end of word b, whitespace between included. In a byte index a word
span may match inside longer words of the corpus ("cat sat" inside "bobcat sat"): that is
what searching for bytes means.

>>> import tempfile, pathlib, infgram
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = infgram.build_from_documents(["the cat sat on the mat"], folder / "i", progress=False)
>>> index = infgram.Index.open(folder / "i")
>>> novelty(index, "the cat sat on a mat", max_n=3).novelty
[0.0, 0.4, 0.5]
>>> result = creativity(index, "the cat sat on a mat", min_length=[2, 3])
>>> result.unit, result.uniqueness, result.creativity_index
('word', [0.3333333333333333, 0.3333333333333333], 0.6666666666666666)
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np

from ..errors import QueryError
from .encoding import Query, check_whole_number
from .results import CreativityResult, NoveltyResult

DEFAULT_MAX_N = 20
"""n-gram novelty is reported for n = 1 .. this by default."""

MAX_N_LIMIT = 10_000
"""The largest ``max_n`` a request may ask for."""

DEFAULT_MIN_LENGTHS = tuple(range(5, 13))
"""The span lengths the Creativity Index sums over by default: L = 5 .. 12, as Lu et al. (2024)."""

_WORD = re.compile(rb"\S+")


class Units:
    """The units of a text (tokens, or words in a byte index) and how far each start's
    longest occurring match reaches, in units."""

    def __init__(self, index: Any, text: Query):
        match = index.longest_matches(text)
        ids = np.asarray(match.token_ids, dtype=np.int64)
        lengths = np.asarray(match.lengths, dtype=np.int64)
        if index.tokenizer.tokens_are_bytes:
            self.unit = "word"
            words = [found.span() for found in _WORD.finditer(ids.astype(np.uint8).tobytes())]
            starts = np.array([start for start, _ in words], dtype=np.int64)
            ends = np.array([end for _, end in words], dtype=np.int64)
        else:
            self.unit = "token"
            starts = np.arange(len(ids), dtype=np.int64)
            ends = starts + 1
        self.count = len(starts)
        # The units wholly inside the match from each unit's start: those whose end it reaches.
        reach = starts + lengths[starts] if self.count else starts
        self.match_units = np.searchsorted(ends, reach, side="right") - np.arange(self.count)
        """For each start unit a, the most units from a that occur as one stretch."""


def _text_of(request_text: Query) -> Query:
    if isinstance(request_text, (bytes, bytearray)):
        raise QueryError("expected a string or a list of token ids, found bytes; decode the text first")
    return request_text


def novelty(index: Any, text: Query, max_n: int = DEFAULT_MAX_N) -> NoveltyResult:
    """The share of the text's n-grams, for n = 1 .. ``max_n``, that occur nowhere in the
    corpus (None where the text has fewer than n units; see the module docstring).

    >>> import tempfile, pathlib, infgram
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = infgram.build_from_documents([{"ids": [1, 2, 3]}], folder / "i", token_width=2, progress=False)
    >>> novelty(infgram.Index.open(folder / "i"), [1, 2, 4], max_n=4).novelty
    [0.3333333333333333, 0.5, 1.0, None]
    """
    max_n = check_whole_number("max_n", max_n, MAX_N_LIMIT)
    units = Units(index, _text_of(text))
    shares: list[float | None] = []
    for n in range(1, max_n + 1):
        starts = units.count - n + 1
        shares.append(float(np.count_nonzero(units.match_units[:starts] < n)) / starts if starts > 0 else None)
    return NoveltyResult(units.unit, units.count, shares)


def _min_lengths(min_length: int | Sequence[int] | None) -> list[int]:
    if min_length is None:
        return list(DEFAULT_MIN_LENGTHS)
    values = [min_length] if isinstance(min_length, (int, np.integer)) and not isinstance(min_length, bool) \
        else min_length
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise QueryError(f"expected min_length to be a whole number of 1 or more or a non-empty list of them, "
                         f"found {min_length!r:.80}")
    checked = [check_whole_number("min_length", value, MAX_N_LIMIT) for value in values]
    if min(checked) < 1:  # type: ignore[type-var]
        raise QueryError(f"expected every min_length to be 1 or more, found {min(checked)}")  # type: ignore[type-var]
    return checked  # type: ignore[return-value]


def uniqueness(units: Units, min_length: int) -> float | None:
    """The share of the units that no occurring span of at least ``min_length`` units covers."""
    if not units.count:
        return None
    lengths = np.where(units.match_units >= min_length, units.match_units, 0)
    # Unit j is covered when some start a <= j reaches past it: a running maximum of a + length.
    reach = np.maximum.accumulate(np.arange(units.count) + lengths)
    covered = np.count_nonzero(reach > np.arange(units.count))
    return (units.count - int(covered)) / units.count


def creativity(index: Any, text: Query, min_length: int | Sequence[int] | None = None) -> CreativityResult:
    """The L-uniqueness of the text for each L of ``min_length`` (one or a list; default
    5 .. 12) and the Creativity Index, their sum (Lu et al., 2024; see the module docstring).

    >>> import tempfile, pathlib, infgram
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = infgram.build_from_documents([{"ids": [1, 2, 3]}], folder / "i", token_width=2, progress=False)
    >>> result = creativity(infgram.Index.open(folder / "i"), [1, 2, 3, 4], min_length=[1, 3, 4])
    >>> result.uniqueness, result.creativity_index
    ([0.25, 0.25, 1.0], 1.5)
    """
    lengths = _min_lengths(min_length)
    units = Units(index, _text_of(text))
    values = [uniqueness(units, length) for length in lengths]
    total = None if not units.count else float(sum(value for value in values if value is not None))
    return CreativityResult(units.unit, units.count, lengths, values, total)
