"""What this process may use: memory, read from the machine and from the control group it runs in.

A container or a memory cgroup (``systemd-run -p MemoryMax=``, a Kubernetes limit, a
benchmark's cap) gives a process less memory than the machine has, and the page cache that
holds an index's files counts against that limit too. The limit that applies is that of the
process's own group and of every group above it, whichever is smallest: cgroup v2 writes it
in ``memory.max`` along the group's path under ``/sys/fs/cgroup``, cgroup v1 in
``memory.limit_in_bytes`` along its path under ``/sys/fs/cgroup/memory`` (the path is the
process's line in ``/proc/self/cgroup``). A value of ``max`` (v2) or a number near 2**63
(v1) means no limit.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

from .errors import QueryError

_NO_LIMIT = 1 << 62
"""cgroup v1 writes "no limit" as the largest page-aligned 64-bit number; anything above
this is taken for it."""


def parse_size(text: str | int | None, what: str = "memory size", error: type[Exception] = QueryError) -> int | None:
    """Bytes from a size such as ``"8G"``, ``"512M"``, ``"64MiB"`` or ``"1000000"``; ``error``
    (an :mod:`infgram.errors` class) when it is none of these.

    >>> parse_size("1.5G"), parse_size("64M"), parse_size(4096), parse_size(None)
    (1610612736, 67108864, 4096, None)
    """
    if text is None or isinstance(text, int):
        return text
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmMgGtT]?)i?[bB]?\s*", str(text))
    if not match:
        raise error(f"cannot read the {what} {str(text)!r:.40}: expected a number with an optional K, M, G or T "
                    "suffix, e.g. 64M")
    scale = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}[match.group(2).lower()]
    return int(float(match.group(1)) * scale)


def physical_memory_bytes() -> int:
    """The machine's memory (not what is free now, which changes from moment to moment)."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _read_limit(path: Path) -> int | None:
    """The number a one-number file holds (a cgroup limit, a ``/proc/sys/vm`` setting), or None
    where it is unreadable, not a number (cgroup v2's "max") or cgroup v1's "no limit"."""
    try:
        text = path.read_text().strip()
    except (OSError, ValueError):
        return None
    if not text.isdigit():
        return None  # "max", or unreadable: no limit here
    value = int(text)
    return value if value < _NO_LIMIT else None


def process_memory_limit(root: Path = Path("/sys/fs/cgroup"), cgroup_file: Path = Path("/proc/self/cgroup")) -> int | None:
    """The smallest memory limit of this process's control group and the groups above it
    (cgroup v2 and v1), or None when there is none.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "memory" / "bench").mkdir(parents=True)
    >>> _ = (root / "memory" / "bench" / "memory.limit_in_bytes").write_text("167772160")
    >>> _ = (root / "cgroup").write_text("4:memory:/bench\\n0::/\\n")
    >>> process_memory_limit(root, root / "cgroup")
    167772160
    """
    try:
        lines = cgroup_file.read_text().splitlines()
    except OSError:
        lines = []
    limits: list[int] = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, group = parts
        if controllers == "":
            base = root if not (root / "unified").is_dir() else root / "unified"
            name = "memory.max"
        elif "memory" in controllers.split(","):
            base, name = root / "memory", "memory.limit_in_bytes"
        else:
            continue
        folder = base / group.lstrip("/")
        # The group and every group above it, up to the root of the hierarchy.
        while True:
            limit = _read_limit(folder / name)
            if limit is not None:
                limits.append(limit)
            if folder == base or base not in folder.parents:
                break
            folder = folder.parent
    return min(limits) if limits else None


def available_memory_bytes() -> int:
    """The memory this process may use: the machine's, or its control groups' limit when
    that is smaller (page cache included, as the kernel counts it).

    >>> available_memory_bytes() <= physical_memory_bytes()
    True
    """
    limit = process_memory_limit()
    physical = physical_memory_bytes()
    return physical if limit is None else min(physical, limit)


def background_writeback_bytes(proc_vm: Path = Path("/proc/sys/vm")) -> int:
    """How many bytes of written-but-unsaved (dirty) file pages the kernel lets pile up
    before it starts writing them to disk in the background: ``dirty_background_bytes``, or
    ``dirty_background_ratio`` percent of :func:`available_memory_bytes` (the kernel's
    defaults: 0 and 10). A file filled in place through a memory map (see
    ``AtomicFileWriter.map_payload``) stays below it, so that the kernel neither writes its
    pages out while they keep changing nor slows the writer down.

    >>> 0 < background_writeback_bytes() <= available_memory_bytes()
    True
    """
    fixed = _read_limit(proc_vm / "dirty_background_bytes") or 0  # unreadable: the kernel's default
    if fixed > 0:
        return min(fixed, available_memory_bytes())
    ratio = _read_limit(proc_vm / "dirty_background_ratio")
    ratio = 10 if ratio is None else min(ratio, 100)
    return max(1, available_memory_bytes() * ratio // 100)


@functools.lru_cache(maxsize=8)
def available_cpus(root: Path = Path("/sys/fs/cgroup")) -> int:
    """The cores this process may use: the machine's, fewer when its affinity mask or its
    container's CPU quota (cgroup v2 ``cpu.max``, else cgroup v1 ``cpu.cfs_quota_us`` over
    ``cpu.cfs_period_us``, rounded up) allows fewer; at least 1. The default thread counts
    of queries and of the server (the memory limit is read the same way, see
    :func:`process_memory_limit`).

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = (root / "cpu.max").write_text("150000 100000")
    >>> available_cpus(root) <= 2
    True
    """
    cpus = os.cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        cpus = min(cpus, len(os.sched_getaffinity(0)) or cpus)
    quota = _cgroup_cpu_quota(root)
    return max(1, min(cpus, quota) if quota is not None else cpus)


def _cgroup_cpu_quota(root: Path) -> int | None:
    """The CPU quota of the container in whole cores (rounded up), or None when there is
    none or it cannot be read."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else -(-int(quota) // max(int(period), 1))
    except (OSError, ValueError):
        pass
    for folder in ("cpu", "cpu,cpuacct", "."):
        try:
            quota_us = int((root / folder / "cpu.cfs_quota_us").read_text())
            period_us = int((root / folder / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            continue
        return None if quota_us <= 0 else -(-quota_us // max(period_us, 1))
    return None
