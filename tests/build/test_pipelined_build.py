"""The pipelined build: shards written in a background thread while the next one is read.

The pipeline must change timing only. These tests check that a build with many shards
writes the same bytes with and without it (``INFGRAM_BUILD_PIPELINE=0``), for every index
kind and token width and under a memory budget; that an error in the writer thread (a full
disk) reaches the caller as the same :class:`BuildError` as before and leaves a build that
resumes to the same bytes; that an interrupt while a shard is in flight stops it and leaves
a resumable build; and that the memory plan keeps a shard being sorted and the next one
being filled within the budget together.
"""

from __future__ import annotations

import errno
import json
import random
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import infgram
from infgram.build import sa_writer
from infgram.build.plan import (
    fill_bytes,
    fits_beside,
    reserve_bytes,
    shard_positions_for_budget,
    sort_bytes,
)
from infgram.build.shard_writer import PIPELINE_VARIABLE, ShardBuffer
from infgram.distributed.builder import plan_shards
from infgram.errors import MemoryBudgetWarning
from infgram.format import BUILD_STATE_NAME, MANIFEST_NAME, AtomicFileWriter

from conftest import files_of, write_word_corpus

SHARD_TOKENS = 2_000
"""Tiny shards: the word corpus of 3,000 documents makes 61 of them."""


def _build(corpus: Path, out: Path, monkeypatch, pipelined: bool, **options) -> infgram.BuildReport:
    monkeypatch.setenv(PIPELINE_VARIABLE, "1" if pipelined else "0")
    return infgram.build([corpus], out, progress=False, **options)


def _assert_same_files(found: Path, expected: Path) -> None:
    found_files, expected_files = files_of(found), files_of(expected)
    assert sorted(found_files) == sorted(expected_files)
    for name, data in expected_files.items():
        assert found_files[name] == data, f"{name} differs"


@pytest.mark.parametrize("options", [
    {"shard_tokens": SHARD_TOKENS},
    {"shard_tokens": 70_000},  # 3-byte pointers, packed from the sorter's 4-byte integers
    {"kind": "fm", "shard_tokens": 4 * SHARD_TOKENS},
    {"memory": "300K"},  # cut by the memory plan instead
], ids=["sa", "sa-3-byte-pointers", "fm", "memory-budget"])
@pytest.mark.filterwarnings("ignore::infgram.errors.MemoryBudgetWarning")  # 300K is below the interpreter's floor
def test_pipelined_build_writes_the_sequential_bytes(tmp_path, monkeypatch, options):
    corpus = write_word_corpus(tmp_path / "corpus.jsonl")
    sequential = _build(corpus, tmp_path / "sequential", monkeypatch, pipelined=False, **options)
    pipelined = _build(corpus, tmp_path / "pipelined", monkeypatch, pipelined=True, **options)
    assert pipelined.num_shards == sequential.num_shards > 1
    _assert_same_files(tmp_path / "pipelined", tmp_path / "sequential")
    index = infgram.Index.open(tmp_path / "pipelined")
    index.verify()  # every checksum, hashed while written, matches the bytes on disk
    assert index.count("alpha beta") > 0


@pytest.mark.parametrize("width", [2, 4])
def test_pipelined_token_id_build_writes_the_sequential_bytes(tmp_path, monkeypatch, width):
    rng = random.Random(width)
    top = 2 ** (8 * width) - 2
    documents = [{"ids": [rng.choice([0, 1, 7, 256, top]) for _ in range(rng.randint(1, 60))], "n": n}
                 for n in range(2000)]
    outs = {}
    for pipelined in (False, True):
        monkeypatch.setenv(PIPELINE_VARIABLE, "1" if pipelined else "0")
        outs[pipelined] = tmp_path / f"pipelined-{pipelined}"
        report = infgram.build_from_documents(documents, outs[pipelined], token_width=width, shard_tokens=3000,
                                              progress=False)
        assert report.num_shards > 10
    _assert_same_files(outs[True], outs[False])


def _disk_full_at(monkeypatch, file_name: str, shard_name: str) -> list[str]:
    """Make writing ``file_name`` of ``shard_name`` fail as on a full disk; returns the names
    of the threads that wrote index files."""
    writers: list[str] = []
    original = AtomicFileWriter.write

    def write(self, data):
        writers.append(threading.current_thread().name)
        if self.path.name == file_name and self.path.parent.name == f"{shard_name}.partial":
            raise OSError(errno.ENOSPC, "No space left on device", str(self.temporary_path))
        return original(self, data)

    monkeypatch.setattr(AtomicFileWriter, "write", write)
    return writers


