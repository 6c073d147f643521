"""Shards sorted beside each other (one per core, ``INFGRAM_BUILD_THREADS``): the same files
as one at a time, published and recorded in order, and a failed shard stops those behind it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest

import infgram
from infgram.build import fm_writer, pipeline, sa_writer
from infgram.build.shard_writer import PIPELINE_VARIABLE, THREADS_VARIABLE, ShardBuffer
from infgram.format import BUILD_STATE_NAME, MANIFEST_NAME

from conftest import SHARD_TOKENS, files_of, on_shard_thread, write_word_corpus


def _counting_sorts(monkeypatch) -> list[int]:
    """Make every sort (of a suffix-array or an FM-index shard) last a little and count how
    many run at once; returns [most at once]."""
    lock, running, most = threading.Lock(), [0], [0]

    def counting(sort):
        def counted(*arguments, **options):
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            try:
                time.sleep(0.05)  # long enough for the next shard to be handed over beside it
                result = sort(*arguments, **options)
                return list(result) if sort is original_positions else result
            finally:
                with lock:
                    running[0] -= 1
        return counted

    original_positions = sa_writer.sorted_positions
    monkeypatch.setattr(sa_writer, "sorted_positions", counting(original_positions))
    monkeypatch.setattr(fm_writer, "suffix_array_of", counting(fm_writer.suffix_array_of))
    return most


@pytest.mark.parametrize("kind", ["sa", "fm"])
def test_shards_sorted_at_once_give_the_files_of_one_at_a_time(tmp_path, monkeypatch, kind):
    corpus = write_word_corpus(tmp_path / "corpus.jsonl")
    monkeypatch.setenv(PIPELINE_VARIABLE, "1")
    most = _counting_sorts(monkeypatch)
    outs = {}
    for threads in (1, 3):
        monkeypatch.setenv(THREADS_VARIABLE, str(threads))
        most[0] = 0
        outs[threads] = tmp_path / f"threads-{threads}"
        report = infgram.build([corpus], outs[threads], shard_tokens=SHARD_TOKENS, kind=kind, progress=False)
        assert report.num_shards >= 4
        assert most[0] == 1 if threads == 1 else most[0] >= 2
    assert files_of(outs[1]) == files_of(outs[3])
    index = infgram.Index.open(outs[3])
    assert index.count("alpha beta") == infgram.Index.open(outs[1]).count("alpha beta") > 0


def test_the_last_shard_sorts_on_the_threads_left(tmp_path, monkeypatch):
    """Every shard sorts on one thread but the last, which takes the threads that the shards
    still in flight leave: all of them in a one-shard build. The files are the same."""
    corpus = write_word_corpus(tmp_path / "corpus.jsonl")
    monkeypatch.setenv(PIPELINE_VARIABLE, "1")
    monkeypatch.setenv(THREADS_VARIABLE, "3")
    original = sa_writer.sorted_positions
    given: dict[str, int] = {}

    def recording(tokens, token_width, out=None, threads=1):
        given[threading.current_thread().name] = threads
        yield from original(tokens, token_width, out, threads)

    monkeypatch.setattr(sa_writer, "sorted_positions", recording)
    infgram.build([corpus], tmp_path / "one", progress=False)
    assert list(given.values()) == [3]
    given.clear()
    report = infgram.build([corpus], tmp_path / "many", shard_tokens=SHARD_TOKENS, progress=False)
    names = sorted(given)
    assert len(names) == report.num_shards >= 4
    assert all(given[name] == 1 for name in names[:-1])
    assert 1 <= given[names[-1]] <= 3
    monkeypatch.setenv(THREADS_VARIABLE, "1")
    infgram.build([corpus], tmp_path / "alone", progress=False)
    assert files_of(tmp_path / "one") == files_of(tmp_path / "alone")


def test_a_failed_shard_stops_the_shards_behind_it_and_resumes(tmp_path, monkeypatch):
    """shard-00001's sort fails while shards behind it are sorted: the error reaches the
    caller, no shard behind it is published or recorded, no thread is left, and the rerun
    writes the files of a build that never failed."""
    corpus = write_word_corpus(tmp_path / "corpus.jsonl")
    monkeypatch.setenv(PIPELINE_VARIABLE, "1")
    monkeypatch.setenv(THREADS_VARIABLE, "3")
    original = sa_writer.sorted_positions
    behind_started = threading.Event()

    def failing(tokens, token_width, out=None, threads=1):
        if on_shard_thread(2):
            behind_started.set()
        if on_shard_thread(1):
            assert behind_started.wait(10)  # a shard behind it is being sorted
            raise RuntimeError("the sorter failed")
        yield from original(tokens, token_width, out, threads)

    monkeypatch.setattr(sa_writer, "sorted_positions", failing)
    out = tmp_path / "index"
    with pytest.raises(RuntimeError, match="the sorter failed"):
        infgram.build([corpus], out, shard_tokens=SHARD_TOKENS, progress=False)
    assert not [t for t in threading.enumerate() if t.name.startswith("infgram ")]
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("shard-") and p.is_dir()
                  and not p.name.endswith(".partial")) == ["shard-00000"]
    assert sorted(json.loads((out / BUILD_STATE_NAME).read_text())["shards"]) == ["shard-00000"]
    assert not (out / MANIFEST_NAME).exists()

    monkeypatch.setattr(sa_writer, "sorted_positions", original)
    report = infgram.build([corpus], out, shard_tokens=SHARD_TOKENS, progress=False)
    assert report.reused_shards == 1
    fresh = tmp_path / "fresh"
    infgram.build([corpus], fresh, shard_tokens=SHARD_TOKENS, progress=False)
    assert files_of(out) == files_of(fresh)


def test_shards_wait_for_room_in_the_memory_they_may_use(tmp_path, monkeypatch):
    """With room for one sort at a time, shards are sorted one after another however many
    cores there are. Shards sized by --shard-tokens may hold half the memory the process may
    use, less the reserve (half of so small a budget): here room for one sort and a half."""
    corpus = write_word_corpus(tmp_path / "corpus.jsonl")
    monkeypatch.setenv(PIPELINE_VARIABLE, "1")
    monkeypatch.setenv(THREADS_VARIABLE, "4")
    most = _counting_sorts(monkeypatch)
    one_sort = 1 << 20
    monkeypatch.setattr(ShardBuffer, "sorting_bytes", lambda self: one_sort)
    monkeypatch.setattr(pipeline, "available_memory_bytes", lambda: 2 * 3 * one_sort)
    report = infgram.build([corpus], tmp_path / "index", shard_tokens=SHARD_TOKENS, progress=False)
    assert report.num_shards >= 4 and most[0] == 1
    monkeypatch.setattr(pipeline, "available_memory_bytes", lambda: 2 * 5 * one_sort)  # room for two and a half
    most[0] = 0
    infgram.build([corpus], tmp_path / "index-2", shard_tokens=SHARD_TOKENS, progress=False)
    assert most[0] == 2


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_bad_thread_count_is_refused_naming_the_variable(tmp_path, value):
    corpus = write_word_corpus(tmp_path / "corpus.jsonl", count=50)
    command = [sys.executable, "-m", "infgram.cli", "build", str(corpus), "--out", str(tmp_path / "index"), "--quiet"]
    result = subprocess.run(command, capture_output=True, text=True,
                            env={**os.environ, THREADS_VARIABLE: value})
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"expected {THREADS_VARIABLE} to be a whole number of at least 1, found {value!r}" in result.stderr
