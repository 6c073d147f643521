"""The shards of one or several index directories, answering as one index.

A :class:`ShardSet` fans an operation out to its shards and hands the partial answers to
a reducer (see :mod:`infgram.query.partials`): that is the only way answers combine,
whether the shards are in this process (threads, here) or elsewhere. It also numbers
documents globally: shard i's documents follow those of shards 0..i-1, across directories
in the order they were given.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import QueryError
from ..resources import available_cpus
from ..shards import Shard
from .partials import document_lengths, removed_documents

_thread_pool: ThreadPoolExecutor | None = None


def executor() -> ThreadPoolExecutor:
    """The process's thread pool for fan-out (one thread per core it may use, see
    :func:`available_cpus`; compiled searches drop the GIL)."""
    global _thread_pool
    if _thread_pool is None:
        _thread_pool = ThreadPoolExecutor(max_workers=available_cpus(), thread_name_prefix="infgram")
    return _thread_pool


_disk_pool: ThreadPoolExecutor | None = None
_DISK_THREAD_PREFIX = "infgram-disk"
DISK_THREADS = 32
"""Threads that wait for the disk on behalf of the shards of an index read from disk: a shard
waiting for its pages takes no core, so more threads than cores let the shards' reads
overlap (the disk answers many reads at once about as fast as one)."""


def disk_executor() -> ThreadPoolExecutor:
    """The process's thread pool for shards read from disk (see :data:`DISK_THREADS`)."""
    global _disk_pool
    if _disk_pool is None:
        _disk_pool = ThreadPoolExecutor(max_workers=DISK_THREADS, thread_name_prefix=_DISK_THREAD_PREFIX)
    return _disk_pool


class ShardSet:
    """Shards answering as one index, with global document numbers."""

    read_in_parallel = False
    """Whether :meth:`map` asks every shard at once, on threads (set for an index of several
    shards read from disk, whose shards then wait for their reads together)."""

    def __init__(self, shards: Sequence[Shard]):
        self.shards = list(shards)
        sizes = np.array([shard.num_documents for shard in self.shards], dtype=np.int64)
        self.first_documents = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
        """The global number of each shard's first document."""
        self.num_documents = int(sizes.sum())
        """Document numbers in use, removed ones included (they stay gaps)."""
        self.num_tokens = sum(shard.num_tokens - shard.removals.num_tokens for shard in self.shards)
        """Tokens of the documents not removed."""
        self.locate_costs = [shard.locate_cost for shard in self.shards]
        """Work units per occurrence located, by shard (see :mod:`infgram.query.budget`)."""
        self._lengths: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.shards)

    def map(self, partial: Callable[..., Any], *arguments: Any) -> list[Any]:
        """``partial(shard, *arguments)`` on every shard, in shard order."""
        if self.read_in_parallel and len(self.shards) > 1 and \
                not threading.current_thread().name.startswith(_DISK_THREAD_PREFIX):
            return list(disk_executor().map(lambda shard: partial(shard, *arguments), self.shards))
        return [partial(shard, *arguments) for shard in self.shards]

    def map_parallel(self, calls: Sequence[tuple[int, Callable[..., Any], tuple]]) -> list[Any]:
        """Run ``(shard number, partial, arguments)`` calls on the thread pool, in order."""
        if len(calls) < 2:
            return [partial(self.shards[number], *arguments) for number, partial, arguments in calls]
        return list(executor().map(lambda call: call[1](self.shards[call[0]], *call[2]), calls))

    def call(self, number: int, partial: Callable[..., Any], *arguments: Any) -> Any:
        """``partial(shard, *arguments)`` on shard ``number`` alone."""
        return partial(self.shards[number], *arguments)

    def locate_document(self, number: Any) -> tuple[int, int]:
        """(shard number, local number) of a global document number."""
        if not isinstance(number, (int, np.integer)) or isinstance(number, bool) or \
                not 0 <= number < self.num_documents:
            raise QueryError(f"expected a document number from 0 to {self.num_documents - 1}, found {number!r:.80}")
        shard_number = int(np.searchsorted(self.first_documents, number, side="right")) - 1
        return shard_number, int(number) - int(self.first_documents[shard_number])

    def split_by_shard(self, numbers: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """Sorted global document numbers, as (shard number, sorted local numbers) per shard holding some."""
        bounds = np.searchsorted(numbers, np.append(self.first_documents, self.num_documents))
        return [(shard_number, numbers[lo:hi] - self.first_documents[shard_number])
                for shard_number, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])) if hi > lo]

    def removed_documents(self) -> np.ndarray:
        """The global numbers of the removed documents, sorted."""
        return np.concatenate([np.zeros(0, dtype=np.int64)] + [
            local + first for local, first in zip(self.map(removed_documents), self.first_documents.tolist())])

    def document_lengths(self) -> np.ndarray:
        """The length in tokens of every document, by global number (computed once)."""
        if self._lengths is None:
            self._lengths = np.concatenate(self.map(document_lengths))
        return self._lengths
