"""The FM-index's rank structure (Huffman wavelet tree over RRR bitvectors) and samples,
checked against numpy on BWTs built directly, without the index around them."""

from __future__ import annotations

import numpy as np
import pytest
from tqdm.auto import tqdm

import infgram
from infgram import _fm
from infgram.build import fm_writer as fm_build, plan


def _view(text: bytes, sample_rate: int = 4) -> tuple[_fm.FMView, np.ndarray, np.ndarray]:
    """An FMView of a text (which must end with 255), with its BWT and suffix array."""
    import pydivsufsort

    array = np.frombuffer(text, dtype=np.uint8).copy()
    bar = tqdm(disable=True)
    bwt, primary_row, rows, values, isa = fm_build._bwt_and_samples(array, sample_rate, 8 * sample_rate, bar)
    wavelet = b"".join(bytes(part) for part in fm_build._wavelet_blob(bwt, primary_row, bar))
    samples = b"".join(bytes(part) for part in fm_build._samples_blob(len(array), sample_rate, 8 * sample_rate,
                                                                     rows, values, isa))
    return _fm.FMView(wavelet, samples), bwt, pydivsufsort.divsufsort(array)


def _texts():
    rng = np.random.default_rng(7)
    yield b"a\xff"
    yield b"abracadabra\xffabra\xff"
    yield bytes(rng.integers(0, 255, 5000, dtype=np.uint8)) + b"\xff"  # every byte value, flat
    skewed = rng.choice(np.arange(255), size=200_000, p=np.arange(255, 0, -1) / np.arange(255, 0, -1).sum())
    yield bytes(skewed.astype(np.uint8)) + b"\xff"  # deep Huffman codes, many hyperblocks
    yield b"x" * 100_000 + b"\xff" + b"xy" * 30_000 + b"\xff"  # runs: all-zero and all-one blocks
    yield b"".join(bytes([c]) * int(rng.integers(1, 300)) + b"\xff" for c in rng.integers(0, 255, 300))


@pytest.mark.parametrize("text", list(_texts()), ids=lambda t: f"{len(t)}B")
def test_rank_and_access_match_numpy(text):
    view, bwt, _ = _view(text)
    n = len(bwt)
    rng = np.random.default_rng(len(text))
    rows = np.unique(np.concatenate([[0, 1, n - 1, n], rng.integers(0, n + 1, 300)]))
    for symbol in np.unique(bwt)[:40].tolist():
        prefix = np.concatenate([[0], np.cumsum(bwt == symbol)])
        for row in rows.tolist():
            assert view.rank(symbol, row) == prefix[row]
    assert view.rank(254, n) == int((bwt == 254).sum())
    for row in rows[rows < n].tolist():
        assert view.access(row) == bwt[row]


