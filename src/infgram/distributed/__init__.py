"""infgram on a Ray cluster: the same index built, and the same answers given, by many machines.

::

    import infgram.distributed
    infgram.distributed.build(["data/"], "/shared/idx", address="auto", shard_tokens=4_000_000_000)
    index = infgram.distributed.open("/shared/idx", address="auto")  # an infgram.Index
    index.count("the cat"), index.infgram_probability("the cat", " sat")

- :func:`build` (``infgram build --ray ADDRESS``) reads and tokenizes the input files in
  parallel, cuts shards exactly where a local build would, and sorts each shard in a task
  of its own: the index directory is byte for byte the one ``infgram build`` writes with the
  same options (see :mod:`infgram.distributed.builder`).
- :func:`open` (``infgram batch --ray ADDRESS``) returns an :class:`~infgram.Index` whose
  shards are held by Ray actors; every query fans out to them and combines their partial
  answers with the local reducers, so it answers exactly as ``infgram.Index.open`` does
  (see :mod:`infgram.distributed.shardset`).

The index directory and the inputs must be on a filesystem that every node sees at the same
path (NFS, Lustre, a mounted bucket...). ``address`` is ``"local"`` (a cluster of this
machine for this process), ``"auto"`` (the running cluster) or a cluster's address (see
:mod:`infgram.distributed.cluster`). Ray is imported only when one of these is called, and
is an optional dependency: ``pip install "infgram[ray]"``.
"""

from __future__ import annotations

from typing import Any


def build(inputs: Any, out: Any, *, address: str | None = "auto", **options: Any) -> Any:
    """Build an index on a Ray cluster; the options and the report are :func:`infgram.build`'s."""
    from .builder import build as build_on_cluster

    return build_on_cluster(inputs, out, address=address, **options)


def open(location: Any, address: str | None = "auto", **options: Any) -> Any:  # noqa: A001 (as Index.open)
    """Open an index (a directory, several, or ``"a,b"``) with its shards held by Ray actors;
    returns an :class:`~infgram.Index`. Options: see :func:`infgram.distributed.shardset.open_index`."""
    from .shardset import open_index

    return open_index(location, address, **options)


__all__ = ["build", "open"]
