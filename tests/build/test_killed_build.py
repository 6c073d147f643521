"""A build killed at any point resumes: rerunning the same command finishes it, byte for byte.

``infgram build`` runs in a subprocess and is killed (SIGKILL, nothing is cleaned up) either
by a kill point (``INFGRAM_TEST_KILL_AT``, see ``infgram.format.KILL_AT_VARIABLE``): the
N-th write into an index file, the N-th JSON file written, a shard published but not yet
recorded, the fingerprint recorded before anything else; or after a random delay. The
points and delays are drawn from a seeded generator, over every point an uninterrupted build
of the same kind passes (counted in-process first). After each kill the directory holds a
finished index or a build state, never an index that opens half-built; the rerun finishes and
every file matches an uninterrupted build's bytes. Single-shard (the default memory
budget), multi-shard (from one file and from several, where a resume skips the files read
before the last finished shard) and FM builds; the ``large`` run tries many more kills.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import infgram
import infgram.format as format_module
from infgram.build.pipeline import LEFTOVERS
from infgram.format import BUILD_STATE_NAME, KILL_AT_VARIABLE, MANIFEST_NAME, read_manifest

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma".split()

# name -> extra options of `infgram build` (the same as keyword arguments of infgram.build)
BUILDS = {
    "single": {},  # the default memory budget: one shard
    "multi": {"shard_tokens": 30_000},
    "fm": {"kind": "fm", "shard_tokens": 60_000},
    "files": {"shard_tokens": 30_000},  # the corpus in several files: a resume skips the finished ones
}
PARTS = {"files": 4}
"""The number of files the corpus of a build is cut into (1 unless named here)."""


def _corpus(path: Path, count: int = 3000, parts: int = 1) -> Path:
    """The corpus in one file, or with ``parts`` in a folder of that many files."""
    rng = random.Random(7)
    lines = [json.dumps({"text": " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))), "n": n})
             for n in range(count)]
    lines.insert(count // 2, "")  # a blank line and a bad one: the report must match too
    lines.insert(count // 3, "{not json")
    if parts == 1:
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path
    path.mkdir()
    size = -(-len(lines) // parts)
    for part in range(parts):
        (path / f"part-{part}.jsonl").write_text("\n".join(lines[part * size : (part + 1) * size]) + "\n",
                                                 encoding="utf-8")
    return path


def _command(corpus: Path, out: Path, options: dict) -> list[str]:
    command = [sys.executable, "-m", "infgram.cli", "build", str(corpus), "--out", str(out), "--quiet",
               "--on-error", "skip"]
    for key, value in options.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    return command


def _build(corpus: Path, out: Path, options: dict) -> infgram.BuildReport:
    return infgram.build([corpus], out, on_error="skip", progress=False, **options)


def _digests(directory: Path) -> dict[str, str]:
    """sha256 of every file below ``directory`` (build-report.json without timing fields)."""
    digests = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.name == "build-report.json":
            report = json.loads(data)
            for timing in ("seconds",):
                report.pop(timing, None)
            data = json.dumps(report, sort_keys=True).encode()
        digests[str(path.relative_to(directory))] = hashlib.sha256(data).hexdigest()
    return digests


def _kill_counts(corpus: Path, out: Path, options: dict, monkeypatch) -> dict[str, int]:
    """Build uninterrupted in-process, counting how often each kill point is passed."""
    monkeypatch.setattr(format_module, "_KILL_AT", "count only")
    monkeypatch.setattr(format_module, "_kill_counts", {})
    _build(corpus, out, options)
    counts = dict(format_module._kill_counts)
    monkeypatch.setattr(format_module, "_KILL_AT", "")
    assert {"state-recorded", "file-write", "json-written", "shard-published"} <= set(counts)
    return counts


def _run_killed(command: list[str], out: Path, kill_at: str | None, delay: float | None) -> int:
    """Run the build, killed at a kill point or ``delay`` seconds after it starts writing."""
    env = {**os.environ}
    env.pop(KILL_AT_VARIABLE, None)
    if kill_at:
        env[KILL_AT_VARIABLE] = kill_at
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        if delay is not None:
            deadline = time.monotonic() + 120  # a safety net only
            while not out.exists() and child.poll() is None and time.monotonic() < deadline:
                time.sleep(0.001)
            time.sleep(delay)
            if child.poll() is None:
                child.send_signal(signal.SIGKILL)
        _, stderr = child.communicate(timeout=300)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert b"Traceback" not in stderr, stderr.decode()
    assert child.returncode in (0, -signal.SIGKILL), stderr.decode()
    return child.returncode


def _assert_finished_or_resumable(out: Path) -> None:
    """What a kill leaves: nothing yet, a finished index, or a build state that marks it unfinished."""
    if not out.exists() or all(p.name in LEFTOVERS for p in out.iterdir()):
        return  # killed before (or while) recording the build's fingerprint
    if (out / MANIFEST_NAME).exists():
        read_manifest(out)
    else:
        assert (out / BUILD_STATE_NAME).exists(), sorted(p.name for p in out.iterdir())
        with pytest.raises(infgram.IncompleteIndexError):
            read_manifest(out)


def _kills(counts: dict[str, int], rng: random.Random, hooks: int, delays: int, seconds: float) -> list[tuple[str | None, float | None]]:
    """Kill points and delays drawn from ``rng``: the fingerprint's recording (before the
    first shard's first byte), then the points in turn, each at a pass not tried yet."""
    unused = {name: rng.sample(range(1, count + 1), count) for name, count in sorted(counts.items())}
    unused["state-recorded"].remove(1)
    names = rng.sample(sorted(unused), len(unused))
    chosen: list[tuple[str | None, float | None]] = [("state-recorded:1", None)]
    turn = 0
    while len(chosen) < hooks and any(unused.values()):
        name = names[turn % len(names)]
        turn += 1
        if unused[name]:
            chosen.append((f"{name}:{unused[name].pop()}", None))
    chosen += [(None, rng.uniform(0, seconds)) for _ in range(delays)]
    return chosen


