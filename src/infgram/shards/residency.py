"""Where an index lives while it answers: in memory, or on disk with a small part in memory.

An index is a set of memory-mapped files, so the operating system decides which pages are
in memory. Left alone it guesses badly for an index larger than memory: a page fault reads
ahead up to the device's read-ahead window (megabytes), which on an index many times
larger than memory evicts the pages that matter to bring in pages no query will touch. So
an index is opened in one of two ways (``load``):

``ram``
    Every file is read into the page cache at open (in the background: queries may start
    at once) and searched with plain binary searches, which cost nothing extra when every
    page is resident. For indexes that fit in memory.
``disk``
    The text and the suffix array are advised random access (a fault reads one page), and
    the searches read the probes of each step at once (``c/sa_search.h``, "Searching from
    disk"): a few rounds of concurrent reads per query. The sampled suffix keys are the RAM
    tier: read whole at open, sequentially, and locked in memory where the system allows it
    (``mlock``), so that the first steps of every search never wait for the disk. The tier
    is sized by a budget (``memory``): when the keys file is larger than its share, every
    2nd, 4th, ... key is kept (a copy of that size, which each process of a server holds on
    its own, where the mapped file is shared), which costs one more step per search.
``auto`` (the default)
    ``ram`` when the index's files take at most half the memory available to the process
    (the machine's, or its control group's limit: :mod:`infgram.resources`), else ``disk``.

The default budget of the RAM tier is a quarter of the memory available to the process.
Answers are identical under every load and budget; only the number of disk reads changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import QueryError
from ..resources import available_memory_bytes, parse_size

LOADS = ("auto", "ram", "disk")
"""The ways to open an index (see the module's docstring)."""

TIER_SHARE = 4
"""The default RAM-tier budget is the available memory divided by this."""

RAM_SHARE = 2
"""``auto`` loads an index into memory when its files take at most the available memory
divided by this."""

_libc: Any = None


def _c_library() -> Any:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    return _libc


def _pages(array: np.ndarray) -> tuple[int, int] | None:
    """(page-aligned start address, length) of the pages that hold an array, or None when empty."""
    if array.size == 0:
        return None
    page = mmap.PAGESIZE
    start = array.ctypes.data
    aligned = start - start % page
    end = start + array.nbytes
    return aligned, -(-(end - aligned) // page) * page


def advise(array: np.ndarray, advice: int) -> bool:
    """``madvise`` the pages of a memory-mapped array (``mmap.MADV_RANDOM``, ``MADV_WILLNEED``, ...);
    True when the system took the advice.

    >>> advise(np.zeros(0, dtype=np.uint8), mmap.MADV_RANDOM)
    False
    """
    pages = _pages(array)
    if pages is None:
        return False
    function = _c_library().madvise
    function.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return function(ctypes.c_void_p(pages[0]), ctypes.c_size_t(pages[1]), advice) == 0


def lock(array: np.ndarray) -> bool:
    """Keep the pages of an array in memory (``mlock``); False when the system refuses (the
    process's ``RLIMIT_MEMLOCK``), in which case they stay resident only while used.

    >>> lock(np.ones(4096, dtype=np.uint8)) in (True, False), lock(np.zeros(0))
    (True, False)
    """
    pages = _pages(array)
    if pages is None:
        return False
    function = _c_library().mlock
    function.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    return function(ctypes.c_void_p(pages[0]), ctypes.c_size_t(pages[1])) == 0


def thread_read_bytes() -> int | None:
    """The bytes this thread has had read from storage so far (``read_bytes`` of
    ``/proc/thread-self/io``: page faults and read-ahead it caused, not pages it found in
    the page cache), or None where the system does not say.

    >>> value = thread_read_bytes()
    >>> value is None or value >= 0
    True
    """
    try:
        with open("/proc/thread-self/io", "rb") as source:
            for line in source:
                if line.startswith(b"read_bytes:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


@dataclass
class Residency:
    """How an index was opened: what is in memory and how queries read the rest.

    >>> Residency.plan(index_bytes=100 << 20, tier_bytes=1 << 20, load="auto", memory=None,
    ...                available_bytes=1 << 30).load
    'ram'
    >>> Residency.plan(index_bytes=100 << 20, tier_bytes=1 << 20, load="auto", memory="64M",
    ...                available_bytes=160 << 20).load
    'disk'
    """

    load: str
    """``ram`` or ``disk``: what was chosen."""
    requested: str
    """What was asked: ``auto``, ``ram`` or ``disk``."""
    available_bytes: int
    """The memory available to the process when the index was opened."""
    index_bytes: int
    """The bytes of the index's files."""
    tier_budget_bytes: int
    """The budget of the RAM tier (the sampled suffix keys) under ``disk``."""
    tier_bytes: int = 0
    """What the RAM tier holds (filled in as shards take their part)."""
    tier_locked: bool = True
    """Whether every shard's tier is locked in memory (``mlock``)."""
    key_steps: list[int] = field(default_factory=list)
    """The sampling step of the keys in memory, per shard (1 key per ``step`` suffixes)."""

    @classmethod
    def plan(cls, index_bytes: int, tier_bytes: int, load: str = "auto", memory: str | int | None = None,
             available_bytes: int | None = None) -> "Residency":
        """Choose ``ram`` or ``disk`` and the RAM tier's budget (see the module's docstring)."""
        if load not in LOADS:
            raise QueryError(f"expected load to be one of {', '.join(LOADS)}, found {str(load)!r:.40}; "
                             "auto chooses by the index's size against the memory available")
        available = available_memory_bytes() if available_bytes is None else available_bytes
        budget = parse_size(memory, "query memory budget")
        if budget is not None and budget < 0:
            raise QueryError(f"expected a query memory budget of 0 or more bytes, found {budget}")
        if budget is None:
            budget = available // TIER_SHARE
        chosen = load if load != "auto" else ("ram" if index_bytes <= available // RAM_SHARE else "disk")
        return cls(load=chosen, requested=load, available_bytes=available, index_bytes=index_bytes,
                   tier_budget_bytes=budget)

    def describe(self) -> dict[str, Any]:
        """What ``info()`` shows."""
        what = {"load": self.load, "requested": self.requested, "index_bytes": self.index_bytes,
                "available_memory_bytes": self.available_bytes}
        if self.load == "disk":
            what.update({
                "tier_bytes": self.tier_bytes, "tier_budget_bytes": self.tier_budget_bytes,
                "tier_locked": self.tier_locked, "key_steps": sorted(set(self.key_steps)),
                "in_memory": "the sampled suffix keys and the document table; the text, the suffix array and "
                             "the metadata are read from disk as queries need them",
                "reads_per_query": "count: at most 3 rounds of concurrent page reads (a suffix-array page, "
                                   "then two of at most 10 text pages per end of the run, fewer where the text "
                                   "is in memory) once the keys place both ends; "
                                   "one more round per 8-fold narrowing where a query's first 8 bytes tie "
                                   "with many keys; documents: one read per document",
            })
        else:
            what["in_memory"] = "every file (read into the page cache at open)"
        return what
