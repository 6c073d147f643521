"""Damaged indexes never crash or hang: every file of a small suffix-array index and a small
FM-index is truncated, overwritten a 4 KiB page at a time (0xFF, random bytes) and flipped a
byte at a time; then, in a subprocess, the index is opened and queried through the public
API. Each query must answer or raise a named ``infgram.InfgramError`` subclass; a signal or
a timeout fails the test. ``verify`` must refuse every damage that changed a file's bytes.

The damaged copies are checked in one subprocess per batch (restarted after a crash), so
the default run stays short; ``@pytest.mark.large`` runs many more damages."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import infgram

PAGE = 4096
SECONDS_PER_INDEX = 20

# Each damaged copy is opened and queried by this program; it prints a JSON line per copy.
CHILD = r'''
import faulthandler, json, sys
import infgram

def outcome(call):
    try:
        call()
        return "answered"
    except infgram.InfgramError as error:
        return "error:" + type(error).__name__
    except Exception as error:  # not a named error: reported by the test
        return "unnamed:" + type(error).__name__ + ": " + str(error)[:160]

for line in sys.stdin:
    directory, kind = json.loads(line)
    print(json.dumps(["start", directory]), flush=True)
    faulthandler.dump_traceback_later(%(timeout)d, exit=True)
    results = {}
    try:
        index = infgram.Index.open(directory)
    except infgram.InfgramError as error:
        results["open"] = "error:" + type(error).__name__
        index = None
    except Exception as error:
        results["open"] = "unnamed:" + type(error).__name__ + ": " + str(error)[:160]
        index = None
    if index is not None:
        results["count"] = outcome(lambda: index.count("the c"))
        results["count_batch"] = outcome(lambda: index.count_batch(["at", "the cat", "e", "zz"]))
        results["documents"] = outcome(lambda: index.documents("at", limit=5))
        results["documents_context"] = outcome(lambda: index.documents("at", limit=5, context=8))
        results["document"] = outcome(lambda: index.document(7))
        if kind == "sa":
            results["next_tokens"] = outcome(lambda: index.next_tokens("the"))
            results["infgram_probability"] = outcome(lambda: index.infgram_probability("on the m", "a"))
            results["longest_matches"] = outcome(lambda: index.longest_matches("the cat sat on a hat"))
    try:
        infgram.Index.open(directory).verify()
        results["verify"] = "answered"
    except infgram.IndexFormatError as error:
        results["verify"] = "error:IndexFormatError"
    except Exception as error:
        results["verify"] = "unnamed:" + type(error).__name__ + ": " + str(error)[:160]
    faulthandler.cancel_dump_traceback_later()
    print(json.dumps(["done", directory, results]), flush=True)
''' % {"timeout": SECONDS_PER_INDEX}


def _documents(count: int) -> list[str]:
    rng = np.random.default_rng(5)
    words = ["the", "cat", "sat", "on", "a", "mat", "hat", "that", "at", "eats", "seven", "eels"]
    return [" ".join(rng.choice(words, size=int(rng.integers(3, 30)))) for _ in range(count)]


@pytest.fixture(scope="module")
def indexes(tmp_path_factory):
    base = tmp_path_factory.mktemp("intact")
    built = {}
    for kind in ("sa", "fm"):
        infgram.build_from_documents(_documents(400), base / kind, kind=kind, progress=False)
        built[kind] = base / kind
    return built


def _damages(size: int, rng: np.random.Generator, rounds: int) -> list[tuple[str, object]]:
    """(damage kind, parameters) for a file of `size` bytes."""
    damages: list[tuple[str, object]] = []
    for _ in range(rounds):
        damages.append(("truncate", int(rng.integers(0, size))))
        page = int(rng.integers(0, max(1, -(-size // PAGE))))
        damages.append(("page_ff", page))
        damages.append(("page_random", (page, int(rng.integers(0, 2**31)))))
        damages.append(("flip", (int(rng.integers(0, size)), int(rng.integers(0, 8)))))
    return damages


def _apply(path: Path, damage: tuple[str, object]) -> None:
    data = bytearray(path.read_bytes())
    kind, parameter = damage
    if kind == "truncate":
        data = data[: int(parameter)]
    elif kind == "page_ff":
        start = int(parameter) * PAGE
        data[start : start + PAGE] = b"\xff" * len(data[start : start + PAGE])
    elif kind == "page_random":
        page, seed = parameter
        start = page * PAGE
        length = len(data[start : start + PAGE])
        data[start : start + length] = np.random.default_rng(seed).integers(0, 256, length, dtype=np.uint8).tobytes()
    else:
        position, bit = parameter
        data[position] ^= 1 << bit
    path.write_bytes(bytes(data))


def _run_children(jobs: list[tuple[Path, str]]) -> dict[str, dict]:
    """Run the child over every damaged copy; a crash or hang ends one copy, not the batch."""
    results: dict[str, dict] = {}
    remaining = list(jobs)
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    while remaining:
        request = "".join(json.dumps([str(d), kind]) + "\n" for d, kind in remaining)
        child = subprocess.run([sys.executable, "-c", CHILD], input=request, capture_output=True, text=True, env=env,
                               timeout=SECONDS_PER_INDEX * (len(remaining) + 2))
        started = None
        for line in child.stdout.splitlines():
            message = json.loads(line)
            if message[0] == "start":
                started = message[1]
            else:
                results[message[1]] = message[2]
                started = None
        finished = len(results)
        if child.returncode == 0:
            break
        assert started is not None, f"the child failed outside a copy ({child.returncode}): {child.stderr[-2000:]}"
        what = "timeout" if "Timeout" in child.stderr else f"signal {-child.returncode}" if child.returncode < 0 \
            else f"exit {child.returncode}"
        results[started] = {"process": what, "stderr": child.stderr[-1500:]}
        remaining = [(d, kind) for d, kind in remaining if str(d) not in results]
        assert len(results) > finished - 1
    return results


def _check(indexes, tmp_path, rounds: int, seed: int) -> dict[tuple[str, str, str], set[str]]:
    rng = np.random.default_rng(seed)
    jobs, changed, labels, details = [], {}, {}, {}
    for kind, intact in indexes.items():
        for file in sorted(p for p in intact.rglob("*") if p.is_file() and p.suffix == ".bin"):
            relative = file.relative_to(intact)
            for number, damage in enumerate(_damages(file.stat().st_size, rng, rounds)):
                copy = tmp_path / f"{kind}-{relative.name}-{number}"
                shutil.copytree(intact, copy)
                before = (copy / relative).read_bytes()
                _apply(copy / relative, damage)
                changed[str(copy)] = (copy / relative).read_bytes() != before
                labels[str(copy)] = (kind, relative.name, damage[0])
                details[str(copy)] = damage
                jobs.append((copy, kind))
    results = _run_children(jobs)
    table: dict[tuple[str, str, str], set[str]] = {}
    problems = []
    for directory, outcome in results.items():
        label = labels[directory]
        if "process" in outcome:
            problems.append(f"{label}: {outcome['process']} in {directory}\n{outcome['stderr']}")
            continue
        for operation, result in outcome.items():
            table.setdefault(label, set()).add(":".join(result.split(":")[:2]))
            if result.startswith("unnamed:"):
                problems.append(f"{label} {operation}: {result}")
        if changed[directory] and outcome["verify"] != "error:IndexFormatError":
            problems.append(f"{label}: verify did not refuse a damaged file ({outcome['verify']}; damage {details[directory]})")
    _report(table)
    assert not problems, "\n".join(problems)
    return table


def _report(table) -> None:
    lines = [f"{kind:3} {file:18} {damage:12} {', '.join(sorted(outcomes))}" for (kind, file, damage), outcomes
             in sorted(table.items())]
    print("\n".join(lines))


def test_damaged_indexes_never_crash_or_hang(indexes, tmp_path):
    _check(indexes, tmp_path, rounds=10, seed=1)


@pytest.mark.large
def test_many_damaged_indexes_never_crash_or_hang(indexes, tmp_path):
    _check(indexes, tmp_path, rounds=25, seed=2)
