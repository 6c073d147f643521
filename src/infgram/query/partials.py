"""Per-shard partial answers and the reducers that combine them: the one way answers combine.

A sharded index answers every operation in two steps. A *partial* is a function
``partial(shard, *arguments)`` that answers the operation on one shard alone and returns
plain, picklable data (ints, tuples, numpy arrays), never a reference to a memory map, so
that it can run in a thread beside the shard today or on another machine later. A
*reducer* combines the partials of all shards into the answer for the whole index:

- **counts add**: an n-gram's occurrences are the sum of its occurrences in each shard,
  because no occurrence crosses a shard (shards are cut between documents);
- **next-token distributions merge by id**: counts of the same next token add;
- **the ∞-gram's longest suffix wins**: each shard reports the longest suffix of the
  prompt that occurs in it, with its counts; the longest over all shards is the answer,
  and only the shards that reach that length contribute counts (a shard where it does not
  occur contributes zero; when no suffix occurs anywhere, every shard reports the empty
  suffix and all counts add);
- **documents are numbered globally**: each shard's local numbers are offset by the number
  of documents in the shards before it, and pages are cut after the merge;
- search and co-occurrence combine per-shard sets of documents the same way (see
  :mod:`infgram.query.search`).

A shard with removed documents (:mod:`infgram.shards.removals`) answers each partial as if
it had been built without them: runs count their live rows only, distributions lose the
removed rows of each sub-run, and the ∞-gram backs off to the longest suffix with live
occurrences. So the reducers never learn about removals.

>>> add_counts([2, 3, 0])
5
>>> longest_wins([(2, 5, 1), (3, 4, 4), (3, 1, 0)])
(3, 5, 4)
>>> prompt_count, values, counts = merge_distributions([(3, np.array([7, 9], np.uint64), np.array([2, 1])),
...                                                     (2, np.array([9], np.uint64), np.array([2]))])
>>> prompt_count, values.tolist(), counts.tolist()
(5, [7, 9], [2, 3])
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..shards import Shard

Distribution = tuple[int, np.ndarray, np.ndarray]
"""A next-token distribution: (prompt count, distinct next ids as uint64, their counts as int64)."""


def first_of_runs(values: np.ndarray) -> np.ndarray:
    """A mask of the first element of every run of equal values (of a sorted array): with the
    document of each occurrence in order, the first occurrence in each document.

    >>> first_of_runs(np.array([3, 3, 5, 7, 7])).tolist()
    [True, False, True, True, False]
    """
    first = np.ones(len(values), dtype=bool)
    first[1:] = values[1:] != values[:-1]
    return first


# -- partials ---------------------------------------------------------------------------------
def run_of(shard: Shard, encoded: bytes) -> tuple[int, int]:
    """The suffix-array run of a query in a shard; the empty query's run is every real token."""
    if not encoded:
        return shard.unigram_range
    return shard.find(encoded)


def count(shard: Shard, encoded: bytes) -> int:
    """Occurrences of a query in one shard."""
    lo, hi = run_of(shard, encoded)
    return hi - lo if shard.removals.rows is None else shard.removals.live(lo, hi)


def count_many(shard: Shard, data: bytes, offsets: np.ndarray) -> np.ndarray:
    """Occurrences of many queries (``data[offsets[i]:offsets[i + 1]]``) in one shard, as int64."""
    runs = np.frombuffer(shard.find_many(data, np.ascontiguousarray(offsets, dtype=np.int64).tobytes()),
                         dtype=np.int64).reshape(-1, 2)
    return shard.removals.live_many(runs)


def probability(shard: Shard, encoded: bytes, next_encoded: bytes) -> tuple[int, int]:
    """(count of the prompt, count of the prompt followed by the next token) in one shard."""
    lo, hi = run_of(shard, encoded)
    if hi == lo:
        return 0, 0
    inner_lo, inner_hi = shard.find(encoded + next_encoded, lo, hi)
    return shard.removals.live(lo, hi), shard.removals.live(inner_lo, inner_hi)


def distribution(shard: Shard, lo: int, hi: int, depth: int) -> Distribution:
    """The next-token distribution of the run [lo, hi) of a query of ``depth`` tokens."""
    if hi == lo:
        return 0, np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    raw_values, raw_counts = shard.view.next_tokens(lo, hi, depth)
    values, counts = np.frombuffer(raw_values, dtype=np.uint64), np.frombuffer(raw_counts, dtype=np.int64)
    live = hi - lo if shard.removals.rows is None else shard.removals.live(lo, hi)
    if live == hi - lo:  # no removed row in the run (the common case): nothing to subtract
        return hi - lo, values, counts
    # Each next token is one sub-run, in row order: their bounds are the running sums of counts.
    bounds = lo + np.concatenate(([0], np.cumsum(counts)))
    live_counts = shard.removals.live_many(np.stack([bounds[:-1], bounds[1:]], axis=1))
    kept = live_counts > 0
    return live, values[kept], live_counts[kept]


