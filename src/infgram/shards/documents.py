"""The document table of a shard: where each document starts, and its metadata.

Every index kind keeps the same two files per shard (see :mod:`infgram.format`):
``documents.bin`` holds, for each of the shard's n documents and once more for the end,
the position of the document's first token and the offset of its metadata in
``metadata.bin``, where every document's metadata is one JSON object, back to back. A
position maps to its document by binary search over the start positions.

Both files are read through memory maps; only the start positions (8 bytes a document)
are copied into memory when a shard opens.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import IndexFormatError
from ..format import DOCUMENT_RECORD, KIND_DOCUMENTS, KIND_METADATA, FileHeader, check_payload_sha256, open_payload, read_header


def checked_header(path: Path, kind: bytes, token_width: int, pointer_width: int, num_items: int | None) -> FileHeader:
    """Read a file's header and check it against what the manifest says of it."""
    header = read_header(path)
    problems = []
    if header.kind != kind:
        problems.append(f"kind {header.kind!r}, expected {kind!r}")
    if header.token_width != token_width:
        problems.append(f"token width {header.token_width}, the manifest says {token_width}")
    if header.pointer_width != pointer_width:
        problems.append(f"pointer width {header.pointer_width}, the manifest says {pointer_width}")
    if num_items is not None and header.num_items != num_items:
        problems.append(f"{header.num_items} items, the manifest says {num_items}")
    if problems:
        raise IndexFormatError(f"{path} does not match the manifest ({'; '.join(problems)}); rebuild the index")
    return header


class DocumentTable:
    """Document start positions and metadata of one shard; numbers are shard-local."""

    def __init__(self, documents_path: Path, metadata_path: Path, token_width: int, num_documents: int,
                 num_positions: int, documents_entry: dict[str, Any] | None = None):
        """``documents_entry``: the manifest's entry of ``documents_path``, whose checksum is
        verified as the table is read whole (none: not checked)."""
        records = open_payload(documents_path, checked_header(documents_path, KIND_DOCUMENTS, token_width, 0,
                                                              num_documents + 1), DOCUMENT_RECORD)
        self.num_documents = num_documents
        self.starts = np.array(records["token_position"], dtype=np.int64)
        """The first token position of every document, and the shard's length at the end."""
        self.metadata_offsets = records["metadata_offset"]
        self.metadata_bytes = open_payload(metadata_path, checked_header(metadata_path, KIND_METADATA, token_width, 0,
                                                                         None), np.uint8)
        # Cheap invariants: a damaged table must not send a query out of the shard.
        # Each document holds at least its separator (a compacted index keeps the numbers of
        # removed documents as empty placeholders).
        if num_documents and (self.starts[0] != 0 or self.starts[-1] != num_positions
                              or bool(np.any(np.diff(self.starts) < 1))):
            raise IndexFormatError(f"{documents_path} holds document positions that do not increase from 0 to the "
                                   f"shard's {num_positions} positions; the file is damaged: rebuild the index")
        offsets = np.asarray(self.metadata_offsets)
        if num_documents and (offsets[0] != 0 or int(offsets[-1]) != len(self.metadata_bytes)
                              or bool(np.any(np.diff(offsets.astype(np.int64)) < 0))):
            raise IndexFormatError(f"{documents_path} holds metadata offsets outside {metadata_path}; the file is "
                                   "damaged: rebuild the index")
        # The table is read whole here, and a damaged start or offset that keeps the order
        # would move answers to the wrong document: its checksum is verified as it is read.
        check_payload_sha256(documents_path, records, documents_entry)

    def document_of(self, positions: np.ndarray) -> np.ndarray:
        """The shard-local document number of each token position."""
        return np.searchsorted(self.starts, positions, side="right") - 1

    def lengths(self) -> np.ndarray:
        """The number of tokens of every document (its separator not counted)."""
        return np.diff(self.starts) - 1

    def length(self, local: int) -> int:
        """The number of tokens of one document."""
        return int(self.starts[local + 1] - self.starts[local]) - 1

    def metadata(self, local: int) -> dict[str, Any]:
        """The metadata of one document, as written at build time."""
        start, end = int(self.metadata_offsets[local]), int(self.metadata_offsets[local + 1])
        try:
            value = json.loads(bytes(self.metadata_bytes[start:end]))
        except (ValueError, UnicodeDecodeError, RecursionError):
            value = None
        if not isinstance(value, dict):
            raise IndexFormatError(f"the metadata of document {local} is not a JSON object; metadata.bin is "
                                   "damaged: run `infgram verify` and rebuild the index")
        return value
