"""The compiled token-level suffix sorter (SA-IS) against a brute-force sort of the suffixes."""

import numpy as np
import pytest

from infgram import _core
from infgram.build.sa_writer import sorted_positions


def brute_force(ids: list[int]) -> list[int]:
    return sorted(range(len(ids)), key=lambda i: ids[i:])


@pytest.mark.parametrize("width", [1, 2, 4])
@pytest.mark.parametrize("output", [np.int32, np.int64])
def test_matches_brute_force(width, output):
    rng = np.random.default_rng(width)
    separator = (1 << (8 * width)) - 1
    for _ in range(60):
        n = int(rng.integers(1, 50))
        alphabet = int(rng.integers(1, 6))
        ids = rng.integers(0, alphabet, n)
        ids[rng.random(n) < 0.2] = separator
        ids[-1] = separator
        out = np.empty(n, dtype=output)
        _core.sort_suffixes(ids.astype(f">u{width}").view(np.uint8), width, alphabet, out)
        assert out.tolist() == brute_force(ids.tolist())


def test_build_helper_uses_both_sorters_alike():
    # 32-bit ids too sparse for SA-IS's buckets go to libdivsufsort; the order is the same.
    ids = np.array([5, 2**31, 5, 7, 2**32 - 1, 2**31, 5, 2**32 - 1], dtype=">u4")
    positions = np.concatenate(list(sorted_positions(ids, 4))).tolist()
    assert positions == brute_force(ids.tolist())
    dense = np.array([5, 3, 5, 7, 2**32 - 1, 3, 5, 2**32 - 1], dtype=">u4")
    assert np.concatenate(list(sorted_positions(dense, 4))).tolist() == brute_force(dense.tolist())


def test_rejects_bad_input():
    out = np.empty(3, dtype=np.int32)
    with pytest.raises(ValueError, match="whole tokens"):
        _core.sort_suffixes(b"abcde", 2, 0, out)
    with pytest.raises(ValueError, match="one int32 or int64 per token"):
        _core.sort_suffixes(b"abcd", 1, 0, out)
    with pytest.raises(ValueError, match="not below id_limit"):
        _core.sort_suffixes(np.array([1, 9, 2], dtype=">u4").view(np.uint8), 4, 5, out)