@pytest.mark.parametrize("text", list(_texts()), ids=lambda t: f"{len(t)}B")
def test_locate_and_extract_match_the_suffix_array(text):
    view, _, suffix_array = _view(text, sample_rate=5)
    n = len(text)
    rng = np.random.default_rng(n)
    rows = rng.integers(0, n, 200)
    located = np.frombuffer(view.locate(0, n), dtype=np.int64) if n < 20_000 else \
        np.array([np.frombuffer(view.locate(int(r), int(r) + 1), dtype=np.int64)[0] for r in rows])
    expected = suffix_array if n < 20_000 else suffix_array[rows]
    assert located.tolist() == expected.tolist()
    for start in rng.integers(0, n, 30).tolist():
        end = min(n, start + int(rng.integers(0, 90)))
        assert view.extract(start, end) == text[start:end]
    if n < 20_000:
        assert view.extract(0, n) == text
    else:  # long stretches: across many inverse samples, and up to the final separator
        assert view.extract(n // 3, n // 3 + 20_000) == text[n // 3 : n // 3 + 20_000]
        assert view.extract(n - 5_000, n) == text[-5_000:]


def test_backward_search_counts_every_substring():
    text = b"mississippi\xffsip\xffpi\xff"
    view, _, _ = _view(text, sample_rate=2)
    for length in range(1, 6):
        for start in range(len(text) - length):
            query = text[start : start + length]
            if 255 in query:
                continue
            lo, hi = view.find(query)
            assert hi - lo == sum(text[i : i + length] == query for i in range(len(text) - length + 1))
    assert view.find(b"zz") == (0, 0)
    assert view.find(b"") == (0, len(text))


def test_huffman_codes_are_prefix_free_and_complete():
    counts = np.bincount(np.random.default_rng(3).zipf(1.3, 100_000) % 255, minlength=256)
    lengths = fm_build.huffman_code_lengths(counts)
    codes = fm_build.canonical_codes(lengths)
    present = np.flatnonzero(lengths)
    assert abs(sum(2.0 ** -int(lengths[s]) for s in present) - 1.0) < 1e-12  # Kraft: complete
    words = {format(int(codes[s]), f"0{int(lengths[s])}b") for s in present}
    assert not any(a != b and b.startswith(a) for a in words for b in words)  # prefix-free
    children, sizes, ones = fm_build.wavelet_nodes(counts, codes, lengths)
    assert len(children) == len(present) - 1 and sizes[0] == counts.sum()


def test_damaged_blob_is_refused():
    view, _, _ = _view(b"abc\xff")
    with pytest.raises(infgram.IndexFormatError, match="expected consistent sizes"):
        _fm.FMView(b"\0" * 16, b"\0" * 16)
    text = b"abc\xff"
    array = np.frombuffer(text, dtype=np.uint8).copy()
    bar = tqdm(disable=True)
    bwt, primary_row, rows, values, isa = fm_build._bwt_and_samples(array, 2, 16, bar)
    wavelet = b"".join(bytes(p) for p in fm_build._wavelet_blob(bwt, primary_row, bar))
    samples = b"".join(bytes(p) for p in fm_build._samples_blob(4, 2, 16, rows, values, isa))
    with pytest.raises(infgram.IndexFormatError, match="fm_wavelet.bin: expected section .*run `infgram verify`"):
        _fm.FMView(wavelet[: len(wavelet) - 64], samples)


def test_fm_build_options_are_checked(tmp_path):
    with pytest.raises(infgram.BuildError, match="sample rate"):
        infgram.build_from_documents(["abc"], tmp_path / "a", kind="fm", sample_rate=0, progress=False)
    with pytest.raises(infgram.BuildError, match="FM-indexes only"):
        infgram.build_from_documents(["abc"], tmp_path / "b", sample_rate=8, progress=False)
    with pytest.raises(infgram.BuildError, match="index kind"):
        infgram.build_from_documents(["abc"], tmp_path / "c", kind="bwt", progress=False)
    with pytest.raises(infgram.BuildError, match="over bytes"):
        infgram.build_from_documents([{"ids": [1, 2]}], tmp_path / "d", token_width=2, kind="fm", progress=False)
    assert plan.fm_shard_positions_for_budget(70 * 2**20) == 10 * 2**20


def test_fm_index_refuses_what_it_cannot_answer(tmp_path):
    infgram.build_from_documents(["the cat sat", "the cat ran"], tmp_path / "fm", kind="fm", progress=False)
    index = infgram.Index.open(tmp_path / "fm")
    for call in (lambda: index.next_tokens("the"), lambda: index.probability("the", " "),
                 lambda: index.infgram_probability("the", " "), lambda: index.infgram_next_tokens("the"),
                 lambda: index.next_tokens_batch(["the"]), lambda: index.probability_batch([("the", " ")]),
                 lambda: index.infgram_probability_batch([("the", " ")]), lambda: index.search("cat"),
                 lambda: index.cooccurrence(["cat", "the"]), lambda: index.attribute("the cat sat"),
                 lambda: index.longest_matches("the cat"), lambda: index.infgram_probabilities("the cat")):
        with pytest.raises(infgram.UnsupportedOperationError, match="--kind sa"):
            call()
    info = index.info()
    assert info["index_kind"] == "fm" and info["sample_rate"] == 128 and info["num_tokens"] == 22
    index.verify()
    assert index.count("cat") == 2 and index.count("") == 22
