"""build.py helpers: memory sizes, shard sizes, pointer packing, and suffix-array order."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

import infgram
from infgram.build.plan import INT32_LIMIT, parse_memory, reserve_bytes, shard_positions_for_budget
from infgram.build.sa_writer import pack_pointers
from infgram.errors import MemoryBudgetWarning
from infgram.format import HEADER_BYTES
from infgram.shards.sa import SAShard as Shard


@pytest.mark.parametrize("text, expected", [
    ("8G", 8 * 2**30), ("8g", 8 * 2**30), ("512M", 512 * 2**20), ("1.5G", 3 * 2**29), ("100", 100),
    ("2k", 2048), ("1KB", 1024), ("1GiB", 2**30), (" 3 T ", 3 * 2**40), ("1b", 1), (".5M", 2**19),
    (4096, 4096), (None, None),
])
def test_parse_memory(text, expected):
    assert parse_memory(text) == expected


@pytest.mark.parametrize("text", ["lots", "", "-1G", "1X", "1e9", "G", "1.2.3G", "8 GB RAM"])
def test_parse_memory_rejects(text):
    with pytest.raises(infgram.BuildError, match="cannot read the memory size"):
        parse_memory(text)


def test_shard_positions_for_budget():
    assert shard_positions_for_budget(10 * 2**20, 1) == 2 * 2**20  # 5 bytes per position
    assert shard_positions_for_budget(12 * 2**20, 2) == 2 * 2**20  # 6 bytes per position (SA-IS on tokens)
    assert shard_positions_for_budget(10, 1) == 2
    with pytest.raises(infgram.BuildError, match="too small"):
        shard_positions_for_budget(9, 1)
    with pytest.raises(infgram.BuildError, match="too small"):
        shard_positions_for_budget(11, 2)
    # Past 2 GiB of text (2**31 tokens), the sorters need 64-bit output: 9 bytes per byte
    # position, 8 + width per token position, never fewer positions.
    big = 5 * INT32_LIMIT
    assert shard_positions_for_budget(big, 1) == INT32_LIMIT
    huge = 100 * 2**30
    assert shard_positions_for_budget(huge, 1) == huge // 9 > INT32_LIMIT
    assert shard_positions_for_budget(huge, 4) == huge // 12
    budgets = [2**k for k in range(4, 45)]
    positions = [shard_positions_for_budget(b, 1) for b in budgets]
    assert positions == sorted(positions)


def _fake_shard(positions: np.ndarray, width: int) -> Shard:
    """A Shard with only what Shard.positions reads: the packed pointers and their width."""
    shard = Shard.__new__(Shard)
    shard.pointer_width = width
    shard.suffix_array_bytes = pack_pointers(positions, width)
    return shard


@pytest.mark.parametrize("width", [1, 2, 3, 4, 5, 6, 7, 8])
def testpack_pointers_round_trips_through_shard_positions(width):
    rng = np.random.default_rng(width)
    top = 2 ** (8 * width) - 1 if width < 8 else 2**63 - 1
    positions = np.concatenate([[0, 1, top, top - 1, 255, 256], rng.integers(0, top, size=200, dtype=np.int64)])
    positions = positions[positions <= top].astype(np.int64)
    packed = pack_pointers(positions, width)
    assert packed.dtype == np.uint8 and packed.shape == (len(positions) * width,)
    # Little-endian, `width` bytes each.
    assert bytes(packed[:width]) == int(positions[0]).to_bytes(width, "little")
    assert bytes(packed[2 * width : 3 * width]) == int(positions[2]).to_bytes(width, "little")
    shard = _fake_shard(positions, width)
    assert shard.positions(0, len(positions)).tolist() == positions.tolist()
    assert shard.positions(3, 9).tolist() == positions[3:9].tolist()
    assert shard.positions(5, 5).tolist() == []


def test_pointer_width_5_addresses_past_4_gib():
    positions = np.array([2**32, 2**32 + 1, 2**39 + 12345, 0, 2**40 - 1], dtype=np.int64)
    assert _fake_shard(positions, 5).positions(0, 5).tolist() == positions.tolist()


def _assert_suffix_order(tokens: bytes, positions: list[int]) -> None:
    """positions is the sorted order of every suffix of tokens (compared as byte strings)."""
    assert sorted(positions) == list(range(len(tokens)))
    for a, b in zip(positions, positions[1:]):
        window = 64
        while True:  # compare a growing prefix: almost always decided within 64 bytes
            left, right = tokens[a : a + window], tokens[b : b + window]
            if left != right or window >= len(tokens):
                assert left < right or (left == right and a > b), (a, b)
                break
            window *= 4


def test_suffix_array_with_3_byte_pointers_is_sorted(tmp_path):
    rng = random.Random(3)
    documents = ["".join(rng.choice("abcd ") for _ in range(rng.randint(50, 400))) for _ in range(400)]
    documents = [d if d.strip() else "x" for d in documents]
    infgram.build_from_documents(documents, tmp_path / "index", progress=False)
    index = infgram.Index.open(tmp_path / "index")
    (shard,) = index.shards
    assert shard.num_positions > 65536 and shard.pointer_width == 3
    tokens = bytes(np.asarray(shard.tokens))
    assert tokens == b"".join(d.encode() + b"\xff" for d in documents)
    positions = shard.positions(0, shard.num_positions).tolist()
    _assert_suffix_order(tokens, positions)
    # A spot check against the engine: the run of "abc" holds exactly its occurrences.
    expected = sorted(i for i in range(len(tokens)) if tokens.startswith(b"abc", i))
    lo, hi = shard.view.find(b"abc")
    assert sorted(shard.positions(lo, hi).tolist()) == expected


@pytest.mark.parametrize("width", [2, 4])
def test_wide_token_suffix_array_is_token_order(tmp_path, width):
    rng = random.Random(width)
    top = 2 ** (8 * width) - 2
    alphabet = [0, 1, 255, 256, top]
    documents = [[rng.choice(alphabet) for _ in range(rng.randint(1, 30))] for _ in range(40)]
    infgram.build_from_documents([{"ids": d} for d in documents], tmp_path / "index", token_width=width,
                                 progress=False)
    (shard,) = infgram.Index.open(tmp_path / "index").shards
    sequence = [t for d in documents for t in d + [top + 1]]
    expected = sorted(range(len(sequence)), key=lambda i: sequence[i:])
    assert shard.positions(0, shard.num_positions).tolist() == expected


def test_metadata_counts_against_the_memory_budget(tmp_path):
    # 64 KiB of budget: 13,000 byte positions by the tokens alone, fewer once each document
    # also brings 200 bytes of metadata and a 16-byte record, and half is kept back for the
    # process (which cannot live in 32 KiB: the build says so, and goes on).
    budget = 64 * 2**10
    limit = shard_positions_for_budget(budget, 1)
    documents = [{"text": "x" * 99, "metadata": {"note": "m" * 180}} for _ in range(300)]
    with pytest.warns(MemoryBudgetWarning, match="cannot be kept"):
        infgram.build_from_documents(documents, tmp_path / "i", memory=budget, progress=False)
    manifest = json.loads((tmp_path / "i" / "manifest.json").read_text())
    shards = manifest["shards"]
    assert manifest["num_documents"] == 300 and len(shards) > -(-300 * 100 // limit)
    for shard in shards:
        metadata_bytes = shard["files"]["metadata"]["bytes"] - HEADER_BYTES
        used = shard["num_positions"] * budget / limit + metadata_bytes + 16 * shard["num_documents"] + reserve_bytes(budget)
        assert used <= budget
