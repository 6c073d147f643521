"""Building an index in memory, with no files: the arrays a shard's files would hold.

A notebook that compares a text with a few others (DNA-GPT compares a text with its
regenerations) needs a throwaway index in milliseconds, not a directory. The documents go
through the same pipeline as a build (:class:`~.pipeline.Builder`: the same records, the
same problems, the same tokenization and shard cuts), and each full shard is sorted by the
same sorter as ``sa_writer.py``; only writing is left out. What a shard's files would hold
stays in memory as numpy arrays (:class:`MemoryShard`), for
:class:`~infgram.shards.memory.MemorySAShard` to search exactly as it searches a file.

Two things differ from the files, neither visible in answers: suffix-array pointers keep the
sorter's integer width (4 or 8 bytes, not the fewest bytes that fit: no copy to pack them),
and no sampled suffix keys are made (they are the RAM tier of an index read from disk; in
memory a search starts from the whole suffix array).

>>> built = build_in_memory(["a rose is a rose", "is it"])
>>> [(shard.num_documents, shard.num_positions) for shard in built.shards], built.report.num_tokens
([(2, 23)], 21)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..errors import BuildError
from ..tokenizer import PretokenizedVocabulary, Tokenizer, load_tokenizer, normalized_tokenizer
from .inputs import InputProblem, SourceDocument
from .pipeline import Builder, BuildReport, build_options, python_records
from .sa_writer import sorted_positions
from .shard_writer import ShardBuffer

MEMORY_SHARD_TOKENS = 1 << 31
"""The largest shard an in-memory build cuts unless told otherwise: one shard for anything
a notebook holds, with 4-byte pointers from the sorter."""


@dataclass
class MemoryShard:
    """What the files of one suffix-array shard hold, as arrays."""

    name: str
    tokens: np.ndarray
    """Every token and each document's separator (big-endian ids, as in ``tokens.bin``)."""
    suffix_array: np.ndarray
    """The token positions in suffix order (the sorter's signed integers)."""
    starts: np.ndarray
    """Each document's first position, and the shard's length at the end (int64)."""
    metadata_offsets: np.ndarray
    """Each document's metadata offset in ``metadata``, and its length at the end (int64)."""
    metadata: bytes
    """The documents' metadata, JSON objects back to back."""
    first_document: int = 0

    @property
    def num_documents(self) -> int:
        return len(self.starts) - 1

    @property
    def num_positions(self) -> int:
        return len(self.tokens)

    @property
    def num_tokens(self) -> int:
        return self.num_positions - self.num_documents

    def entry(self) -> dict[str, Any]:
        """The shard's manifest entry (it names no files)."""
        return {"name": self.name, "num_documents": self.num_documents, "num_tokens": self.num_tokens,
                "num_positions": self.num_positions, "first_document": self.first_document,
                "pointer_width": self.suffix_array.dtype.itemsize, "files": {}}


@dataclass
class MemoryBuild:
    """An index built in memory: its tokenizer, shards, report and manifest (never written)."""

    tokenizer: Tokenizer
    shards: list[MemoryShard]
    report: BuildReport
    manifest: dict[str, Any]


def sort_shard(name: str, buffer: ShardBuffer, threads: int = 1) -> MemoryShard:
    """Sort a full buffer's tokens (the sorter of ``sa_writer.py``, on up to ``threads``
    threads) into a :class:`MemoryShard`."""
    num_positions = buffer.num_positions
    tokens = buffer.tokens[:num_positions].copy()  # the buffer's array may be larger than its tokens
    chunks = list(sorted_positions(tokens, buffer.token_width, threads=threads))
    # One chunk is a view of the sorter's whole array; several are views of it too, in order.
    suffix_array = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
    # Little-endian, as the searches read pointers (a no-op on a little-endian machine).
    suffix_array = suffix_array.astype(suffix_array.dtype.newbyteorder("<"), copy=False)
    starts = np.empty(buffer.num_documents + 1, dtype=np.int64)
    starts[:-1] = buffer.starts
    starts[-1] = num_positions
    offsets = np.empty(buffer.num_documents + 1, dtype=np.int64)
    offsets[:-1] = buffer.metadata_offsets
    offsets[-1] = len(buffer.metadata)
    return MemoryShard(name, tokens, suffix_array, starts, offsets, bytes(buffer.metadata))


