"""One shard of an FM-index, memory-mapped, with its compiled search view.

It offers the locator methods of every shard kind (``find``, ``find_many``, ``positions``,
``document_slice``, ``documents``), computed from the compressed BWT instead of the text
and the suffix array: ``positions`` locates rows through the suffix-array samples and
``document_slice`` extracts bytes by walking the LF mapping back from the nearest inverse
sample (see :mod:`infgram.build.fm_writer`).
"""

from __future__ import annotations

import mmap
from pathlib import Path
from typing import Any

import numpy as np

from .. import _fm
from ..errors import IndexFormatError
from ..format import KIND_FM_SAMPLES, KIND_FM_WAVELET, check_payload_sha256, open_payload
from .documents import DocumentTable, checked_header
from .removals import Removals
from .residency import advise
from .sa import ShardEntry

FM_OPERATIONS = frozenset({"count", "count_batch", "documents", "document", "contamination"})
"""What an FM-index answers. The other operations read the tokens after each occurrence, or
scan candidate documents, which an FM-index would have to extract byte by byte."""


LOCATE_UNITS_PER_SAMPLE = 3
"""Work units (see ``infgram.query.budget``) per sampled position of a locate: a locate takes at
most ``sample_rate - 1`` LF steps, and an LF step (ranks in the wavelet tree, several cache
misses) costs about as much as reading three suffix-array positions. Measured on wiki + prose
(55 M bytes, ``sample_rate`` 128): reading an occurrence's document took 0.33 µs from a suffix
array and 117 µs from the FM-index, 354 units, 2.8 per sample."""


class FMShard:
    """Memory-mapped FM files of one shard; positions are byte positions within the shard."""

    kind = "fm"
    operations = FM_OPERATIONS

    def __init__(self, directory: Path, entry: dict[str, Any], token_width: int, settings: dict[str, Any] | None = None):
        info = ShardEntry(directory, entry, ("wavelet", "samples"))
        self.entry = entry  # the manifest's entry: the files' checksums for those read later
        self.locate_cost = LOCATE_UNITS_PER_SAMPLE * int((settings or {}).get("sample_rate", 1))
        self.name, self.files = info.name, info.files
        self.num_documents, self.num_tokens, self.num_positions = info.num_documents, info.num_tokens, info.num_positions
        self.first_document = info.first_document
        if token_width != 1:
            raise IndexFormatError(f"an FM-index holds bytes, but its manifest says tokens of {token_width} bytes; "
                                   "rebuild the index")
        self.token_width = 1
        self.pointer_width = 0
        wavelet_path, samples_path = self.files["wavelet"], self.files["samples"]
        wavelet = open_payload(wavelet_path, checked_header(wavelet_path, KIND_FM_WAVELET, 1, 0, None), np.uint8)
        samples = open_payload(samples_path, checked_header(samples_path, KIND_FM_SAMPLES, 1, 0, None), np.uint8)
        # The compressed BWT and the samples are read whole by the search view, and a damaged
        # rank, sample or tree shape would change answers without the structural checks
        # noticing: their checksums are verified as they are loaded.
        check_payload_sha256(wavelet_path, wavelet, entry["files"]["wavelet"])
        check_payload_sha256(samples_path, samples, entry["files"]["samples"])
        self.documents = DocumentTable(self.files["documents"], self.files["metadata"], 1, self.num_documents,
                                       self.num_positions, entry["files"]["documents"])
        self.removals = Removals()  # an FM-index does not take documents down (see infgram.change)
        self._arrays = (wavelet, samples)
        self.view = _fm.FMView(wavelet, samples)  # raises IndexFormatError, naming the damage
        if self.view.num_positions != self.num_positions:
            raise IndexFormatError(f"{wavelet_path} holds {self.view.num_positions} bytes, the manifest says "
                                   f"{self.num_positions}; rebuild the index")
        self.find = self.view.find
        self.find_many = self.view.find_many

    tier_bytes = 0
    """An FM-index keeps no sampled keys: its RAM tier is empty."""

    def place(self, load: str, tier_budget_bytes: int, tier_directory: Path | None = None) -> tuple[int, bool, int]:
        """Open the shard for ``ram`` (every file read in, in the background) or ``disk``
        (random access advised: a rank reads its page, not the read-ahead window)."""
        advice = mmap.MADV_WILLNEED if load == "ram" else mmap.MADV_RANDOM
        for array in (*self._arrays, self.documents.metadata_bytes):
            advise(array, advice)
        return 0, True, 0

    @property
    def unigram_range(self) -> tuple[int, int]:
        """The rows of suffixes that start with a real byte: all but the separators, which sort last."""
        return 0, self.num_positions - self.num_documents

    def positions(self, lo: int, hi: int) -> np.ndarray:
        """Byte positions of rows lo..hi-1 (located through the samples), as int64."""
        return np.frombuffer(self.view.locate(lo, hi), dtype=np.int64)

    def document_slice(self, local: int, start: int, end: int) -> np.ndarray:
        """Bytes [start, end) of a document (offsets within it), extracted from the BWT."""
        base = int(self.documents.starts[local])
        return np.frombuffer(self.view.extract(base + start, base + end), dtype=np.uint8)

    def document_tokens(self, local: int) -> np.ndarray:
        """Every byte of a document."""
        return self.document_slice(local, 0, self.documents.length(local))
