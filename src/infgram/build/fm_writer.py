"""Building a compressed FM-index over bytes: BWT, wavelet tree, RRR bitvectors, samples.

The FM-index (Ferragina and Manzini, 2000) answers the same counting question as a suffix
array without keeping the text or the array. Its pieces, for a shard of text T of n bytes
(every document followed by the separator 255, as in a byte-mode suffix-array index):

- **Burrows-Wheeler transform.** Sort the suffixes of T (the suffix array SA, row by row);
  BWT[i] is the byte before suffix SA[i]. Bytes that precede similar contexts end up next
  to each other, so the BWT has long runs and compresses far better than T.
- **Backward search.** With C[c] the number of rows whose suffix starts with a byte < c and
  rank_c(i) the occurrences of c in BWT[0, i), the rows of the suffixes that start with
  c + P are C[c] + rank_c(lo) .. C[c] + rank_c(hi) when [lo, hi) are those that start
  with P. So a query is matched from its last byte to its first: two ranks per byte, and
  count(P) = hi - lo, exactly the run a suffix array would give (the rows are the same).
- **Rank structure.** A Huffman-shaped wavelet tree stores the BWT as bits: each byte's
  prefix-free code, one bit per tree level, so frequent bytes cost few bits. Its bitvectors
  are RRR-compressed (blocks of 63 bits stored as a popcount class and an enumerative
  offset, see ``src/infgram/c/rrr.h``): runs of equal bits cost almost nothing, which makes the tree's
  size approach the k-th order entropy of the text (measured: ~2.2 bits per byte on English
  web text and prose, where a Huffman tree over plain bits takes ~5.3 and cutting the BWT
  into fixed blocks with their own Huffman trees ~2.6 even at 4 KiB blocks).
- **Sampled suffix array.** To turn a row into a text position (locate), the positions
  that are multiples of ``sample_rate`` are kept: their rows are marked in an Elias-Fano
  set (about 2 + log2(sample_rate) bits each) and SA[row] / sample_rate stored in row
  order. From any row, the LF mapping LF(i) = C[BWT[i]] + rank_{BWT[i]}(i) steps to the
  row of the previous text position, so at most ``sample_rate - 1`` steps reach a mark.
- **Inverse samples.** The row of every ``isa_rate``-th text position, so that any piece
  of text (a document, a context window) is extracted by walking back from the nearest
  sample after it, without storing the text.

Size per corpus byte, roughly: the tree ~2.2 bits, the samples (log2(n) + 2) /
sample_rate bits, the inverse samples log2(n) / isa_rate bits, plus the document table and
metadata that every index kind keeps. The default ``sample_rate`` (128) puts English web text
and prose (``wiki`` + ``prose``) at 0.34 bytes per byte, all files included.

Each shard keeps ``documents.bin`` and ``metadata.bin`` exactly as in a suffix-array
index and replaces ``tokens.bin`` and ``suffix_array.bin`` with ``fm_wavelet.bin`` and
``fm_samples.bin``. Both are blobs of 64-bit little-endian words: a count of scalars, a
count of sections, the scalars, (byte offset, byte length) per section, then the sections
(8-byte aligned); the field order is the ``*_SCALARS`` and ``*_SECTIONS`` tuples below.
"""

from __future__ import annotations

import heapq
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from .. import _fm
from ..errors import BuildError
from ..tokenizer import Tokenizer
from ..format import KIND_FM_SAMPLES, KIND_FM_WAVELET, AtomicFileWriter, FileHeader
from .sa_writer import suffix_array_of
from .shard_writer import InThread, ShardBuffer, ShardWriter, file_entry, pipelining

DEFAULT_SAMPLE_RATE = 128
"""One text position in 128 is sampled: ~0.2 bits per byte, and a locate takes at most 127 steps."""

ISA_RATE_FACTOR = 8
"""Inverse samples are 8 times sparser than the samples: extracting text starts at most
8 x sample_rate bytes after what it needs, for ~log2(n) / 1024 bits per byte."""