def test_disk_full_in_the_writer_thread_is_a_build_error_and_resumes(tmp_path, monkeypatch):
    corpus = write_word_corpus(tmp_path / "corpus.jsonl")
    out = tmp_path / "index"
    monkeypatch.setenv(PIPELINE_VARIABLE, "1")
    writers = _disk_full_at(monkeypatch, "suffix_array.bin", "shard-00002")
    with pytest.raises(infgram.BuildError) as raised:
        infgram.build([corpus], out, shard_tokens=SHARD_TOKENS, progress=False)
    message = str(raised.value)
    # What went wrong, where, and what to do, as for a build that writes in the main thread.
    assert "cannot write the index in" in message and "No space left on device" in message
    assert "suffix_array.bin.partial" in message
    assert "check the output directory's permissions and free space (rerun the same command to resume)" in message
    assert isinstance(raised.value.__cause__, OSError) and raised.value.__cause__.errno == errno.ENOSPC
    assert threading.current_thread().name not in writers  # the shards were written in the background
    assert not [t for t in threading.enumerate() if t.name.startswith("infgram ")]  # nothing left running

    # Resumable: two shards recorded, no manifest, and the rerun finishes to the same bytes.
    assert not (out / MANIFEST_NAME).exists()
    state = json.loads((out / BUILD_STATE_NAME).read_text())
    assert sorted(state["shards"]) == ["shard-00000", "shard-00001"]
    with pytest.raises(infgram.IncompleteIndexError):
        infgram.Index.open(out)
    monkeypatch.undo()
    report = infgram.build([corpus], out, shard_tokens=SHARD_TOKENS, progress=False)
    assert report.reused_shards == 2
    fresh = tmp_path / "fresh"
    infgram.build([corpus], fresh, shard_tokens=SHARD_TOKENS, progress=False)
    _assert_same_files(out, fresh)


def test_disk_full_while_the_sort_runs_is_a_build_error(tmp_path, monkeypatch):
    """documents.bin is written while the shard sorts, in another thread: its error waits for
    the sort to end, then reaches the caller the same way."""
    corpus = write_word_corpus(tmp_path / "corpus.jsonl", count=300)
    out = tmp_path / "index"
    _disk_full_at(monkeypatch, "documents.bin", "shard-00000")
    with pytest.raises(infgram.BuildError, match="No space left on device"):
        infgram.build([corpus], out, progress=False)
    assert not [t for t in threading.enumerate() if t.name.startswith("infgram ")]
    monkeypatch.undo()
    report = infgram.build([corpus], out, progress=False)
    assert report.num_shards == 1 and report.num_documents == 300


def test_interrupt_while_a_shard_is_in_flight_stops_it_and_resumes(tmp_path, monkeypatch):
    """Ctrl-C in the main thread (reading) while a slow shard is written in the background:
    the build stops without waiting for the shard to be written, no thread keeps writing,
    and the rerun finishes to the same bytes."""
    monkeypatch.setenv(PIPELINE_VARIABLE, "1")
    documents = [" ".join(random.Random(n).choice(["alpha", "beta", "gamma"]) for _ in range(20)) for n in range(4000)]
    original = sa_writer.sorted_positions
    sorting = threading.Event()

    def slow(tokens, token_width, out=None, threads=1):
        sorting.set()
        time.sleep(0.3)
        yield from original(tokens, token_width, out, threads)

    def interrupted():
        for number, document in enumerate(documents):
            if number == 3000:  # the first batch of 2,048 documents filled a dozen shards
                assert sorting.wait(10)  # a shard is in flight
                raise KeyboardInterrupt
            yield document

    monkeypatch.setattr(sa_writer, "sorted_positions", slow)
    out = tmp_path / "index"
    with pytest.raises(KeyboardInterrupt):
        infgram.build_from_documents(interrupted(), out, shard_tokens=20_000, progress=False)
    assert not [t for t in threading.enumerate() if t.name.startswith("infgram ")]
    assert (out / BUILD_STATE_NAME).exists() and not (out / MANIFEST_NAME).exists()
    monkeypatch.setattr(sa_writer, "sorted_positions", original)
    infgram.build_from_documents(documents, out, shard_tokens=20_000, progress=False)
    fresh = tmp_path / "fresh"
    infgram.build_from_documents(documents, fresh, shard_tokens=20_000, progress=False)
    _assert_same_files(out, fresh)


# -- the memory plan ----------------------------------------------------------------------------
def _documents(rng: random.Random, count: int, metadata_scale: int) -> list[tuple[int, int]]:
    """(tokens, metadata bytes) of documents of varied sizes, some with much metadata."""
    return [(rng.randint(1, 4000), rng.choice([0, 20, 200, metadata_scale])) for _ in range(count)]


