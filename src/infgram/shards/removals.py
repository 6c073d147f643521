"""The documents taken down from a shard, and how a query leaves them out.

``infgram remove`` never rewrites a shard: it lists the removed documents (shard-local
numbers) and the suffix-array rows of all their token positions, both sorted, in two small
files (see :mod:`infgram.format`). A query then works on the shard as built and subtracts:

- **a run's live count** is its length minus the removed rows inside it: two binary
  searches in the sorted rows, so a count stays O(log n) however much was removed;
- **a next-token distribution** is cut into its sub-runs (one per distinct next token, in
  row order, so their bounds are the running sums of their counts), and each sub-run loses
  its removed rows the same way;
- **the ∞-gram** backs off to the longest suffix whose *live* count is positive: live
  counts shrink as a suffix grows (every occurrence of a longer suffix holds one of the
  shorter), so it is found by binary search on the suffix length;
- **positions** (documents, search, attribution) are dropped when they fall in a removed
  document.

Measured against subtracting a second index of the removed documents (infini-gram's
"diff" engine): the rows cost 8 bytes per removed token and need one scan of the shard's
suffix array to find, but the subtraction is two binary searches in memory instead of a
second suffix-array search per query (see BENCHMARKS.md, "Indexes that change").
``infgram compact`` rewrites a shard without its removed documents; their numbers then
stay as empty placeholders, still listed here, so ``document(n)`` keeps refusing them.
"""

from __future__ import annotations

from bisect import bisect_left
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import IndexFormatError
from ..format import KIND_REMOVED_DOCUMENTS, KIND_REMOVED_ROWS, check_payload_sha256, open_payload
from .documents import checked_header

_EMPTY = np.zeros(0, dtype=np.int64)


class Removals:
    """The removed documents of one shard and the rows of their tokens (none by default).

    >>> removals = Removals()
    >>> removals.live(3, 10), removals.is_empty
    (7, True)
    >>> removals = Removals(np.array([1]), np.array([4, 5, 12]), 2)
    >>> removals.live(3, 10), removals.live_many(np.array([[0, 5], [5, 13]])).tolist()
    (5, [4, 6])
    """

    def __init__(self, documents: np.ndarray = _EMPTY, rows: np.ndarray | None = None, num_tokens: int = 0):
        self.documents = documents
        """Shard-local numbers of the removed documents, sorted."""
        self.rows = rows if rows is not None and len(rows) else None
        """Sorted suffix-array rows of the removed documents' positions; None when no row is removed."""
        # bisect on a memoryview reads Python ints straight from the map: a few times cheaper
        # per lookup than numpy's searchsorted with a scalar, and a count makes two.
        self._row_view = None if self.rows is None else \
            memoryview(np.ascontiguousarray(self.rows, dtype=np.int64)).cast("B").cast("q")
        self.num_tokens = num_tokens
        """Tokens of the removed documents that the shard's files still hold (0 once compacted)."""

    @property
    def is_empty(self) -> bool:
        """Whether nothing is removed from the shard."""
        return not len(self.documents)

    def live(self, lo: int, hi: int) -> int:
        """The rows in [lo, hi) that are not removed."""
        rows = self._row_view
        if rows is None or hi <= lo:
            return max(hi - lo, 0)
        # rows is sorted: the removed rows inside [lo, hi) are one slice of it.
        return hi - lo - (bisect_left(rows, hi) - bisect_left(rows, lo))

    def live_many(self, runs: np.ndarray) -> np.ndarray:
        """:meth:`live` of many runs, an (n, 2) array of [lo, hi), as int64."""
        sizes = runs[:, 1] - runs[:, 0]
        if self.rows is None:
            return sizes
        return sizes - (np.searchsorted(self.rows, runs[:, 1]) - np.searchsorted(self.rows, runs[:, 0]))

    def removed_of(self, documents: np.ndarray) -> np.ndarray:
        """For each shard-local document number, whether it is removed."""
        if self.is_empty:
            return np.zeros(len(documents), dtype=bool)
        at = np.searchsorted(self.documents, documents)
        return self.documents[np.minimum(at, len(self.documents) - 1)] == documents

    def is_removed(self, local: int) -> bool:
        """Whether one shard-local document is removed."""
        return bool(self.removed_of(np.array([local], dtype=np.int64))[0])


def read_removals(files: dict[str, Path], entry: dict[str, Any], token_width: int, num_documents: int,
                  num_positions: int) -> Removals:
    """The removals a shard's manifest entry lists (its ``removed_documents`` and
    ``removed_rows`` files), checked against the shard; none when it lists none."""
    if "removed_documents" not in files:
        if entry.get("num_removed_documents") or entry.get("num_removed_tokens"):
            raise IndexFormatError("the manifest counts removed documents in a shard but names no removed_documents "
                                   "file for them; the manifest is damaged: rebuild the index")
        return Removals()
    path = documents_path = files["removed_documents"]
    header = checked_header(path, KIND_REMOVED_DOCUMENTS, token_width, 0, None)
    payload = open_payload(path, header, np.dtype("<u8"))
    documents = np.asarray(payload).astype(np.int64)
    if len(documents) and (documents[0] < 0 or documents[-1] >= num_documents or np.any(np.diff(documents) <= 0)):
        raise IndexFormatError(f"{path} holds document numbers that are not increasing shard-local numbers below "
                               f"{num_documents}; the file is damaged: run `infgram verify` and rebuild the index")
    # A damaged number or row that keeps the order would silently bring a removed document
    # back, or hide a live one: the lists are read whole, so their checksums are verified here.
    check_payload_sha256(path, payload, entry["files"]["removed_documents"])
    rows = None
    if "removed_rows" in files:
        path = files["removed_rows"]
        header = checked_header(path, KIND_REMOVED_ROWS, token_width, 0, None)
        rows = open_payload(path, header, np.dtype("<u8")).view(np.int64)
        if len(rows) and (rows[0] < 0 or rows[-1] >= num_positions):
            raise IndexFormatError(f"{path} holds rows outside the shard's {num_positions} rows; the file is damaged: "
                                   "run `infgram verify` and rebuild the index")
        check_payload_sha256(path, rows, entry["files"]["removed_rows"])
    try:
        num_tokens = int(entry.get("num_removed_tokens", 0))
    except (TypeError, ValueError):
        raise IndexFormatError("the manifest's count of removed tokens is not a number; rebuild the index") from None
    # The manifest's counts must agree with the lists it names: a list whose key was damaged
    # would otherwise be skipped, and removed documents would come back without an error.
    if num_tokens > 0 and rows is None:
        raise IndexFormatError(f"the manifest lists {num_tokens:,} removed tokens in a shard but no removed_rows file "
                               "for them; the manifest is damaged: rebuild the index")
    listed = entry.get("num_removed_documents")
    if listed is not None and listed != len(documents):
        raise IndexFormatError(f"the manifest lists {listed!r:.40} removed documents in a shard, but {documents_path.name} "
                               f"holds {len(documents):,}; the manifest is damaged: rebuild the index")
    return Removals(documents, rows, num_tokens)
