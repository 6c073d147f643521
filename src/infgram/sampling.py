"""A seeded random order of ``range(size)`` that costs nothing until it is read.

A random page of the documents holding a phrase draws its occurrences at random, without
replacement. Shuffling all ``size`` occurrences first (``numpy.random.permutation``)
costs memory and time in ``size``, and reading a page of ten must not cost a pass over a
billion occurrences. So the order here is a *pseudo-random permutation*: a function
``at(step)`` that gives the value drawn at any step, computed on its own, and such that
steps 0, 1, ..., size - 1 give every value of ``range(size)`` exactly once. Reading the
first k values costs k evaluations, whatever ``size`` is.

How (the construction of a small-domain block cipher):

- **A Feistel network** (Luby and Rackoff, "How to construct pseudorandom permutations
  from pseudorandom functions", SIAM J. Computing 17(2), 1988) over ``2k``-bit numbers,
  for the smallest ``k >= 1`` with ``4 ** k >= size``: a number is split into a left and a
  right half of ``k`` bits, and each of ``ROUNDS`` rounds maps ``(left, right)`` to
  ``(right, left XOR F(key, right))``. Each round can be undone whatever ``F`` is, so the
  whole is a permutation of ``range(4 ** k)``. ``F`` is the SplitMix64 finalizer (Steele,
  Lea and Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014) of
  ``right + key``, top ``k`` bits; the keys are the seed's BLAKE2b digest, one per round.
- **Cycle walking** (Black and Rogaway, "Ciphers with arbitrary finite domains", CT-RSA
  2002): a value at or past ``size`` is enciphered again until it falls below ``size``.
  That restricts the permutation of ``range(4 ** k)`` to one of ``range(size)``; as
  ``4 ** k < 4 * size``, a value takes fewer than 4 encipherings on average.

Everything is integer arithmetic modulo ``2 ** 64`` (numpy's uint64 wraps), so an order
is the same on every machine, numpy version and process: a seed names one order for
good. ``infgram._reference.seeded_permutation_value`` computes the same values one at a
time with Python integers, from this description alone.

>>> order = SeededPermutation(seed=7, size=10)
>>> values = order.at(np.arange(10))
>>> sorted(values.tolist()) == list(range(10))
True
>>> order.at(np.array([3])).tolist() == [values[3]]
True
"""

from __future__ import annotations

import hashlib

import numpy as np

from .errors import QueryError

ROUNDS = 6
"""Feistel rounds. Four make a strong pseudo-random permutation (Luby and Rackoff); two more
cost nothing here and mix the small domains of tiny queries better."""

_MASK_64 = (1 << 64) - 1
_SPLITMIX_SHIFTS = (30, 27, 31)
_SPLITMIX_MULTIPLIERS = (0xBF58476D1CE4E5B9, 0x94D049BB133111EB)


def round_keys(seed: int) -> list[int]:
    """The ``ROUNDS`` 64-bit keys of a seed (any whole number, however large): its BLAKE2b
    digest, cut in 8-byte little-endian words.

    >>> len(round_keys(0)), round_keys(0) == round_keys(0), round_keys(0) == round_keys(1)
    (6, True, False)
    """
    digest = hashlib.blake2b(b"infgram seeded permutation %d" % seed, digest_size=8 * ROUNDS).digest()
    return [int.from_bytes(digest[8 * number : 8 * number + 8], "little") for number in range(ROUNDS)]


def half_bits(size: int) -> int:
    """The bits ``k`` of each Feistel half: the smallest ``k >= 1`` with ``4 ** k >= size``.

    >>> [half_bits(size) for size in (0, 1, 4, 5, 16, 17)]
    [1, 1, 1, 2, 2, 3]
    """
    return max(1, ((max(size, 1) - 1).bit_length() + 1) // 2)


class SeededPermutation:
    """The order of ``range(size)`` named by ``seed``; see the module docstring."""

    def __init__(self, seed: int, size: int):
        if not 0 <= size <= 1 << 63:
            raise QueryError(f"expected from 0 to 2**63 values to order at random, found {size}; draw from fewer")
        self.seed, self.size = int(seed), int(size)
        self.half_bits = half_bits(self.size)
        self._keys = [np.uint64(key) for key in round_keys(self.seed)]
        self._mask = np.uint64((1 << self.half_bits) - 1)

    def _round_function(self, key: np.uint64, right: np.ndarray) -> np.ndarray:
        """F(key, right): the SplitMix64 finalizer of ``right + key``, its top ``k`` bits."""
        mixed = right + key
        mixed = (mixed ^ (mixed >> np.uint64(_SPLITMIX_SHIFTS[0]))) * np.uint64(_SPLITMIX_MULTIPLIERS[0])
        mixed = (mixed ^ (mixed >> np.uint64(_SPLITMIX_SHIFTS[1]))) * np.uint64(_SPLITMIX_MULTIPLIERS[1])
        mixed = mixed ^ (mixed >> np.uint64(_SPLITMIX_SHIFTS[2]))
        return mixed >> np.uint64(64 - self.half_bits)

    def _encipher(self, values: np.ndarray) -> np.ndarray:
        """The Feistel permutation of ``range(4 ** k)``, applied to uint64 values."""
        bits = np.uint64(self.half_bits)
        left, right = values >> bits, values & self._mask
        for key in self._keys:
            left, right = right, left ^ self._round_function(key, right)
        return (left << bits) | right

    def at(self, steps: np.ndarray) -> np.ndarray:
        """The values drawn at the given steps (steps and values in ``range(size)``), as int64.

        >>> SeededPermutation(seed=1, size=3).at(np.arange(3)).tolist() in ([0, 1, 2], [0, 2, 1], [1, 0, 2],
        ...                                                                 [1, 2, 0], [2, 0, 1], [2, 1, 0])
        True
        """
        values = self._encipher(np.asarray(steps, dtype=np.int64).astype(np.uint64))
        size = np.uint64(self.size)
        while True:
            # Cycle walking: re-encipher the values that fell outside range(size).
            outside = np.flatnonzero(values >= size)
            if not len(outside):
                break
            values[outside] = self._encipher(values[outside])
        return values.astype(np.int64)


def page_order(seed: int | None, size: int, offset: int, limit: int) -> np.ndarray:
    """The indices of items ``offset .. offset + limit`` (clipped to ``size``) of a page: in
    index order without a seed, else in the seeded order of ``range(size)``, of which only
    the page's steps are computed.

    >>> page_order(None, 5, 3, 10).tolist(), sorted(page_order(7, 5, 0, 5).tolist())
    ([3, 4], [0, 1, 2, 3, 4])
    """
    steps = np.arange(min(offset, size), min(offset + limit, size), dtype=np.int64)
    return steps if seed is None else SeededPermutation(seed, size).at(steps)
