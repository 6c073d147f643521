"""One shard of an FM-index, memory-mapped, with its compiled search view.

It offers what the query engine asks of a suffix-array shard (``view.find``,
``view.find_many``, ``positions``, ``document_tokens``, ``metadata``, ...), computed from
the compressed BWT instead of the text and the suffix array: ``positions`` locates rows
through the suffix-array samples and ``document_tokens`` extracts bytes by walking the LF
mapping back from the nearest inverse sample (see ``fm_build.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .. import _fm
from ..errors import IndexFormatError
from ..format import KIND_FM_SAMPLES, KIND_FM_WAVELET, open_payload
from .sa import Shard, _checked_header


class FMShard(Shard):
    """Memory-mapped FM files of one shard; positions are byte positions within the shard."""

    def __init__(self, directory: Path, entry: dict[str, Any], token_width: int):
        wavelet_path, samples_path = self._read_entry(directory, entry, ("wavelet", "samples"))
        if token_width != 1:
            raise IndexFormatError(f"an FM-index holds bytes, but its manifest says tokens of {token_width} bytes; "
                                   "rebuild the index")
        self.token_width = 1
        self.pointer_width = 0
        wavelet = open_payload(wavelet_path, _checked_header(wavelet_path, KIND_FM_WAVELET, 1, 0, None), np.uint8)
        samples = open_payload(samples_path, _checked_header(samples_path, KIND_FM_SAMPLES, 1, 0, None), np.uint8)
        self._open_documents()
        try:
            self.view = _fm.FMView(wavelet, samples)
        except ValueError as error:
            raise IndexFormatError(f"the FM files of {self.name} are damaged ({error}); rebuild the index") from None
        if self.view.num_positions != self.num_positions:
            raise IndexFormatError(f"{wavelet_path} holds {self.view.num_positions} bytes, the manifest says "
                                   f"{self.num_positions}; rebuild the index")

    def positions(self, lo: int, hi: int) -> np.ndarray:
        """Byte positions of rows lo..hi-1 (located through the samples), as int64."""
        return np.frombuffer(self.view.locate(lo, hi), dtype=np.int64)

    def document_tokens(self, local_index: int) -> np.ndarray:
        start, end = int(self.document_starts[local_index]), int(self.document_starts[local_index + 1]) - 1
        return self.document_slice(local_index, 0, end - start)

    def document_slice(self, local_index: int, start: int, end: int) -> np.ndarray:
        """Bytes [start, end) of a document (offsets within it), extracted from the BWT."""
        base = int(self.document_starts[local_index])
        return np.frombuffer(self.view.extract(base + start, base + end), dtype=np.uint8)
