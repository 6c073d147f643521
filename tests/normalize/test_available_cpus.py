"""The default thread counts follow the container's CPU quota, read from fake cgroup files."""

from __future__ import annotations

import os

import pytest

from infgram.resources import available_cpus

MACHINE = min(os.cpu_count() or 1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 10**6)


def cpus(root):
    available_cpus.cache_clear()
    try:
        return available_cpus(root)
    finally:
        available_cpus.cache_clear()


@pytest.mark.parametrize("files, expected", [
    ({"cpu.max": "max 100000\n"}, MACHINE),                                  # v2, no quota
    ({"cpu.max": "100000 100000\n"}, 1),                                      # v2, one core
    ({"cpu.max": "50000 100000\n"}, 1),                                       # half a core: at least one thread
    ({"cpu.max": "250000 100000\n"}, min(3, MACHINE)),                        # rounded up
    ({"cpu/cpu.cfs_quota_us": "200000\n", "cpu/cpu.cfs_period_us": "100000\n"}, min(2, MACHINE)),  # v1
    ({"cpu,cpuacct/cpu.cfs_quota_us": "-1\n", "cpu,cpuacct/cpu.cfs_period_us": "100000\n"}, MACHINE),
    ({"cpu.max": "garbage"}, MACHINE),                                        # unreadable: the machine's
    ({}, MACHINE),                                                            # no cgroup files
])
def test_the_quota_bounds_the_cores(tmp_path, files, expected):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert cpus(tmp_path) == expected


def test_server_settings_default_to_the_available_cores(monkeypatch):
    pytest.importorskip("fastapi")
    from infgram.service import server

    monkeypatch.setattr(server, "available_cpus", lambda: 3)
    settings = server.Settings(indexes=[("default", "idx")])
    assert (settings.threads, settings.expensive_threads) == (3, 1)
