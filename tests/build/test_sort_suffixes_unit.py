"""The compiled token-level suffix sorter (``infgram._sort``, SA-IS) against a brute-force sort."""

import numpy as np
import pytest

from infgram import _sort
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
        _sort.sort_suffixes(ids.astype(f">u{width}").view(np.uint8), width, alphabet, out)
        assert out.tolist() == brute_force(ids.tolist())
        if width < 4:  # 0: every value of the width
            _sort.sort_suffixes(ids.astype(f">u{width}").view(np.uint8), width, 0, out)
            assert out.tolist() == brute_force(ids.tolist())


def test_empty_and_single_token():
    out = np.empty(0, dtype=np.int32)
    _sort.sort_suffixes(b"", 2, 0, out)
    out = np.full(1, 7, dtype=np.int64)
    _sort.sort_suffixes(b"\x00\x05", 2, 0, out)
    assert out.tolist() == [0]


def test_build_helper_uses_both_sorters_alike():
    # 32-bit ids too sparse for SA-IS's buckets are sorted by their ranks; the order is the same.
    ids = np.array([5, 2**31, 5, 7, 2**32 - 1, 2**31, 5, 2**32 - 1], dtype=">u4")
    positions = np.concatenate(list(sorted_positions(ids, 4))).tolist()
    assert positions == brute_force(ids.tolist())
    dense = np.array([5, 3, 5, 7, 2**32 - 1, 3, 5, 2**32 - 1], dtype=">u4")
    assert np.concatenate(list(sorted_positions(dense, 4))).tolist() == brute_force(dense.tolist())
    for width in (1, 2):
        ids = np.array([3, 1, 3, 1, 2, (1 << (8 * width)) - 1], dtype=f">u{width}")
        assert np.concatenate(list(sorted_positions(ids, width))).tolist() == brute_force(ids.tolist())
    only_separators = np.array([2**32 - 1] * 3, dtype=">u4")
    assert np.concatenate(list(sorted_positions(only_separators, 4))).tolist() == [2, 1, 0]
    sparse_with_zero = np.array([0, 2**30, 0, 2**32 - 1], dtype=">u4")
    assert np.concatenate(list(sorted_positions(sparse_with_zero, 4))).tolist() == brute_force(sparse_with_zero.tolist())


def test_int32_limit_switch():
    ids = np.array([2, 1, 2, 1, 0, 255], dtype=np.uint8)
    narrow, wide = np.empty(6, dtype=np.int32), np.empty(6, dtype=np.int64)
    _sort.sort_suffixes(ids, 1, 0, narrow, int32_limit=6)
    _sort.sort_suffixes(ids, 1, 0, wide, int32_limit=5)
    assert narrow.tolist() == wide.tolist() == brute_force(ids.tolist())
    with pytest.raises(ValueError, match="too many tokens for an int32 output"):
        _sort.sort_suffixes(ids, 1, 0, narrow, int32_limit=5)


def test_rejects_bad_input():
    out = np.empty(3, dtype=np.int32)
    with pytest.raises(ValueError, match="whole tokens"):
        _sort.sort_suffixes(b"abcde", 2, 0, out)
    with pytest.raises(ValueError, match="whole tokens"):
        _sort.sort_suffixes(b"abc", 3, 0, out)
    with pytest.raises(ValueError, match="one int32 or int64 per token"):
        _sort.sort_suffixes(b"abcd", 1, 0, out)
    with pytest.raises(ValueError, match="not below alphabet_size"):
        _sort.sort_suffixes(np.array([1, 9, 2], dtype=">u4").view(np.uint8), 4, 5, out)
    with pytest.raises(ValueError, match="not below alphabet_size"):
        _sort.sort_suffixes(b"abc", 1, 98, out)
    for width, alphabet_size in ((4, 0), (4, 2**30 + 1), (1, 256), (2, 65536), (1, -1)):
        with pytest.raises(ValueError, match="alphabet_size out of range"):
            _sort.sort_suffixes(bytes(3 * width), width, alphabet_size, out)
    with pytest.raises(TypeError):
        _sort.sort_suffixes(b"abc", 1, 0, b"read-only output")
    for threads in (0, -1):
        with pytest.raises(ValueError, match="threads of at least 1"):
            _sort.sort_suffixes(b"abc", 1, 0, out, threads=threads)


@pytest.mark.parametrize("width", [1, 2, 4])
def test_threads_give_the_same_array(width):
    # Above 2^18 tokens the scans take helper threads (c/sais.h); the array is the same for any
    # number. Word-like text (runs, repeats) and random ids over a small alphabet, with
    # separators, sorted with 1 thread and with 2, 3 and 8 (more threads than cores).
    rng = np.random.default_rng(width)
    separator = (1 << (8 * width)) - 1
    words = rng.integers(0, 40, (2000, 6))
    word_text = words[rng.integers(0, len(words), 60_000)].ravel()[: 300_000]
    random_text = rng.integers(0, 3, 300_000)
    for ids in (word_text, random_text):
        ids = ids.copy()
        ids[rng.random(len(ids)) < 0.001] = separator
        ids[-1] = separator
        data = ids.astype(f">u{width}").view(np.uint8)
        alone = np.empty(len(ids), dtype=np.int32)
        _sort.sort_suffixes(data, width, 41, alone)
        for threads in (2, 3, 8):
            shared = np.empty(len(ids), dtype=np.int32)
            _sort.sort_suffixes(data, width, 41, shared, threads=threads)
            assert np.array_equal(alone, shared), threads
        wide = np.empty(len(ids), dtype=np.int64)
        _sort.sort_suffixes(data, width, 41, wide, threads=2)
        assert np.array_equal(alone, wide)
    # And the order is right (checked by its sortedness: adjacent suffixes compare in order).
    text = ids.astype(f">u{width}").tobytes()
    for rank in range(0, len(alone) - 1, 997):
        a, b = int(alone[rank]) * width, int(alone[rank + 1]) * width
        assert text[a:] < text[b:]


def test_libdivsufsort_is_not_a_product_dependency():
    # Builds sort with infgram's own SA-IS; libdivsufsort is only for tests and benchmarks to compare.
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert not any(requirement.startswith("pydivsufsort") for requirement in project["dependencies"])
    assert any(requirement.startswith("pydivsufsort") for requirement in project["optional-dependencies"]["test"])
    sources = [path for path in (root / "src" / "infgram").rglob("*.py") if "pydivsufsort" in path.read_text(encoding="utf-8")]
    assert sources == []