class MemoryBuilder(Builder):
    """A :class:`~.pipeline.Builder` whose shards stay in memory: nothing is written, so there
    is no build state to keep and nothing to resume."""

    def __init__(self, tokenizer: Tokenizer, fingerprint: dict[str, Any], shard_positions: int, on_error: str):
        super().__init__(Path(), tokenizer, fingerprint, shard_positions, on_error, False,
                         {"fingerprint": fingerprint, "shards": {}}, BuildReport(directory=""))
        self.memory_shards: list[MemoryShard] = []

    def finish_shard(self, last: bool = False) -> None:
        """Sort the full buffer here, in this thread (and the sorter's helpers, as nothing
        else is in flight): for the small inputs an index in memory is for, starting a writer
        thread costs more than the overlap saves."""
        buffer = self.buffer
        if buffer.num_documents == 0:
            return
        name = f"shard-{self.shards_handed_over:05d}"
        self.shards_handed_over += 1
        self.write_shard(name, buffer)
        self.buffer = self.new_buffer()

    def write_shard(self, name: str, buffer: ShardBuffer, resume: dict[str, Any] | None = None) -> None:
        shard = sort_shard(name, buffer, self.max_in_flight)
        shard.first_document = sum(s.num_documents for s in self.memory_shards)
        self.memory_shards.append(shard)
        self.add_shard(shard.entry())

    def finish(self) -> BuildReport:
        self.finish_shard()
        self.wait_for_shard()
        if not self.shards:
            raise BuildError(
                f"nothing to index: all {self.report.records_read:,} documents were empty or had problems"
                + (f" (first: {self.report.first_problems[0]})" if self.report.first_problems else "")
            )
        self.report.num_shards = len(self.shards)
        return self.report


def build_in_memory(documents: Iterable[str | dict[str, Any] | SourceDocument | InputProblem], *,
                    tokenizer: str | Path | Tokenizer | None = None, token_width: int | None = None,
                    vocab_size: int | None = None, on_error: str = "fail", shard_tokens: int | None = None,
                    normalize: str | None = None) -> MemoryBuild:
    """Index documents in memory; they are given as to
    :func:`~.pipeline.build_from_documents` (strings, ``{"text": ..., "metadata": {...}}``
    or ``{"ids": [...]}`` with ``token_width``), and so are the options.

    >>> build_in_memory([{"ids": [1, 2]}, {"ids": [2]}], token_width=2, shard_tokens=3).manifest["num_tokens"]
    3
    >>> build_in_memory([""])
    Traceback (most recent call last):
    ...
    infgram.errors.InputError: <python>:1: the document is empty (pass --on-error skip to index the rest and list such records)
    """
    start = time.perf_counter()
    tokenizer = PretokenizedVocabulary(token_width, vocab_size) if token_width is not None else load_tokenizer(tokenizer)
    tokenizer = normalized_tokenizer(tokenizer, normalize)
    shard_positions, fingerprint = build_options(tokenizer, "text", on_error, None,
                                                 MEMORY_SHARD_TOKENS if shard_tokens is None else shard_tokens)
    fingerprint["inputs"] = None
    builder = MemoryBuilder(tokenizer, fingerprint, shard_positions, on_error)
    try:
        builder.add_records(python_records(documents, tokenizer))
        report = builder.finish()
    except BaseException as error:
        builder.abandon(error)
        raise
    report.seconds = time.perf_counter() - start
    manifest = {**builder.manifest(), "in_memory": True}
    return MemoryBuild(tokenizer, builder.memory_shards, report, manifest)
