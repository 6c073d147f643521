"""infgram's SA-IS (``infgram._sort``) against a brute-force sort and against libdivsufsort.

A suffix array is unique, so the sorter must agree exactly with both: with the brute force
on token ids, and with ``pydivsufsort`` on the big-endian bytes, keeping the byte suffixes
that start at a token. The texts favour what stresses SA-IS: tiny alphabets, long runs of
one symbol, periodic strings (which make the recursion deepest), the smallest and largest
ids of each width with and without the separator, and lengths around a lowered int32 limit.
"""

from __future__ import annotations

import numpy as np
import pydivsufsort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infgram import _sort

WIDTHS = (1, 2, 4)


def separator(width: int) -> int:
    return (1 << (8 * width)) - 1


def brute_force(ids: list[int]) -> list[int]:
    return sorted(range(len(ids)), key=lambda i: ids[i:])


def divsufsort_tokens(data: bytes, width: int) -> list[int]:
    order = pydivsufsort.divsufsort(np.frombuffer(bytearray(data), dtype=np.uint8))
    return (order[order % width == 0] // width).tolist()


@st.composite
def symbol_sets(draw, width):
    """1 to 4 ids: the smallest of the width, the largest below the separator (for 4-byte
    tokens, below the sorter's 2**30 alphabet limit), or a mix; the separator may be one."""
    size = draw(st.integers(1, 4))
    top = separator(width) - 1 if width < 4 else 2**16 + 3
    pool = st.one_of(st.integers(0, 3), st.integers(top - 3, top), st.just(separator(width)))
    return draw(st.lists(pool, min_size=size, max_size=size, unique=True))


@st.composite
def texts(draw, max_length=300):
    width = draw(st.sampled_from(WIDTHS))
    symbols = draw(symbol_sets(width))
    length = draw(st.integers(1, max_length))
    shape = draw(st.sampled_from(["random", "runs", "periodic"]))
    if shape == "random":
        ids = draw(st.lists(st.sampled_from(symbols), min_size=length, max_size=length))
    elif shape == "runs":
        ids = []
        while len(ids) < length:
            ids += [draw(st.sampled_from(symbols))] * draw(st.integers(1, 60))
        ids = ids[:length]
    else:
        word = draw(st.lists(st.sampled_from(symbols), min_size=1, max_size=5))
        ids = (word * (length // len(word) + 1))[:length]
    if draw(st.booleans()):
        ids[-1] = separator(width)  # a shard ends with the separator
    return width, ids


def alphabet_for(width: int, ids: list[int], whole_width: bool) -> int:
    if width < 4 and whole_width:
        return 0
    return max((i for i in ids if i != separator(width)), default=-1) + 1 or 1


def sort(width: int, ids: list[int], alphabet_size: int, dtype, **options) -> list[int]:
    out = np.full(len(ids), -5, dtype=dtype)
    _sort.sort_suffixes(np.array(ids, dtype=f">u{width}").view(np.uint8), width, alphabet_size, out, **options)
    return out.tolist()


@settings(max_examples=150)
@given(texts(), st.booleans(), st.sampled_from([np.int32, np.int64]))
def test_matches_brute_force(text, whole_width, dtype):
    width, ids = text
    assert sort(width, ids, alphabet_for(width, ids, whole_width), dtype) == brute_force(ids)


@settings(max_examples=60)
@given(texts())
def test_matches_divsufsort(text):
    width, ids = text
    data = np.array(ids, dtype=f">u{width}").tobytes()
    assert sort(width, ids, alphabet_for(width, ids, False), np.int64) == divsufsort_tokens(data, width)


@settings(max_examples=40)
@given(st.binary(min_size=1, max_size=300))
def test_bytes_match_divsufsort(data):
    out = np.empty(len(data), dtype=np.int32)
    _sort.sort_suffixes(data, 1, 0, out)
    assert out.tolist() == divsufsort_tokens(data, 1)


@settings(max_examples=40)
@given(texts(max_length=120), st.integers(-3, 3))
def test_int32_switch_with_a_lowered_limit(text, offset):
    """The caller's rule (int32 up to the limit, int64 above) at lengths around a limit
    moved down to the text's length, as if the text were 2**31 tokens long."""
    width, ids = text
    limit = max(1, len(ids) + offset)
    dtype = np.int32 if len(ids) <= limit else np.int64
    alphabet = alphabet_for(width, ids, False)
    assert sort(width, ids, alphabet, dtype, int32_limit=limit) == brute_force(ids)
    if len(ids) > limit:
        with pytest.raises(ValueError, match="int32"):
            sort(width, ids, alphabet, np.int32, int32_limit=limit)


@pytest.mark.parametrize("width", WIDTHS)
def test_deep_recursion(width):
    # Fibonacci words: every level of SA-IS halves little, so the recursion goes deepest.
    previous, word = [1], [0]
    while len(word) < 5000:
        previous, word = word, word + previous
    ids = word[:5000] + [separator(width)]
    data = np.array(ids, dtype=f">u{width}").tobytes()
    assert sort(width, ids, alphabet_for(width, ids, False), np.int32) == divsufsort_tokens(data, width)


@settings(max_examples=80)
@given(st.sampled_from(WIDTHS), st.lists(st.integers(0, 3), max_size=120), st.sampled_from([1, 2**23, 2**31 - 1]))
def test_build_helper_matches_brute_force(width, small_ids, spread):
    """``suffix_array_of`` (what builds call), empty texts included; 4-byte ids spread past
    the bucket limit are sorted by their ranks, in the same order."""
    from infgram.build.sa_writer import suffix_array_of

    ids = [separator(width) if i == 3 else (i * spread if width == 4 else i) for i in small_ids]
    tokens = np.array(ids, dtype=f">u{width}")
    assert suffix_array_of(tokens, width).tolist() == brute_force(ids)
