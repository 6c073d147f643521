"""Indexes that change: ``add`` new inputs, ``remove`` documents, ``compact`` shards.

Each change writes a new generation of the index (see :mod:`infgram.change.generations`):
readers see the old one or the new one, never half of a change; a killed change leaves
the old one openable and its rerun finishes; two changes at once are refused
(:class:`~infgram.errors.IndexLockedError`). An open :class:`~infgram.Index` keeps
answering from the generation it opened until :meth:`~infgram.Index.reload`.

- :func:`add` builds only the new shards; documents are numbered after the last one.
- :func:`remove` lists documents as removed; every answer leaves them out at once
  (:mod:`infgram.shards.removals`), with no re-sort.
- :func:`compact` rewrites shards without their removed documents and merges small ones.
"""

from .add import ChangeReport, add
from .compact import compact
from .remove import remove

__all__ = ["ChangeReport", "add", "remove", "compact"]
