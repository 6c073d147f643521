"""A suffix-array shard held in memory: the arrays of its files, with no files.

An index built in memory (``Index.from_texts``; see :mod:`infgram.build.memory`) has the
same tokens, suffix array, document starts and metadata that a shard's files hold, as
numpy arrays. :class:`MemorySAShard` wraps them in the compiled search view that reads a
memory-mapped shard, so every query runs the same code, and answers the same, as on the
files. There is nothing to check at open (the arrays were made here), nothing to place
(they are in memory) and nothing removed.

>>> import numpy as np
>>> tokens = np.frombuffer(b"ab\\xff", dtype=np.uint8)
>>> shard = MemorySAShard("shard-00000", tokens, np.array([0, 1, 2], dtype=np.int32),
...                       np.array([0, 3]), np.array([0, 2]), b"{}", 0, 1)
>>> shard.find(b"b"), shard.documents.metadata(0), shard.num_tokens
((1, 2), {}, 2)
"""

from __future__ import annotations

from pathlib import Path

from typing import Any

import numpy as np

from .. import _core
from ..format import token_dtype
from .documents import DocumentTable
from .removals import Removals
from .sa import SAShard


class MemoryDocumentTable(DocumentTable):
    """The document table of a shard in memory (see :class:`~.documents.DocumentTable`)."""

    def __init__(self, starts: np.ndarray, metadata_offsets: np.ndarray, metadata: bytes):
        self.num_documents = len(starts) - 1
        self.starts = np.asarray(starts, dtype=np.int64)
        self.metadata_offsets = np.asarray(metadata_offsets, dtype=np.int64)
        self.metadata_bytes = np.frombuffer(metadata, dtype=np.uint8)


class MemorySAShard(SAShard):
    """A suffix-array shard from arrays: ``tokens`` (every token and each document's
    separator), ``suffix_array`` (token positions in suffix order, 1 to 8-byte little-endian
    integers), each document's start position and metadata offset (with the ends), and the
    metadata (JSON objects back to back)."""

    def __init__(self, name: str, tokens: np.ndarray, suffix_array: np.ndarray, starts: np.ndarray,
                 metadata_offsets: np.ndarray, metadata: bytes, first_document: int, token_width: int):
        self.name = name
        self.files: dict[str, Any] = {}
        self.token_width = token_width
        self.tokens = np.asarray(tokens).view(token_dtype(token_width))
        self.num_positions = len(self.tokens)
        self.num_documents = len(starts) - 1
        self.num_tokens = self.num_positions - self.num_documents
        self.first_document = first_document
        self.pointer_width = suffix_array.dtype.itemsize
        self.suffix_array_bytes = np.ascontiguousarray(suffix_array).view(np.uint8)
        self.documents = MemoryDocumentTable(starts, metadata_offsets, metadata)
        self.removals = Removals()
        self.view = _core.ShardView(self.tokens.view(np.uint8), self.suffix_array_bytes, token_width,
                                    self.pointer_width)
        self.find = self.view.find
        self.find_many = self.view.find_many

    @property
    def memory_bytes(self) -> int:
        """The bytes the shard's arrays hold."""
        return int(self.tokens.nbytes + self.suffix_array_bytes.nbytes + self.documents.starts.nbytes
                   + self.documents.metadata_offsets.nbytes + self.documents.metadata_bytes.nbytes)

    def place(self, load: str, tier_budget_bytes: int, tier_directory: Path | None = None) -> tuple[int, bool, int]:
        """Nothing to place: the arrays are in memory (see :meth:`SAShard.place`)."""
        return 0, True, 0