def _kill_and_resume(tmp_path: Path, name: str, monkeypatch, seed: int, hooks: int, delays: int) -> list[str]:
    options = BUILDS[name]
    corpus = _corpus(tmp_path / ("corpus" if PARTS.get(name, 1) > 1 else "corpus.jsonl"), parts=PARTS.get(name, 1))
    fresh = tmp_path / "fresh"
    start = time.perf_counter()
    counts = _kill_counts(corpus, fresh, options, monkeypatch)
    seconds = time.perf_counter() - start  # only to spread the random delays over a build's length
    expected = _digests(fresh)
    fresh_report = json.loads((fresh / "build-report.json").read_text())
    assert fresh_report["num_shards"] == len(read_manifest(fresh)["shards"]) and fresh_report["input_bytes"] > 0
    outcomes = []
    for number, (kill_at, delay) in enumerate(_kills(counts, random.Random(seed), hooks, delays, seconds)):
        out = tmp_path / f"killed-{number}"
        returncode = _run_killed(_command(corpus, out, options), out, kill_at, delay)
        _assert_finished_or_resumable(out)
        report = _build(corpus, out, options)  # the same command again
        assert report.num_documents == 3000 and report.problems == {"invalid_json": 1}
        assert _digests(out) == expected, f"{name} build killed at {kill_at or f'{delay:.3f} s'}: files differ"
        outcomes.append(f"{name} {kill_at or f'after {delay:.3f} s'}: "
                        f"{'killed' if returncode else 'finished first'}, resumed, identical")
    return outcomes


@pytest.mark.parametrize("name", sorted(BUILDS))
def test_killed_build_resumes_to_identical_files(tmp_path, monkeypatch, name):
    # Kill points only: where a delay lands depends on the wall clock (the large test draws delays).
    _kill_and_resume(tmp_path, name, monkeypatch, seed=sorted(BUILDS).index(name), hooks=4, delays=0)


@pytest.mark.large
@pytest.mark.parametrize("name", sorted(BUILDS))
def test_many_kills_resume_to_identical_files(tmp_path, monkeypatch, name):
    outcomes = _kill_and_resume(tmp_path, name, monkeypatch, seed=100 + sorted(BUILDS).index(name), hooks=25, delays=15)
    print("\n".join(outcomes))


def test_killed_twice_then_resumed_by_the_same_command(tmp_path, monkeypatch):
    """Two kills in a row on one directory (the second during the resumed run), then the
    same command finishes; run once more, it says the index is up to date."""
    options = BUILDS["multi"]
    corpus = _corpus(tmp_path / "corpus.jsonl")
    fresh = tmp_path / "fresh"
    _build(corpus, fresh, options)
    out = tmp_path / "index"
    command = _command(corpus, out, options)
    assert _run_killed(command, out, "shard-published:2", None) == -signal.SIGKILL
    assert _run_killed(command, out, "file-write:3", None) == -signal.SIGKILL
    _assert_finished_or_resumable(out)
    finished = subprocess.run(command, capture_output=True, text=True)
    assert finished.returncode == 0 and "indexed 3,000 documents" in finished.stdout, finished.stderr
    # shard-00000 was recorded by the first run; shard-00001, published but not recorded, was
    # being written again when the second run was killed.
    assert "reused 1 shard(s)" in finished.stdout
    assert _digests(out) == _digests(fresh)
    again = subprocess.run(command, capture_output=True, text=True)
    assert again.returncode == 0 and "is up to date" in again.stdout, again.stderr


def test_overwrite_killed_before_the_old_index_is_retired(tmp_path):
    """--overwrite killed right after recording the new build: the old manifest is still there
    beside the new state; the same command finishes, and without --overwrite it is refused."""
    corpus = _corpus(tmp_path / "corpus.jsonl")
    out = tmp_path / "index"
    _build(corpus, out, BUILDS["multi"])
    command = _command(corpus, out, BUILDS["fm"]) + ["--overwrite"]
    assert _run_killed(command, out, "state-recorded", None) == -signal.SIGKILL
    assert (out / MANIFEST_NAME).exists() and (out / BUILD_STATE_NAME).exists()
    with pytest.raises(infgram.BuildError, match="--overwrite"):
        _build(corpus, out, BUILDS["fm"])
    _build(corpus, out, {**BUILDS["fm"], "overwrite": True})
    fresh = tmp_path / "fresh"
    _build(corpus, fresh, BUILDS["fm"])
    assert _digests(out) == _digests(fresh)