def next_tokens(shard: Shard, encoded: bytes) -> Distribution:
    """The distribution of the token after every occurrence of the prompt in one shard."""
    lo, hi = run_of(shard, encoded)
    return distribution(shard, lo, hi, len(encoded) // shard.token_width)


def longest_suffix_run(shard: Shard, encoded: bytes) -> tuple[int, int, int]:
    """(length in tokens, lo, hi) of the longest suffix of the prompt that occurs in the shard
    (with live occurrences, when documents are removed); the empty suffix's run is every token."""
    length, lo, hi = shard.view.longest_suffix(encoded) if encoded else (0, 0, 0)
    removals = shard.removals
    if length and removals.rows is not None and not removals.live(lo, hi):
        # Live counts shrink as the suffix grows. Invariant: the suffix of `short` tokens has
        # live occurrences (or short == 0), the one of `long` tokens has none.
        width, short, long = shard.token_width, 0, length
        while long - short > 1:
            middle = (short + long) // 2
            middle_lo, middle_hi = shard.find(encoded[len(encoded) - middle * width:])
            if removals.live(middle_lo, middle_hi):
                short, lo, hi = middle, middle_lo, middle_hi
            else:
                long = middle
        length = short
    if length == 0:
        lo, hi = shard.unigram_range
    return length, lo, hi


def infgram_probability(shard: Shard, encoded: bytes, next_encoded: bytes) -> tuple[int, int, int]:
    """(suffix length, its count, count with the next token) for the shard's own longest suffix."""
    length, lo, hi = longest_suffix_run(shard, encoded)
    if hi == lo:
        return length, 0, 0
    suffix = encoded[len(encoded) - length * shard.token_width :]
    inner_lo, inner_hi = shard.find(suffix + next_encoded, lo, hi)
    return length, shard.removals.live(lo, hi), shard.removals.live(inner_lo, inner_hi)


def infgram_next_tokens(shard: Shard, encoded: bytes) -> tuple[int, int, np.ndarray, np.ndarray]:
    """(suffix length, *distribution) after the shard's own longest suffix of the prompt."""
    length, lo, hi = longest_suffix_run(shard, encoded)
    return (length, *distribution(shard, lo, hi, length))


def longest_matches(shard: Shard, encoded: bytes) -> tuple[np.ndarray, np.ndarray]:
    """For every token of a text, the longest match starting there in the shard, and its count."""
    raw_lengths, raw_counts = shard.view.longest_matches(encoded)
    lengths, counts = np.frombuffer(raw_lengths, dtype=np.int64), np.frombuffer(raw_counts, dtype=np.int64)
    removals = shard.removals
    if removals.rows is None:
        return lengths, counts
    # A live match is no longer than the match in the shard as built: shorten where needed.
    lengths, counts, width = lengths.copy(), counts.copy(), shard.token_width
    for start in range(len(lengths)):
        if not lengths[start]:
            continue
        at = start * width
        lo, hi = shard.find(encoded[at : at + int(lengths[start]) * width])
        live = removals.live(lo, hi)
        if live:
            counts[start] = live
            continue
        # Invariant: the match of `short` tokens has live occurrences (or short == 0), of `long` none.
        short, long, short_count = 0, int(lengths[start]), 0
        while long - short > 1:
            middle = (short + long) // 2
            live = removals.live(*shard.find(encoded[at : at + middle * width]))
            if live:
                short, short_count = middle, live
            else:
                long = middle
        lengths[start], counts[start] = short, short_count
    return lengths, counts


def infgram_probabilities(shard: Shard, encoded: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every token of a text, the shard's longest context suffix, its count and the count with the token."""
    if shard.removals.rows is None:
        parts = shard.view.infgram_probabilities(encoded, shard.unigram_range[1])
        return tuple(np.frombuffer(part, dtype=np.int64) for part in parts)  # type: ignore[return-value]
    width = shard.token_width
    size = len(encoded) // width
    results = np.zeros((3, size), dtype=np.int64)
    for number in range(size):
        token = encoded[number * width : (number + 1) * width]
        results[:, number] = infgram_probability(shard, encoded[: number * width], token)
    return results[0], results[1], results[2]


def document_lengths(shard: Shard) -> np.ndarray:
    """The number of tokens of every document of the shard (0 for a removed one)."""
    lengths = shard.documents.lengths()
    if not shard.removals.is_empty:
        lengths = lengths.copy()
        lengths[shard.removals.documents] = 0
    return lengths


def removed_documents(shard: Shard) -> np.ndarray:
    """The shard-local numbers of the shard's removed documents, sorted."""
    return np.asarray(shard.removals.documents, dtype=np.int64)


# -- reducers ---------------------------------------------------------------------------------
def add_counts(parts: Sequence[int]) -> int:
    """Counts add."""
    return int(sum(parts))


def add_tuples(parts: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
    """Tuples of counts add, field by field."""
    return tuple(int(sum(values)) for values in zip(*parts))


def merge_distributions(parts: Sequence[Distribution]) -> Distribution:
    """Distributions merge by id: prompt counts add, and the counts of each next id add."""
    prompt_count = sum(part[0] for part in parts)
    present = [part for part in parts if len(part[1])]
    if not present:
        return prompt_count, np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    if len(present) == 1:
        return prompt_count, present[0][1], present[0][2]
    values = np.concatenate([part[1] for part in present])
    counts = np.concatenate([part[2] for part in present])
    values, inverse = np.unique(values, return_inverse=True)
    return prompt_count, values, np.bincount(inverse, weights=counts, minlength=len(values)).astype(np.int64)


def longest_wins(parts: Sequence[tuple[Any, ...]]) -> tuple[Any, ...]:
    """(length, *counts) per shard: the longest length wins, and the counts of the shards
    that reach it add (counts may be ints or distributions)."""
    length = max(part[0] for part in parts)
    winners = [part[1:] for part in parts if part[0] == length]
    if len(winners[0]) == 3 and isinstance(winners[0][1], np.ndarray):  # a distribution
        return (length, *merge_distributions(winners))
    return (length, *add_tuples(winners))


def longest_wins_elementwise(parts: Sequence[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    """:func:`longest_wins` at every position of arrays (lengths, *counts)."""
    best = [array.copy() for array in parts[0]]
    for arrays in parts[1:]:
        longer, same = arrays[0] > best[0], arrays[0] == best[0]
        for number in range(1, len(arrays)):
            best[number] = np.where(longer, arrays[number], best[number] + np.where(same, arrays[number], 0))
        best[0] = np.maximum(best[0], arrays[0])
    return tuple(best)
