"""One shard of a suffix-array index, memory-mapped, with its compiled search view.

A shard is a complete index of a run of whole documents (see ``format.py`` for the
files). Nothing is read into memory at open time except the document start positions;
everything else is paged in by the operating system as queries touch it, so an index may
be larger than RAM.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .. import _core
from ..errors import IndexFormatError
from ..format import (
    DOCUMENT_RECORD,
    KIND_DOCUMENTS,
    KIND_METADATA,
    KIND_SUFFIX_ARRAY,
    KIND_SUFFIX_KEYS,
    KIND_TOKENS,
    FileHeader,
    open_payload,
    read_header,
    token_dtype,
)


def _checked_header(path: Path, kind: bytes, token_width: int, pointer_width: int, num_items: int | None) -> FileHeader:
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


class Shard:
    """Memory-mapped files of one shard; positions are token positions within the shard."""

    def __init__(self, directory: Path, entry: dict[str, Any], token_width: int):
        tokens_path, sa_path = self._read_entry(directory, entry, ("tokens", "suffix_array"))
        try:
            self.pointer_width = int(entry["pointer_width"])
        except (KeyError, TypeError, ValueError) as error:
            raise IndexFormatError(f"the manifest's entry for a shard is malformed ({error!r}); rebuild the index") from None
        self.token_width = token_width
        header = _checked_header(tokens_path, KIND_TOKENS, token_width, 0, self.num_positions)
        self.tokens = open_payload(tokens_path, header, token_dtype(token_width))
        header = _checked_header(sa_path, KIND_SUFFIX_ARRAY, token_width, self.pointer_width, self.num_positions)
        self.suffix_array_bytes = open_payload(sa_path, header, np.uint8)
        self._open_documents()
        self.view = _core.ShardView(self.tokens.view(np.uint8), self.suffix_array_bytes, token_width, self.pointer_width)
        if "suffix_keys" in self.files:  # absent in indexes built before it existed
            self._use_suffix_keys(entry["files"]["suffix_keys"])

    def _use_suffix_keys(self, file_entry: dict[str, Any]) -> None:
        """Map suffix_keys.bin and let the searches start from it (see ``_core.c``)."""
        path = self.files["suffix_keys"]
        try:
            step = int(file_entry["step"])
        except (KeyError, TypeError, ValueError) as error:
            raise IndexFormatError(f"the manifest's entry for {path} is malformed ({error!r}); rebuild the index") from None
        if step < 1:
            raise IndexFormatError(f"the manifest gives {path} a step of {step}, expected 1 or more; rebuild the index")
        num_keys = -(-self.num_positions // step)
        header = _checked_header(path, KIND_SUFFIX_KEYS, self.token_width, 0, num_keys)
        self.suffix_keys = open_payload(path, header, np.dtype("<u8"))
        self.view.use_keys(self.suffix_keys, step)

    def _read_entry(self, directory: Path, entry: dict[str, Any], kind_files: tuple[str, ...]) -> list[Path]:
        """Take the counts and file paths from the shard's manifest entry; returns the paths of
        ``kind_files`` (the files of the index kind, besides documents and metadata)."""
        try:
            self.name = entry["name"]
            self.num_documents = int(entry["num_documents"])
            self.num_tokens = int(entry["num_tokens"])
            self.num_positions = int(entry["num_positions"])
            self.first_document = int(entry["first_document"])
            self.files = {key: Path(directory) / value["path"] for key, value in entry["files"].items()}
            paths = [self.files[key] for key in (*kind_files, "documents", "metadata")]  # all must be listed
        except (KeyError, TypeError, ValueError) as error:
            raise IndexFormatError(f"the manifest's entry for a shard is malformed ({error!r}); rebuild the index") from None
        return paths[: len(kind_files)]

    def _open_documents(self) -> None:
        """Map the document table and the metadata (the same files in every index kind)."""
        path = self.files["documents"]
        records = open_payload(path, _checked_header(path, KIND_DOCUMENTS, self.token_width, 0, self.num_documents + 1),
                               DOCUMENT_RECORD)
        self.document_starts = np.array(records["token_position"], dtype=np.int64)
        self.metadata_offsets = records["metadata_offset"]
        path = self.files["metadata"]
        self.metadata_bytes = open_payload(path, _checked_header(path, KIND_METADATA, self.token_width, 0, None), np.uint8)

    @property
    def unigram_range(self) -> tuple[int, int]:
        """The run of suffixes that start with a real token: all but the separators, which sort last."""
        return 0, self.num_positions - self.num_documents

    def positions(self, lo: int, hi: int) -> np.ndarray:
        """Token positions of suffix-array entries lo..hi-1, as int64."""
        width = self.pointer_width
        raw = np.asarray(self.suffix_array_bytes[lo * width : hi * width])
        if width in (1, 2, 4, 8):
            return raw.view(f"<u{width}").astype(np.int64)
        padded = np.zeros((hi - lo, 8), dtype=np.uint8)
        padded[:, :width] = raw.reshape(-1, width)
        return padded.view("<u8").reshape(-1).astype(np.int64)

    def document_of(self, positions: np.ndarray) -> np.ndarray:
        """The shard-local document index of each token position."""
        return np.searchsorted(self.document_starts, positions, side="right") - 1

    def first_matches(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """The documents holding suffix-array entries lo..hi-1 (sorted, each once) and the
        position of the first of those entries in each. Sorting the positions first makes the
        document lookups walk the document table in order (several times faster than
        looking up positions in suffix order and deduplicating after)."""
        positions = np.sort(self.positions(lo, hi))
        documents = self.document_of(positions)
        first = np.ones(len(documents), dtype=bool)
        first[1:] = documents[1:] != documents[:-1]
        return documents[first], positions[first]

    def document_tokens(self, local_index: int) -> np.ndarray:
        start, end = self.document_starts[local_index], self.document_starts[local_index + 1] - 1
        return np.asarray(self.tokens[start:end])

    def metadata(self, local_index: int) -> dict[str, Any]:
        start, end = int(self.metadata_offsets[local_index]), int(self.metadata_offsets[local_index + 1])
        return json.loads(bytes(self.metadata_bytes[start:end]))
