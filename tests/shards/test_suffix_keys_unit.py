"""Searches narrowed by sampled suffix keys give the same runs as plain binary searches.

Tiny alphabets with id 0 (zero bytes, like the keys' padding) and the largest id below the
separator, queries shorter and longer than a key's 8 bytes, key steps from 1 up, and
sub-ranges [lo, hi) of the suffix array, as ``find_many`` and the ∞-gram searches pass them.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from infgram import _core

SYMBOLS = {1: [0, 1, 97, 254], 2: [0, 1, 256, 65534], 4: [0, 1, 65536, 2**32 - 2]}


def views(ids: list[int], width: int, pointer_width: int, step: int, with_pointers: bool = True):
    """A plain view and one that searches with keys of every ``step``-th suffix, each with
    its suffix's position or (older indexes) alone."""
    separator = (1 << (8 * width)) - 1
    tokens = np.array(ids + [separator], dtype=f">u{width}").view(np.uint8)
    order = sorted(range(len(ids) + 1), key=lambda i: (ids + [separator])[i:])
    packed = np.array(order, dtype="<u8").view(np.uint8).reshape(-1, 8)[:, :pointer_width].copy().reshape(-1)
    plain = _core.ShardView(tokens, packed, width, pointer_width)
    keyed = _core.ShardView(tokens, packed, width, pointer_width)
    records = _core.suffix_key_records(tokens, width, np.array(order, dtype=np.int64), 0, step)
    if with_pointers:
        keyed.use_keys(records, step, True)
    else:  # keys alone, as older indexes hold them
        keyed.use_keys(np.frombuffer(records, dtype="<u8").reshape(-1, 2)[:, 0].tobytes(), step)
    return plain, keyed, tokens.tobytes(), order, records


@st.composite
def cases(draw):
    width = draw(st.sampled_from([1, 2, 4]))
    alphabet = draw(st.lists(st.sampled_from(SYMBOLS[width]), min_size=1, max_size=3, unique=True))
    ids = draw(st.lists(st.sampled_from(alphabet), min_size=0, max_size=60))
    queries = draw(st.lists(st.lists(st.sampled_from(alphabet), max_size=12), min_size=1, max_size=10))
    step = draw(st.integers(1, 5))
    pointer_width = draw(st.sampled_from([1, 3, 4])) if len(ids) < 255 else 3
    with_pointers = draw(st.booleans())
    return width, ids, queries, step, pointer_width, with_pointers


@given(cases(), st.data())
def test_keyed_searches_match_plain_searches(case, data):
    width, ids, queries, step, pointer_width, with_pointers = case
    plain, keyed, _, _, _ = views(ids, width, pointer_width, step, with_pointers)
    n = len(ids) + 1
    for query in queries:
        encoded = np.array(query, dtype=f">u{width}").tobytes()
        assert keyed.find(encoded) == plain.find(encoded)
        lo = data.draw(st.integers(0, n))
        hi = data.draw(st.integers(lo, n))
        assert keyed.find(encoded, lo, hi) == plain.find(encoded, lo, hi)
        assert keyed.longest_suffix(encoded) == plain.longest_suffix(encoded)
    encoded = [np.array(q, dtype=f">u{width}").tobytes() for q in queries]
    offsets = np.cumsum([0] + [len(e) for e in encoded]).astype(np.int64).tobytes()
    assert keyed.find_many(b"".join(encoded), offsets) == plain.find_many(b"".join(encoded), offsets)


@pytest.mark.parametrize("width", [1, 2, 4])
def test_keys_are_the_first_eight_bytes_big_endian_zero_padded(width):
    ids = [1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1]
    _, _, text, order, records = views(ids, width, 3, 2)
    expected = [int.from_bytes((text[p * width :] + bytes(8))[:8], "big") for p in order[::2]]
    assert np.frombuffer(records, dtype="<u8").reshape(-1, 2).tolist() == [[k, p] for k, p in zip(expected, order[::2])]


@given(st.lists(st.integers(0, 9), max_size=40), st.integers(1, 7), st.sampled_from([np.int32, np.int64]),
       st.data())
def test_records_of_stretches_join_to_the_records_of_the_whole(ids, step, dtype, data):
    """A suffix array written in stretches (the sorter's chunks) gives, stretch by stretch,
    the records of the whole: every rank that is a multiple of the step, and no other."""
    tokens = np.array(ids + [255], dtype=np.uint8)
    order = np.array(sorted(range(len(tokens)), key=lambda i: tokens[i:].tobytes()), dtype=dtype)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(order)), max_size=4)))
    pieces = [_core.suffix_key_records(tokens, 1, order[start:end], start, step)
              for start, end in zip([0, *cuts], [*cuts, len(order)])]
    assert b"".join(pieces) == _core.suffix_key_records(tokens, 1, order, 0, step)
    records = np.frombuffer(b"".join(pieces), dtype="<u8").reshape(-1, 2)
    assert records[:, 1].tolist() == order[::step].tolist()
    keys = [int.from_bytes((tokens[p:].tobytes() + bytes(8))[:8], "big") for p in order[::step]]
    assert records[:, 0].tolist() == keys


def test_use_keys_rejects_keys_of_the_wrong_size():
    tokens = np.array([1, 2, 255], dtype=np.uint8)
    view = _core.ShardView(tokens, np.array([0, 1, 2], dtype=np.uint8), 1, 1)
    with pytest.raises(ValueError, match="expected 16"):
        view.use_keys(bytes(8), 2)
    with pytest.raises(ValueError, match="at least 1"):
        view.use_keys(bytes(24), 0)
    with pytest.raises(ValueError, match="position 3 is outside the 3 tokens"):
        _core.suffix_key_records(tokens, 1, np.array([3], dtype=np.int64), 0, 1)
    with pytest.raises(ValueError, match="int32 or int64 entries"):
        _core.suffix_key_records(tokens, 1, np.array([0, 1, 2], dtype=np.uint16), 0, 1)
    with pytest.raises(ValueError, match="a step of at least 1"):
        _core.suffix_key_records(tokens, 1, np.array([0, 1, 2], dtype=np.int32), 0, 0)
