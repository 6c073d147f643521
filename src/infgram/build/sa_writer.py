"""The suffix-array writer: ``tokens.bin``, ``suffix_array.bin`` and ``suffix_keys.bin``.

The corpus becomes one long token sequence per shard: every document's tokens followed by
the separator id (the largest id of the token width, which no document or query holds).
The suffix array lists the start position of every suffix of that sequence in sorted
order; all occurrences of any n-gram then form one contiguous run of it, found by binary
search (see ``infgram/_core.c``). Because the separator ends every document, no match can
cross from one document into the next.

Sorting is linear-time induced sorting: infgram's SA-IS over the token alphabet (the
compiled ``_sort.sort_suffixes``) for every token width, bytes included, so each token
position is one suffix to sort. Tokens are stored big-endian, so it gives exactly the
token-level order that the searches use.

Writing a shard overlaps what it can (see ``shard_writer.py``): the sort runs in a thread
(the sorter releases the GIL) while ``tokens.bin``, ``documents.bin`` and ``metadata.bin``
are written; then ``suffix_keys.bin`` is made and written in a thread (the records come from
C, which reads ahead the text of the samples to come) while ``suffix_array.bin`` is written,
and that file is hashed in a thread beside the writing. Pointers as wide as the
sorter's integers are written straight from its output, without a copy.

When the pointers are 4 bytes (shards of 2^24 to 2^31 tokens) and the suffix array fits
below the kernel's background writeback threshold (``resources.background_writeback_bytes``),
the sorter writes straight into ``suffix_array.bin``, mapped (``AtomicFileWriter.map_payload``):
the page cache is its output array, so nothing is copied or written after the sort but the
fsync. On wiki + prose bytes (55.8 M tokens, ``benchmarks/build_pipeline.py --parts bytes``)
what follows the sort fell from 0.60 s to 0.34 s, and the sort was no slower (BENCHMARKS.md).
Above the threshold the kernel would write the pages out while the sort keeps changing them,
or slow the sort down: the array is sorted in memory and written after, as for every other
width.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from tqdm.auto import tqdm

from .. import _core, _sort
from ..resources import background_writeback_bytes
from ..format import (
    KIND_SUFFIX_ARRAY,
    KIND_SUFFIX_KEYS,
    KIND_TOKENS,
    AtomicFileWriter,
    FileHeader,
    pointer_width_for,
)
from .plan import INT32_LIMIT
from .shard_writer import InThread, ShardBuffer, ShardWriter, file_entry, pipelining, release_free_memory

_MAX_SORT_ALPHABET = 1 << 22
"""Above this largest 32-bit id, SA-IS's bucket arrays (8 bytes per id) cost too much: such
shards (only pretokenized ids can be that sparse) are sorted on the ranks of their distinct
ids instead, which keeps the order (and so the suffix array) and bounds the alphabet by the
number of tokens."""
_POINTER_CHUNK = 1 << 22
_PACK_CHUNK = 1 << 18
"""Pointers packed at a time: packing 3, 5, 6 or 7-byte pointers goes through 8-byte
temporaries, ~32 bytes per pointer at once (a 4 M chunk cost 128 MB past the budget)."""
# Every SUFFIX_KEY_STEP-th suffix's first 8 bytes go to suffix_keys.bin, each with that
# suffix's position: 16 / 32 = 0.5 bytes per token (a tenth of a byte index). In memory they
# make little difference (the text is resident anyway), but they are the RAM tier of an index
# read from disk (infgram.shards.residency): the keys settle a query's first 8 bytes without
# a disk read, the positions let a search compare the samples whose keys tie with a longer
# query by reading the text alone (one round of reads per step instead of two), and what is
# left, 32 suffixes around each end of the run, takes two rounds of concurrent reads. Keys
# alone at a step of 16 (the same bytes) took a round or two more per count, a step of 256
# two to three more (BENCHMARKS.md, "From disk"). An index opened with a smaller RAM budget
# keeps every 2nd, 4th, ... record.
SUFFIX_KEY_STEP = 32
SUFFIX_KEY_RECORD_BYTES = 16
"""A key and a position; files of 8-byte records (keys alone) were written before."""


def suffix_array_of(tokens: np.ndarray, token_width: int, out: np.ndarray | None = None, threads: int = 1) -> np.ndarray:
    """The suffix array of big-endian tokens (int32 up to ``INT32_LIMIT`` tokens, else int64),
    sorted into ``out`` when given (an int32 or int64 array of one entry per token, such as a
    mapped file's payload), on up to ``threads`` threads (the same array for any number).

    Every width goes to infgram's SA-IS (``_sort.sort_suffixes``), which sorts the bytes of
    wiki + prose faster than libdivsufsort (``benchmarks/suffix_sorter.py``), and sorts
    wider tokens as tokens: a byte sorter would sort ``token_width`` times as many suffixes,
    with an output entry each, and then drop all but one in ``token_width`` of them.

    >>> suffix_array_of(np.frombuffer(b"banana", dtype=np.uint8), 1).tolist()
    [5, 3, 1, 0, 4, 2]
    """
    id_limit = 0
    data = tokens.view(np.uint8)
    if token_width == 4:
        # The alphabet is every id below the largest one in use, plus the separator.
        separator = np.array(-1).astype(tokens.dtype)
        id_limit = int(np.max(tokens, where=tokens != separator, initial=0)) + 1
        if id_limit > _MAX_SORT_ALPHABET:
            # Sparse ids: sort their ranks among the distinct ids, in the same order.
            distinct = np.unique(tokens[tokens != separator])
            ranks = np.searchsorted(distinct, tokens).astype(">u4")
            ranks[tokens == separator] = np.uint32(0xFFFFFFFF)
            data, id_limit = ranks.view(np.uint8), max(len(distinct), 1)
    suffix_array = np.empty(len(tokens), dtype=np.int32 if len(tokens) <= INT32_LIMIT else np.int64) if out is None else out
    _sort.sort_suffixes(data, token_width, id_limit, suffix_array, threads=threads)
    return suffix_array


def sorted_positions(tokens: np.ndarray, token_width: int, out: np.ndarray | None = None,
                     threads: int = 1) -> Iterator[np.ndarray]:
    """The suffix array of a shard's tokens (``suffix_array_of``, into ``out`` when given, on
    up to ``threads`` threads), in chunks of token positions."""
    suffix_array = suffix_array_of(tokens, token_width, out, threads)
    for start in range(0, len(suffix_array), _POINTER_CHUNK):
        yield suffix_array[start : start + _POINTER_CHUNK]


def sorts_in_place(num_positions: int, pointer_width: int) -> bool:
    """Whether a shard's sort writes straight into its mapped ``suffix_array.bin`` (see the
    top of this module): 4-byte pointers are the sorter's int32 on a little-endian machine,
    and the array fits below the kernel's background writeback threshold.

    >>> sorts_in_place(17_000_000, 4), sorts_in_place(1000, 2)  # 68 MB of pointers, 1,000 of 2 bytes
    (True, False)
    """
    return (pointer_width == 4 and num_positions <= INT32_LIMIT and sys.byteorder == "little"
            and 4 * num_positions <= background_writeback_bytes())


def pack_pointers(positions: np.ndarray, pointer_width: int) -> np.ndarray:
    """Little-endian pointers of ``pointer_width`` bytes each, as a flat uint8 array.

    Positions are never negative, so on a little-endian machine the first ``pointer_width``
    bytes of each native integer are the pointer: a view of the sorter's output when the
    widths match (no copy), one strided copy when they do not.

    >>> pack_pointers(np.array([1, 258], dtype=np.int32), 3).tolist()
    [1, 0, 0, 2, 1, 0]
    """
    itemsize = positions.dtype.itemsize
    if (sys.byteorder == "little" and positions.dtype.kind in "iu" and positions.dtype.isnative
            and pointer_width <= itemsize):
        raw = np.ascontiguousarray(positions).view(np.uint8)
        if pointer_width == itemsize:
            return raw
        return np.ascontiguousarray(raw.reshape(-1, itemsize)[:, :pointer_width]).reshape(-1)
    if pointer_width in (1, 2, 4, 8):
        return positions.astype(f"<u{pointer_width}").view(np.uint8)
    packed = np.empty((len(positions), pointer_width), dtype=np.uint8)
    wide = positions.astype("<u8")
    for byte in range(pointer_width):
        packed[:, byte] = wide >> np.uint64(8 * byte)  # the cast keeps the low byte
    return packed.reshape(-1)


def _sort_chunks(tokens: np.ndarray, token_width: int, out: np.ndarray | None = None, threads: int = 1) -> list[np.ndarray]:
    """The whole suffix array, as the chunks :func:`sorted_positions` gives (views of one
    array, ``out`` when given), looked up at call time so that tests can replace the sorter."""
    return list(sorted_positions(tokens, token_width, out, threads))


def _suffix_key_pieces(tokens: np.ndarray, token_width: int, chunks: list[np.ndarray]) -> Iterator[bytes]:
    """The records of every ``SUFFIX_KEY_STEP``-th suffix in sorted order (its key and its
    position, as two little-endian uint64, see ``format``), one piece per chunk, each made
    when it is asked for."""
    data, start = tokens.view(np.uint8), 0
    for chunk in chunks:
        yield _core.suffix_key_records(data, token_width, chunk, start, SUFFIX_KEY_STEP)
        start += len(chunk)


def _write_suffix_keys(path: Path, tokens: np.ndarray, token_width: int,
                       holder: list[list[np.ndarray]]) -> dict[str, Any]:
    """Write ``suffix_keys.bin`` from the sorted chunks in ``holder`` (emptied here, so that
    this thread holds the last reference); its committed entry. Runs beside the writing of
    ``suffix_array.bin``. Each chunk's records are written as they are made: the records of
    the whole shard (half a byte per position, not in the memory plan) are never held at
    once. The sorted array is held until the last piece is made, which is within the
    shard's own share of the budget: the shard is not done before its keys are."""
    chunks = holder.pop()
    num_records = (sum(len(chunk) for chunk in chunks) + SUFFIX_KEY_STEP - 1) // SUFFIX_KEY_STEP
    writer = AtomicFileWriter(path, FileHeader(KIND_SUFFIX_KEYS, token_width, 0, num_records, SUFFIX_KEY_RECORD_BYTES))
    try:
        for piece in _suffix_key_pieces(tokens, token_width, chunks):
            writer.write(piece)
    except BaseException:
        writer.abort()
        raise
    finally:
        chunks = None
    return writer.commit()