def _simulate(documents: list[tuple[int, int]], width: int, budget: int) -> tuple[int, int, int]:
    """Cut and fill shards as the builder does, with a shard in flight that finishes only
    when the reader waits for it (the slowest sort); returns the peak of (shard being
    sorted + buffer being filled), the number of shards and the number of waits."""
    limit = shard_positions_for_budget(budget, width)
    buffer = ShardBuffer(width, limit, 2 ** (8 * width) - 1, budget)
    in_flight = 0  # planned bytes of the shard in flight
    peak = shards = waits = 0
    for num_tokens, metadata_bytes in documents:
        if not buffer.fits(num_tokens, metadata_bytes):
            # Hand it over (after the shard before it is done): it sorts while the next fills.
            shards += 1
            in_flight = buffer.sorting_bytes()
            assert in_flight >= buffer.num_positions * (width + 4) + buffer.metadata_bytes  # tokens + int32 sort output
            buffer = ShardBuffer(width, limit, 2 ** (8 * width) - 1, budget)
        elif in_flight and not fits_beside(in_flight, buffer.num_positions + num_tokens + 1, buffer.num_documents + 1,
                                           buffer.metadata_bytes + metadata_bytes, width, budget):
            waits += 1
            in_flight = 0
        buffer.add(np.zeros(num_tokens, dtype=np.int64), b"m" * metadata_bytes)
        filling = fill_bytes(buffer.num_positions, buffer.num_documents, buffer.metadata_bytes, width)
        peak = max(peak, in_flight + filling)
    return peak, shards, waits


@pytest.mark.parametrize("width", [1, 2, 4])
def test_a_sorting_shard_and_the_next_buffer_stay_within_the_budget(width):
    budget = 64 << 20
    reserve = reserve_bytes(budget)
    # Documents of one kind: the plan alone keeps the pair within the budget, never waiting.
    uniform = [(500, 40)] * 60_000
    peak, shards, waits = _simulate(uniform, width, budget)
    assert shards >= 3 and waits == 0
    assert peak + reserve <= budget
    # Documents of every kind, some with far more metadata than tokens: the reader waits
    # when a buffer outgrows the room its predecessor left, and the budget still holds.
    rng = random.Random(width)
    for metadata_scale in (1_000, 100_000):
        peak, shards, waits = _simulate(_documents(rng, 20_000, metadata_scale), width, budget)
        assert shards >= 3
        assert peak + reserve <= budget


@pytest.mark.parametrize("width", [1, 2, 4])
def test_each_shard_is_planned_with_room_for_one_like_it(width):
    budget = 256 << 20
    limit = shard_positions_for_budget(budget, width)
    buffer = ShardBuffer(width, limit, 2 ** (8 * width) - 1, budget)
    while buffer.fits(999, 60):
        buffer.add(np.zeros(999, dtype=np.int64), b"m" * 60)
    sorting = sort_bytes(buffer.num_positions, buffer.num_documents, buffer.metadata_bytes, limit, budget)
    filling = fill_bytes(buffer.num_positions, buffer.num_documents, buffer.metadata_bytes, width)
    assert sorting + filling + reserve_bytes(budget) <= budget
    # ... and not much less: within one document of the budget, or of the positions' limit.
    more = sort_bytes(buffer.num_positions + 1000, buffer.num_documents + 1, buffer.metadata_bytes + 60, limit, budget)
    assert more + fill_bytes(buffer.num_positions + 1000, buffer.num_documents + 1, buffer.metadata_bytes + 60,
                             width) + reserve_bytes(budget) > budget * 0.99
    # The tokens' array is allocated once, at that size: it never had to grow by copying.
    assert len(buffer.tokens) >= buffer.num_positions


def test_a_distributed_build_cuts_the_same_shards_under_a_budget(tmp_path):
    """plan_shards replays the cuts from counts (``ShardBuffer.fits`` without the buffer)."""
    rng = random.Random(5)
    documents = [{"text": "x" * rng.randint(1, 900), "metadata": {"m": "y" * rng.choice([0, 10, 500])}}
                 for _ in range(3000)]
    with pytest.warns(MemoryBudgetWarning):
        infgram.build_from_documents(documents, tmp_path / "i", memory="300K", progress=False)
    manifest = json.loads((tmp_path / "i" / MANIFEST_NAME).read_text())
    assert len(manifest["shards"]) > 3
    token_counts = np.array([len(d["text"]) for d in documents])
    metadata_lengths = np.array([len(json.dumps(d["metadata"], separators=(",", ":"))) for d in documents])
    assert manifest["build"]["memory_bytes"] == 300 << 10  # the option given; the plan it gave is in the shards
    firsts = plan_shards(token_counts, metadata_lengths, shard_positions_for_budget(300 << 10, 1), 300 << 10)
    assert firsts == [shard["first_document"] for shard in manifest["shards"]]
