"""The compiled id encoder: big-endian bytes for good id lists, None (the slow path) otherwise."""

import numpy as np
import pytest

from infgram import _core


@pytest.mark.parametrize("width", [1, 2, 4])
def test_encodes_like_numpy_big_endian(width):
    limit = (1 << (8 * width)) - 1
    ids = [0, 1, 255, limit - 1] if width > 1 else [0, 1, 254]
    expected = np.array(ids, dtype=f">u{width}").tobytes()
    assert _core.encode_ids(ids, width, limit) == expected
    assert _core.encode_ids(tuple(ids), width, limit) == expected


@pytest.mark.parametrize("ids", [[5, 10], [-1], [True], [1.0], ["a"], [2**70], [np.int64(3)]])
def test_anything_odd_takes_the_slow_path(ids):
    assert _core.encode_ids(ids, 2, 10) is None


def test_only_lists_and_tuples():
    assert _core.encode_ids(iter([1]), 1, 10) is None
    assert _core.encode_ids([], 1, 10) == b""
