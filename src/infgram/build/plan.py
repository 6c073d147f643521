"""The memory plan of a build: how many token positions one shard may hold under a budget.

A shard is sorted in memory, so its size is set by what its sort holds at once: the tokens
and the sorter's output (see each function). The budget is fixed per build (``--memory``,
default half the machine's memory, or of the container's limit when that is smaller) and
recorded in the build's state, so a rerun finds the same shard layout, which resuming relies
on. The manifest records only the options the user gave (``shard_tokens``, ``memory_bytes``)
and the shards as built, never the default budget: an index's bytes do not depend on the
machine's memory. ``add`` and ``compact`` size new shards by the user's options, else the
build's recorded ones, else :func:`default_shard_tokens`, which is the same on every machine.

Part of the budget is kept back for the process itself (:func:`reserve_bytes`): the
interpreter, numpy and the tokenizer, measured at 41 MB in byte mode, 61 MB with the sp32k
tokenizer and 132 MB with llama3's (peak RSS after loading them), plus the batch of
documents being read. A budget below that floor cannot be met: the build says so
(:func:`budget_warning`) and goes on.

Two shards are in memory at once. The build is pipelined (``pipeline.py``): while one shard
is sorted and written in a background thread, the next one is read and tokenized into a
second buffer. So a shard is cut when the shard *and one more like it being filled* would
pass the budget (:func:`shard_fits_budget`): what sorting it holds (:func:`sort_bytes`) plus
what filling it held (:func:`fill_bytes`). Shards are therefore smaller than one shard alone
could be (5 + 1 bytes per byte of text instead of 5), and the cut points depend only on the
documents, never on timing, so a rerun finds the same shards. When the shard being filled
holds more than the one being sorted left room for (more metadata, say), the reader waits
for the sort to finish instead of passing the budget (:func:`fits_beside`).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from ..errors import BuildError
from ..format.kinds import index_kind, register_planner
from ..resources import parse_size, physical_memory_bytes, process_memory_limit

INT32_LIMIT = 2**31 - 1
"""Suffix arrays of shards up to this many positions are sorted with 32-bit indices."""


def parse_memory(text: str | int | None) -> int | None:
    """Bytes from a size such as ``"8G"``, ``"512M"`` or ``"1000000"`` (:func:`infgram.resources.parse_size`,
    a :class:`~infgram.errors.BuildError` when it cannot be read).

    >>> parse_memory("1.5G"), parse_memory("512M"), parse_memory(4096)
    (1610612736, 536870912, 4096)
    """
    return parse_size(text, "memory size", BuildError)


def cgroup_memory_limit(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """The memory limit of this process's control groups (cgroup v2 ``memory.max``, else v1
    ``memory/memory.limit_in_bytes``, along the process's path and above it), or None when
    there is none: :func:`infgram.resources.process_memory_limit`."""
    return process_memory_limit(root)


def default_memory_budget() -> int:
    """Half of the machine's memory, or of the container's limit when that is smaller. It
    must not depend on what happens to be free at the moment: the budget decides the shard
    layout, and rerunning a build must find the same layout to resume or to be up to date.
    On a busy machine pass ``--memory``."""
    limit = cgroup_memory_limit()
    physical = physical_memory_bytes()
    return (physical if limit is None else min(physical, limit)) // 2


CHANGE_MEMORY_BYTES = 2 << 30
"""The budget that sizes the shards ``add`` and ``compact`` write when neither the user nor the
build gave a shard size or a budget (see :func:`default_shard_tokens`): a constant, not a share
of the machine, so that the same change writes the same bytes on any machine."""


def default_shard_tokens(token_width: int, kind: str = "sa") -> int:
    """The shard size (positions) of ``add`` and ``compact`` when none is given: the largest
    shard that :data:`CHANGE_MEMORY_BYTES` lets the pipelined build hold (one shard sorted, the
    next one filled), for this token width and index kind. It depends on nothing else.

    >>> default_shard_tokens(1), default_shard_tokens(2), default_shard_tokens(1, "fm")
    (335544303, 251658227, 201326582)
    """
    return pipelined_positions(CHANGE_MEMORY_BYTES, positions_for_budget(kind, CHANGE_MEMORY_BYTES, token_width))


PROCESS_RESERVE = 128 << 20
"""What a budget keeps back for the process itself when it can (see the module's docstring):
the measured floor in byte mode (41 MB) or with a small tokenizer (sp32k: 61 MB) plus the
batch being read (up to 8 MB of text and its tokens, and the parsed records), with room
for a Python that has loaded more (a test runner: 73 MB)."""
READ_ALLOWANCE = 24 << 20
"""The batch of documents in flight while a shard is sorted, on top of what the process holds
when the build starts: the other part of the floor that :func:`budget_warning` checks."""


def reserve_bytes(memory_bytes: int) -> int:
    """The part of a memory budget left to the interpreter, its libraries and the batch being
    read, not planned for shard data: :data:`PROCESS_RESERVE` (at most half the budget),
    growing to 1/16 of the budget up to 256 MiB for large budgets (the tokenizer's own
    memory grows with the batches it encodes).

    >>> [reserve_bytes(m << 20) >> 20 for m in (64, 200, 1024, 4096, 8192)]
    [32, 100, 128, 256, 256]
    """
    return max(min(256 << 20, memory_bytes // 16), min(PROCESS_RESERVE, memory_bytes // 2))


def resident_bytes() -> int:
    """This process's resident memory now (Linux; else its peak so far)."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


TOKENIZER_ALLOWANCE = 96 << 20
"""What a Hugging Face tokenizer holds while it encodes batches (measured: about 90 MB with
sp32k on wiki + prose), kept until the sort: part of the floor of a tokenized build."""


def budget_warning(memory_bytes: int, tokenizer_kind: str = "bytes") -> str | None:
    """Why a build cannot stay within ``memory_bytes``, or None when it can: the floor (what
    the process holds now, measured, plus :data:`READ_ALLOWANCE`, plus
    :data:`TOKENIZER_ALLOWANCE` for a Hugging Face tokenizer) is more than the budget keeps
    back for it.

    >>> "before any data" in budget_warning(1 << 20)   # 1 MiB keeps back less than any interpreter takes
    True
    """
    floor = resident_bytes() + READ_ALLOWANCE + (TOKENIZER_ALLOWANCE if tokenizer_kind == "huggingface" else 0)
    reserve = reserve_bytes(memory_bytes)
    if floor <= reserve:
        return None
    # The smallest budget that keeps back the floor (reserve_bytes grows in two steps).
    enough = 2 * floor if floor <= PROCESS_RESERVE else 16 * floor if floor <= (256 << 20) else None
    return (f"a memory budget of {_size(memory_bytes)} cannot be kept: the interpreter and its libraries take "
            f"{_size(floor)} before any data (measured now, with {_size(READ_ALLOWANCE)} for the batch being read), "
            f"and the budget leaves {_size(reserve)} for them, so the build will use about {_size(floor - reserve)} "
            "more than asked" + (f"; pass --memory {-(-enough // 2**20):,}M or more to stay within it" if enough else ""))


def _size(count: int) -> str:
    return f"{count / 2**20:,.0f} MiB" if count >= 2**20 else f"{count:,} bytes"


def shard_positions_for_budget(memory_bytes: int, token_width: int) -> int:
    """The most token positions (separators included) one shard may hold under a budget.

    Sorting a shard of P positions holds the tokens (P * width bytes) and the sorter's
    output: SA-IS's 4 bytes per token (bytes included) while there are under 2**31 (else 8).

    >>> shard_positions_for_budget(10 * 2**20, 1), shard_positions_for_budget(12 * 2**20, 2)
    (2097152, 2097152)
    """
    with_int32 = min(memory_bytes // (token_width + 4), INT32_LIMIT)
    with_int64 = memory_bytes // (token_width + 8)
    positions = max(with_int32, with_int64)
    if positions < 2:
        raise BuildError(f"a memory budget of {memory_bytes} bytes is too small to index anything; raise --memory")
    return positions


def fm_shard_positions_for_budget(memory_bytes: int, token_width: int = 1) -> int:
    """The most bytes (separators included) one FM shard may hold under a memory budget.

    Building a shard holds its bytes, the SA-IS suffix array (4 bytes per byte under
    2 GiB, else 8), the BWT, and the wavelet tree's bits before compression (~0.7 bytes).

    >>> fm_shard_positions_for_budget(7 * 2**20)
    1048576
    """
    with_int32 = min(memory_bytes // 7, INT32_LIMIT)
    with_int64 = memory_bytes // 11
    positions = max(with_int32, with_int64)
    if positions < 2:
        raise BuildError(f"a memory budget of {memory_bytes} bytes is too small to index anything; raise --memory")
    return positions


register_planner("sa", shard_positions_for_budget)
register_planner("fm", fm_shard_positions_for_budget)


def positions_for_budget(kind: str, memory_bytes: int, token_width: int) -> int:
    """The most positions one shard of an index of ``kind`` may hold under a memory budget:
    the kind's planner, from the registry of index kinds.

    >>> positions_for_budget("sa", 10 * 2**20, 1), positions_for_budget("fm", 7 * 2**20, 1)
    (2097152, 1048576)
    """
    planner = index_kind(kind).planner
    if planner is None:
        raise BuildError(f"infgram does not build {index_kind(kind).title}")
    return planner(memory_bytes, token_width)


RECORD_BYTES = 16
"""Per document: its start and metadata offset while buffered (8 + 8 bytes), and its record
in ``documents.bin`` (16 bytes) while the shard is written."""


def sort_bytes(num_positions: int, num_documents: int, metadata_bytes: int, limit_positions: int,
               budget_bytes: int) -> int:
    """What sorting and writing a shard holds at its peak, as planned: its positions' share of
    the budget (``limit_positions`` positions take all of it: the tokens and the sorter's
    output, see :func:`shard_positions_for_budget`), its metadata, and per document its
    offsets and its ``documents.bin`` record (written while the shard sorts).

    >>> sort_bytes(1000, 10, 500, limit_positions=2000, budget_bytes=10000)
    5852
    """
    return num_positions * budget_bytes // limit_positions + metadata_bytes + 2 * RECORD_BYTES * (num_documents + 1)


def fill_bytes(num_positions: int, num_documents: int, metadata_bytes: int, token_bytes: float) -> int:
    """What a shard buffer holds while it is filled: ``token_bytes`` per position, its
    metadata and each document's offsets.

    >>> fill_bytes(1000, 10, 500, 2)
    2660
    """
    return int(num_positions * token_bytes) + metadata_bytes + RECORD_BYTES * num_documents


def shard_fits_budget(num_positions: int, num_documents: int, metadata_bytes: int, limit_positions: int,
                      budget_bytes: int) -> bool:
    """Whether a shard of this size may be cut under the budget: sorting it while one more
    shard like it is filled stays within the budget, with :func:`reserve_bytes` kept back.

    The buffer being filled holds the tokens, counted as the planned bytes per position less
    the sorter's 4-byte output: exactly the token width for a suffix array below 2**31
    positions, more than that (on the safe side) for an FM-index, whose plan also counts its
    BWT and wavelet bits, and past 2**31 positions. It is counted from the budget and the
    plan alone so that a distributed build, which replays these cuts from counts
    (``infgram.distributed.builder.plan_shards``), cuts the same shards. Integer arithmetic:
    the same answer on every machine.

    >>> budget = 1 << 30  # 128 MiB kept back: 896 MiB for 6 bytes per byte position
    >>> limit = shard_positions_for_budget(budget, 1)  # 5 bytes per position, for one shard alone
    >>> shard_fits_budget(156_000_000, 1, 0, limit, budget), shard_fits_budget(157_000_000, 1, 0, limit, budget)
    (True, False)
    """
    per_position, room = _budget_terms(budget_bytes, limit_positions)
    return num_positions * per_position <= (room - 2 * metadata_bytes - 3 * RECORD_BYTES * (num_documents + 1)) * limit_positions


@functools.lru_cache(maxsize=8)
def _budget_terms(budget_bytes: int, limit_positions: int) -> tuple[int, int]:
    """The terms of :func:`shard_fits_budget` that depend on the plan only (it runs once per
    document): bytes per position times ``limit_positions`` (budget / limit to sort, less
    4 being filled), and the budget less what is kept back."""
    return 2 * budget_bytes - 4 * limit_positions, budget_bytes - reserve_bytes(budget_bytes)


def pipelined_positions(budget_bytes: int, limit_positions: int) -> int:
    """The most positions :func:`shard_fits_budget` lets a shard hold (one document, no
    metadata): what a shard buffer may grow to under the budget.

    >>> budget = 1 << 30
    >>> pipelined_positions(budget, shard_positions_for_budget(budget, 1))
    156587332
    """
    per_position, room = _budget_terms(budget_bytes, limit_positions)
    return max(0, min(limit_positions, (room - 6 * RECORD_BYTES) * limit_positions // per_position))


def fits_beside(sorting_bytes: int, num_positions: int, num_documents: int, metadata_bytes: int, token_width: int,
                budget_bytes: int) -> bool:
    """Whether a buffer being filled (its size after the next document) still fits beside a
    shard being sorted that holds ``sorting_bytes`` (:func:`sort_bytes`); when it does not,
    the reader waits for that shard to be written. Only timing depends on this, never the
    shard layout.

    >>> budget = 1 << 30  # 128 MiB kept back
    >>> fits_beside(800 << 20, 90 << 20, 10, 0, 1, budget), fits_beside(800 << 20, 100 << 20, 10, 0, 1, budget)
    (True, False)
    """
    filling = fill_bytes(num_positions, num_documents, metadata_bytes, token_width)
    return sorting_bytes + filling + reserve_bytes(budget_bytes) <= budget_bytes