MAX_SAMPLE_RATE = 1 << 16

WAVELET_SCALARS = ("num_positions", "num_nodes", "num_bits", "num_blocks", "primary_row")
WAVELET_SECTIONS = ("symbol_starts", "codes", "code_lengths", "node_starts", "node_ones", "node_children",
                    "superblocks", "hyperblocks", "offsets")
SAMPLES_SCALARS = ("sample_rate", "isa_rate", "num_samples", "low_bits", "value_width", "num_isa_samples",
                   "isa_width", "high_length")
SAMPLES_SECTIONS = ("low", "high", "select", "values", "isa")

_ROW_CHUNK = 1 << 20
"""Suffix-array rows read at a time (BWT, samples, symbol counts). Each chunk's numpy
temporaries (about 20 bytes a row) are outside the memory plan's bytes per position, and two
shards may be built at once: at 4 M rows they took a shard's peak 24 MB higher, and two FM
shards under ``--memory 200M`` to 250 MB; at 1 M, 183 MB (no slower)."""
_WAVELET_CHUNK = 1 << 24


def fm_fingerprint(tokenizer: Tokenizer, sample_rate: int | None) -> dict[str, Any]:
    """The FM options that go into a build's fingerprint, checked.

    >>> from infgram.tokenizer import load_tokenizer
    >>> fm_fingerprint(load_tokenizer("bytes"), None)
    {'index_kind': 'fm', 'sample_rate': 128, 'isa_rate': 1024}
    """
    if not tokenizer.tokens_are_bytes:
        raise BuildError(f"an FM-index is built over bytes, found the {tokenizer.kind} tokenizer; "
                         "pass --tokenizer bytes, or build a suffix-array index (--kind sa) for tokens")
    rate = DEFAULT_SAMPLE_RATE if sample_rate is None else sample_rate
    if not isinstance(rate, (int, np.integer)) or isinstance(rate, bool) or not 1 <= rate <= MAX_SAMPLE_RATE:
        raise BuildError(f"expected a sample rate from 1 to {MAX_SAMPLE_RATE}, found {sample_rate!r}; "
                         f"{DEFAULT_SAMPLE_RATE} (the default) is a good balance of size and locate speed")
    return {"index_kind": "fm", "sample_rate": int(rate), "isa_rate": int(rate) * ISA_RATE_FACTOR}


# -- the pieces -------------------------------------------------------------------------------

def huffman_code_lengths(counts: np.ndarray) -> np.ndarray:
    """Huffman code lengths (0 for absent symbols) of 256 symbol counts; ties broken by symbol.

    >>> huffman_code_lengths(np.array([5, 0, 2, 1] + [0] * 252))[:4].tolist()
    [1, 0, 2, 2]
    """
    present = [int(c) for c in np.flatnonzero(counts)]
    lengths = np.zeros(256, dtype=np.uint8)
    if len(present) == 1:
        lengths[present[0]] = 1
        return lengths
    # Entries (weight, tie-break, symbols): merging the two lightest deepens all their symbols.
    heap = [(int(counts[c]), c, [c]) for c in present]
    heapq.heapify(heap)
    serial = 256
    while len(heap) > 1:
        weight_a, _, symbols_a = heapq.heappop(heap)
        weight_b, _, symbols_b = heapq.heappop(heap)
        for symbol in symbols_a + symbols_b:
            lengths[symbol] += 1
        heapq.heappush(heap, (weight_a + weight_b, serial, symbols_a + symbols_b))
        serial += 1
    return lengths


