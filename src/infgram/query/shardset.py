"""The shards of one or several index directories, answering as one index.

A :class:`ShardSet` fans an operation out to its shards and hands the partial answers to
a reducer (see :mod:`infgram.query.partials`): that is the only way answers combine,
whether the shards are in this process (threads, here) or elsewhere. It also numbers
documents globally: shard i's documents follow those of shards 0..i-1, across directories
in the order they were given.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import QueryError
from ..shards import Shard
from .partials import document_lengths

_thread_pool: ThreadPoolExecutor | None = None


def executor() -> ThreadPoolExecutor:
    """The process's thread pool for fan-out (one thread per core; compiled searches drop the GIL)."""
    global _thread_pool
    if _thread_pool is None:
        _thread_pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="infgram")
    return _thread_pool


class ShardSet:
    """Shards answering as one index, with global document numbers."""

    def __init__(self, shards: Sequence[Shard]):
        self.shards = list(shards)
        sizes = np.array([shard.num_documents for shard in self.shards], dtype=np.int64)
        self.first_documents = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
        """The global number of each shard's first document."""
        self.num_documents = int(sizes.sum())
        self.num_tokens = sum(shard.num_tokens for shard in self.shards)
        self.locate_costs = [shard.locate_cost for shard in self.shards]
        """Work units per occurrence located, by shard (see :mod:`infgram.query.budget`)."""
        self._lengths: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.shards)

    def map(self, partial: Callable[..., Any], *arguments: Any) -> list[Any]:
        """``partial(shard, *arguments)`` on every shard, in shard order."""
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

    def document_lengths(self) -> np.ndarray:
        """The length in tokens of every document, by global number (computed once)."""
        if self._lengths is None:
            self._lengths = np.concatenate(self.map(document_lengths))
        return self._lengths