class SAWriter(ShardWriter):
    """Writes suffix-array shards."""

    index_kind = "sa"

    def write_shard(self, name: str, buffer: ShardBuffer, tokens: np.ndarray, tokens_sha256: str,
                     metadata_sha256: str, sort_threads: int = 1) -> dict[str, Any]:
        width = self.tokenizer.token_width
        num_positions = buffer.num_positions
        pointer_width = pointer_width_for(num_positions)
        staging = self.staging(name)
        files: dict[str, Any] = {}

        with tqdm(total=num_positions, desc=f"sorting {name}", unit="tok", unit_scale=True, disable=not self.progress) as bar:
            release_free_memory()
            suffix_writer = AtomicFileWriter(
                staging / "suffix_array.bin",
                FileHeader(KIND_SUFFIX_ARRAY, width, pointer_width, num_positions, pointer_width),
                hash_in_thread=pipelining(),
            )
            keys = None
            try:
                out = None
                if sorts_in_place(num_positions, pointer_width):
                    try:
                        out = suffix_writer.map_payload(np.int32)
                    except OSError:
                        pass  # no room reserved, or no map on this filesystem: written after the sort
                in_place = out is not None
                sorting = InThread(_sort_chunks, tokens, width, out, sort_threads, name=f"sort {name}")
                out = None  # the sort's chunks are the references to the map from here on
                try:
                    # While the sort runs: the files that do not depend on the sorted order.
                    self.check_cancelled()
                    writer = AtomicFileWriter(staging / "tokens.bin", FileHeader(KIND_TOKENS, width, 0, num_positions, width),
                                              known_sha256=tokens_sha256)
                    writer.write(tokens.view(np.uint8))
                    files["tokens"] = file_entry(name, "tokens.bin", writer.commit())
                    self.check_cancelled()
                    files.update(self.write_documents(staging, name, buffer, metadata_sha256))
                finally:
                    sorting.wait()  # a sort cannot be stopped halfway: never leave one running
                chunks = sorting.result()
                sorting = None  # it holds the sorted array too: the chunks are the only reference now
                self.check_cancelled()
                keys = InThread(_write_suffix_keys, staging / "suffix_keys.bin", tokens, width, [chunks],
                                name=f"suffix keys {name}")
                for chunk in chunks:
                    if in_place:  # already in the file
                        pass
                    elif pointer_width == chunk.dtype.itemsize:
                        suffix_writer.write(pack_pointers(chunk, pointer_width))
                    else:  # packing goes through temporaries (see _PACK_CHUNK)
                        for piece in range(0, len(chunk), _PACK_CHUNK):
                            suffix_writer.write(pack_pointers(chunk[piece : piece + _PACK_CHUNK], pointer_width))
                    bar.update(len(chunk))
                    self.check_cancelled()
                # The chunks are views of the whole sorted array: let it go now, not after the
                # keys are written (it held 6.8 GB past the budget once).
                chunk = chunks = None
                files["suffix_array"] = file_entry(name, "suffix_array.bin", suffix_writer.commit())
            except BaseException:
                suffix_writer.abort()
                if keys is not None:
                    keys.wait()  # no thread outlives the shard's failure
                raise
        files["suffix_keys"] = {**file_entry(name, "suffix_keys.bin", keys.result()), "step": SUFFIX_KEY_STEP}
        self.check_cancelled()
        return self.publish(name, staging, buffer, pointer_width, files)