def canonical_codes(lengths: np.ndarray) -> np.ndarray:
    """Canonical prefix codes for code lengths: shorter codes first, then by symbol.

    >>> canonical_codes(np.array([1, 0, 2, 2] + [0] * 252, dtype=np.uint8))[:4].tolist()
    [0, 0, 2, 3]
    """
    codes = np.zeros(256, dtype=np.uint64)
    code, previous = 0, 0
    for symbol in sorted(np.flatnonzero(lengths).tolist(), key=lambda s: (int(lengths[s]), s)):
        length = int(lengths[symbol])
        code <<= length - previous
        codes[symbol] = code
        code += 1
        previous = length
    return codes


def wavelet_nodes(counts: np.ndarray, codes: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The tree of a prefix code: per internal node (root 0, breadth-first) its two children
    (an internal node, or -1 - symbol for a leaf), its bit count and its count of ones.

    >>> children, sizes, ones = wavelet_nodes(np.array([5, 0, 2, 1] + [0] * 252),
    ...     np.array([0, 0, 2, 3] + [0] * 252, dtype=np.uint64), np.array([1, 0, 2, 2] + [0] * 252, dtype=np.uint8))
    >>> children.tolist(), sizes.tolist(), ones.tolist()
    ([[-1, 1], [-3, -4]], [8, 3], [3, 1])
    """
    # A node is a code prefix (depth, value); leaves are whole codes.
    leaf_of = {(int(lengths[s]), int(codes[s])): s for s in np.flatnonzero(lengths).tolist()}
    under: dict[tuple[int, int], int] = {}
    for (depth, value), symbol in leaf_of.items():
        for d in range(depth):
            key = (d, value >> (depth - d))
            under[key] = under.get(key, 0) + int(counts[symbol])
    order = [(0, 0)]
    children, sizes, ones = [], [], []
    number = {(0, 0): 0}
    for node in order:  # grows while we walk it: breadth-first
        depth, value = node
        pair = []
        for branch in (0, 1):
            child = (depth + 1, (value << 1) | branch)
            if child in leaf_of:
                pair.append(-1 - leaf_of[child])
            elif child in under:
                number[child] = len(order)
                order.append(child)
                pair.append(number[child])
            else:
                raise BuildError("internal error: the prefix code is not complete")
        children.append(pair)
        sizes.append(under[node])
        right = (depth + 1, (value << 1) | 1)
        ones.append(under.get(right, int(counts[leaf_of[right]]) if right in leaf_of else 0))
    return np.array(children, dtype=np.int32), np.array(sizes, dtype=np.uint64), np.array(ones, dtype=np.uint64)


def _blob(scalars: list[int], sections: list[np.ndarray | bytes]) -> list[bytes | np.ndarray]:
    """The pieces of a blob file (see the module docstring), to be written one after another."""
    parts: list[bytes | np.ndarray] = []
    table_words = 2 + len(scalars) + 2 * len(sections)
    offset = table_words * 8
    table = [len(scalars), len(sections), *scalars]
    for section in sections:
        length = len(section) if isinstance(section, bytes) else section.nbytes
        table += [offset, length]
        offset += (length + 7) // 8 * 8
    parts.append(np.array(table, dtype="<u8"))
    for section in sections:
        data = section if isinstance(section, bytes) else np.ascontiguousarray(section).view(np.uint8).tobytes()
        parts.append(data)
        if len(data) % 8:
            parts.append(b"\0" * (8 - len(data) % 8))
    return parts


def _write_blob(path: Path, kind: bytes, parts: list[bytes | np.ndarray]) -> dict[str, Any]:
    total = sum(len(p) if isinstance(p, bytes) else p.nbytes for p in parts)
    writer = AtomicFileWriter(path, FileHeader(kind, 1, 0, total // 8, 8), hash_in_thread=pipelining())
    try:
        for part in parts:
            writer.write(part)
        return writer.commit()
    except BaseException:
        writer.abort()
        raise


def _bwt_and_samples(text: np.ndarray, sample_rate: int, isa_rate: int, bar: tqdm,
                     sort_threads: int = 1) -> tuple[np.ndarray, int, np.ndarray, np.ndarray, np.ndarray]:
    """Sort the suffixes (on up to ``sort_threads`` threads), then read the BWT, the sampled
    rows and the inverse samples off the suffix array chunk by chunk (it is freed before the
    wavelet tree is built)."""
    n = len(text)
    suffix_array = suffix_array_of(text, 1, threads=sort_threads)
    bwt = np.empty(n, dtype=np.uint8)
    rows_parts, values_parts = [], []
    isa = np.zeros((n - 1) // isa_rate + 1, dtype=np.uint64)
    primary_row = -1
    for start in range(0, n, _ROW_CHUNK):
        chunk = suffix_array[start : start + _ROW_CHUNK]
        bwt[start : start + len(chunk)] = text[chunk - 1]  # position 0 reads text[-1], the final separator
        zero = np.flatnonzero(chunk == 0)
        if len(zero):
            primary_row = start + int(zero[0])
        sampled = np.flatnonzero(chunk % sample_rate == 0)
        rows_parts.append((sampled + start).astype(np.uint64))
        values_parts.append((chunk[sampled] // sample_rate).astype(np.uint64))
        inverse = np.flatnonzero(chunk % isa_rate == 0)
        isa[chunk[inverse] // isa_rate] = inverse + start
        bar.update(len(chunk))
    del suffix_array
    return bwt, primary_row, np.concatenate(rows_parts), np.concatenate(values_parts), isa


def _wavelet_blob(bwt: np.ndarray, primary_row: int, bar: tqdm) -> list[bytes | np.ndarray]:
    n = len(bwt)
    counts = np.zeros(256, dtype=np.int64)
    for start in range(0, n, _ROW_CHUNK):  # bincount casts to int64: 8 bytes per byte if done at once
        counts += np.bincount(bwt[start : start + _ROW_CHUNK], minlength=256)
    symbol_starts = np.zeros(257, dtype=np.uint64)
    np.cumsum(counts, out=symbol_starts[1:])
    lengths = huffman_code_lengths(counts)
    if int(lengths.max()) > 64:
        raise BuildError("internal error: a Huffman code is longer than 64 bits")
    codes = canonical_codes(lengths)
    children, sizes, ones = wavelet_nodes(counts, codes, lengths)
    node_starts = np.zeros(len(sizes), dtype=np.uint64)
    np.cumsum(sizes[:-1], out=node_starts[1:])
    node_ones = np.zeros(len(ones), dtype=np.uint64)
    np.cumsum(ones[:-1], out=node_ones[1:])
    num_bits = int(sizes.sum())

    # Every symbol's code bits into its nodes, then RRR: classes, samples, offsets.
    bits = np.zeros(num_bits // 64 + 2, dtype=np.uint64)
    cursors = node_starts.copy()
    for start in range(0, n, _WAVELET_CHUNK):
        _fm.fill_wavelet_bits(bwt[start : start + _WAVELET_CHUNK], codes, lengths, children, cursors, bits)
        bar.update(min(_WAVELET_CHUNK, n - start) // 2)
    if not np.array_equal(cursors, node_starts + sizes):
        raise BuildError("internal error: the wavelet tree's nodes were not filled exactly")

    # RRR compression: the superblock records, hyperblock samples and offset stream, laid out
    # in C (src/infgram/c/rrr.h) by the same code that reads them.
    num_blocks = num_bits // _fm.BLOCK_BITS + 1
    records, hyperblocks, offsets = _fm.rrr_compress(bits, num_bits)
    bar.update(n // 2)
    del bits
    scalars = [n, len(sizes), num_bits, num_blocks, primary_row]
    sections = [symbol_starts, codes, lengths, node_starts, node_ones, children, records, hyperblocks, offsets]
    return _blob(scalars, sections)


def _samples_blob(n: int, sample_rate: int, isa_rate: int, rows: np.ndarray, values: np.ndarray,
                  isa: np.ndarray) -> list[bytes | np.ndarray]:
    """Elias-Fano marks of the sampled rows (rows are sorted), their values, the inverse samples."""
    num_samples = len(rows)
    if num_samples != (n - 1) // sample_rate + 1:
        raise BuildError("internal error: the number of suffix-array samples is wrong")
    # Low bits so that the high part is about two bits per element.
    low_bits = max(0, (n // num_samples).bit_length() - 1)
    mask = np.uint64((1 << low_bits) - 1)
    low = _fm.pack_bits(rows & mask, low_bits)
    high_positions = (rows >> np.uint64(low_bits)) + np.arange(num_samples, dtype=np.uint64)
    high_length = num_samples + ((n - 1) >> low_bits) + 1
    high_flags = np.zeros((high_length // 64 + 2) * 64, dtype=bool)  # padded: select0 may read a word past
    high_flags[high_positions.astype(np.int64)] = True
    high = np.packbits(high_flags, bitorder="little").view("<u8")
    zeros = np.flatnonzero(~high_flags[:high_length])
    select = zeros[:: _fm.SELECT_SAMPLE].astype(np.uint64)
    value_width = max(1, (num_samples - 1).bit_length())
    isa_width = max(1, (n - 1).bit_length())
    scalars = [sample_rate, isa_rate, num_samples, low_bits, value_width, len(isa), isa_width, high_length]
    sections = [low, high, select, _fm.pack_bits(values, value_width), _fm.pack_bits(isa, isa_width)]
    return _blob(scalars, sections)


class FMWriter(ShardWriter):
    """Writes FM-index shards."""

    index_kind = "fm"

    def manifest_extra(self) -> dict[str, Any]:
        return {"fm": {"sample_rate": self.fingerprint["sample_rate"], "isa_rate": self.fingerprint["isa_rate"]}}

    def write_shard(self, name: str, buffer: ShardBuffer, tokens: np.ndarray, tokens_sha256: str,
                     metadata_sha256: str, sort_threads: int = 1) -> dict[str, Any]:
        n = buffer.num_positions
        staging = self.staging(name)
        text = np.ascontiguousarray(tokens.view(np.uint8))
        sample_rate, isa_rate = self.fingerprint["sample_rate"], self.fingerprint["isa_rate"]
        files: dict[str, Any] = {}
        with tqdm(total=n, desc=f"sorting {name}", unit="B", unit_scale=True, disable=not self.progress) as bar:
            # The sort runs in a thread (the sorter releases the GIL) while the files that
            # do not depend on it are written.
            sorting = InThread(self._sort, text, sample_rate, isa_rate, bar, sort_threads, name=f"sort {name}")
            try:
                self.check_cancelled()
                files.update(self.write_documents(staging, name, buffer, metadata_sha256))
            finally:
                sorting.wait()  # a sort cannot be stopped halfway: never leave one running
            bwt, primary_row, rows, values, isa = sorting.result()
        self.check_cancelled()
        with tqdm(total=n, desc=f"compressing {name}", unit="B", unit_scale=True, disable=not self.progress) as bar:
            parts = _wavelet_blob(bwt, primary_row, bar)
            del bwt
            files["wavelet"] = file_entry(name, "fm_wavelet.bin", _write_blob(staging / "fm_wavelet.bin", KIND_FM_WAVELET, parts))
            del parts
            parts = _samples_blob(n, sample_rate, isa_rate, rows, values, isa)
            files["samples"] = file_entry(name, "fm_samples.bin", _write_blob(staging / "fm_samples.bin", KIND_FM_SAMPLES, parts))
            bar.update(n - bar.n)
        self.check_cancelled()
        return self.publish(name, staging, buffer, 0, files)

    def _sort(self, text: np.ndarray, sample_rate: int, isa_rate: int, bar: tqdm, sort_threads: int = 1):
        """The sorting step (its own method so tests can interrupt a build in it)."""
        return _bwt_and_samples(text, sample_rate, isa_rate, bar, sort_threads)
