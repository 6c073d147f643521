"""Readers of one shard each, one class per index kind, all with the same locator methods.

A shard is a complete index of a run of whole documents. Whatever its kind, it offers:

- ``find(query: bytes, lo=0, hi=-1) -> (lo, hi)``: the run of sorted suffixes (rows) that
  start with a query of big-endian token bytes, optionally within a known run;
- ``find_many(data: bytes, offsets: bytes) -> bytes``: the runs of many queries at once
  (int64 pairs);
- ``positions(lo, hi) -> int64 array``: the token positions of rows lo..hi-1;
- ``unigram_range``: the rows of every real token (the separators sort last);
- ``document_slice(local, start, end)`` and ``document_tokens(local)``: a document's tokens;
- ``documents``: the :class:`~infgram.shards.documents.DocumentTable` (starts, metadata);
- ``removals``: the :class:`~infgram.shards.removals.Removals` (documents taken down, and
  the suffix-array rows of their tokens, which every answer leaves out);
- ``operations``: the names of the query operations the kind can answer;
- ``locate_cost``: the work units of locating one occurrence (see :mod:`infgram.query.budget`);
- ``name``, ``num_documents``, ``num_tokens``, ``num_positions``, ``first_document``,
  ``token_width``.

A suffix-array shard adds the searches that read the tokens after a match
(``view.next_tokens``, ``view.longest_suffix``, ``view.longest_matches``,
``view.infgram_probabilities``) and :meth:`SAShard.neighbours_share_prefix`. These are the
named doors for tools above the query layer: nothing there touches a private name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..format.kinds import index_kind, register_reader
from .fm import FM_OPERATIONS, FMShard
from .official import OFFICIAL_KIND, OFFICIAL_OPERATIONS, OfficialShard
from .sa import SA_OPERATIONS, SAShard

# Each kind's reader and operations, in the registry of index kinds (see infgram.format.kinds);
# an official infini-gram index (opened in place, never through a manifest of ours: see
# infgram.shards.official) answers what a suffix array does.
register_reader("sa", SAShard, SA_OPERATIONS)
register_reader("fm", FMShard, FM_OPERATIONS)
register_reader(OFFICIAL_KIND, OfficialShard.from_entry, OFFICIAL_OPERATIONS)

SHARD_KINDS: dict[str, Any] = {name: index_kind(name).reader for name in ("sa", "fm", OFFICIAL_KIND)}
"""The shard reader of each index kind, by its name in the manifest (from the registry)."""

OPERATIONS_OF_KIND = {name: index_kind(name).operations for name in ("sa", "fm", OFFICIAL_KIND)}
"""What each index kind answers (from the registry)."""

Shard = SAShard | FMShard | OfficialShard


def open_shard(kind: str, directory: Path, entry: dict[str, Any], token_width: int,
               settings: dict[str, Any] | None = None) -> Shard:
    """Open one shard of an index of the given kind (``settings``: the kind's manifest
    section, e.g. the FM sampling rates)."""
    reader = index_kind(kind).reader
    assert reader is not None, f"every kind registers its reader above; {kind} did not"
    return reader(directory, entry, token_width, settings)


__all__ = ["SAShard", "FMShard", "OfficialShard", "Shard", "open_shard", "SHARD_KINDS", "OPERATIONS_OF_KIND"]
