"""Interrupted builds: an index that did not finish never opens, and rerunning the build resumes it.

The build writes shards (several at once, one per core), records each finished one in
``build-state.json`` in shard order and writes ``manifest.json`` last. A rerun with the same inputs and options reuses every finished
shard and must produce byte-identical files to an uninterrupted build.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import infgram
from infgram.build import sa_writer as build_module
from infgram.format import BUILD_STATE_NAME

from conftest import SHARD_TOKENS, files_of as _files, on_shard_thread, write_word_corpus as _write_corpus


def _assert_identical(resumed: Path, fresh: Path) -> None:
    resumed_files, fresh_files = _files(resumed), _files(fresh)
    assert sorted(resumed_files) == sorted(fresh_files)
    assert "manifest.json" in fresh_files and "build-report.json" in fresh_files
    assert sum(name.endswith(".bin") for name in fresh_files) == 6 * len(infgram.Index.open(fresh).shards)
    for name in fresh_files:
        assert resumed_files[name] == fresh_files[name], f"{name} differs between the resumed and the fresh build"


# The child builds normally, but stops for good when it starts sorting the third shard; the
# test kills it once shard-00000 and shard-00001 are finished and recorded and shard-00002
# is half written.
# That makes the kill land at a known point without depending on how fast the machine is.
CHILD = textwrap.dedent("""
    import sys, threading, time
    import infgram
    from infgram.build import sa_writer as build_module

    corpus, out, shard_tokens = sys.argv[1], sys.argv[2], int(sys.argv[3])
    original = build_module.sorted_positions

    def sorted_positions(tokens, token_width, out=None, threads=1):
        if threading.current_thread().name.endswith("shard-00002"):  # sorts run in threads named after their shards
            time.sleep(3600)  # the test kills the process here
        yield from original(tokens, token_width, out, threads)

    build_module.sorted_positions = sorted_positions
    infgram.build([corpus], out, shard_tokens=shard_tokens, progress=False)
""")


def _recorded(out: Path, name: str) -> bool:
    """Whether the build state lists shard ``name`` as finished (shards beside each other may
    be published before the one ahead of them is recorded)."""
    try:
        return name in json.loads((out / BUILD_STATE_NAME).read_text())["shards"]
    except (OSError, ValueError, KeyError):
        return False


def test_killed_build_resumes_to_identical_files(tmp_path):
    corpus = _write_corpus(tmp_path / "corpus.jsonl")
    out = tmp_path / "resumed"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(corpus), str(out), str(SHARD_TOKENS)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120  # a safety net only: the child never finishes on its own
        half_written = out / "shard-00002.partial" / "suffix_array.bin.partial"
        while not (_recorded(out, "shard-00001") and half_written.exists()):
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the build never reached its third shard"
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate()
    assert child.returncode == -signal.SIGKILL

    assert not (out / "manifest.json").exists()
    assert (out / "build-state.json").exists()
    with pytest.raises(infgram.IncompleteIndexError, match="did not finish"):
        infgram.Index.open(out)

    report = infgram.build([corpus], out, shard_tokens=SHARD_TOKENS, progress=False)
    assert report.reused_shards >= 1
    assert report.reused_shards == 2  # shard-00000 and shard-00001 were finished and recorded
    assert report.num_shards >= 4 and report.num_documents == 3000
    assert not (out / "build-state.json").exists()
    assert not [p for p in out.rglob("*") if p.name.endswith(".partial")]

    fresh = tmp_path / "fresh"
    fresh_report = infgram.build([corpus], fresh, shard_tokens=SHARD_TOKENS, progress=False)
    assert fresh_report.reused_shards == 0
    _assert_identical(out, fresh)
    index = infgram.Index.open(out)
    index.verify()
    assert index.count("alpha beta") == infgram.Index.open(fresh).count("alpha beta") > 0


def _build_interrupted_at_sort(monkeypatch, corpus, out, shard_number: int, **options) -> None:
    """Run a build (with ``options``) that is interrupted (KeyboardInterrupt) when it starts
    sorting shard N (1-based), told by its thread (``on_shard_thread``)."""
    original = build_module.sorted_positions

    def failing(tokens, token_width, out=None, threads=1):
        if on_shard_thread(shard_number - 1):
            raise KeyboardInterrupt
        yield from original(tokens, token_width, out, threads)

    monkeypatch.setattr(build_module, "sorted_positions", failing)
    with pytest.raises(KeyboardInterrupt):
        infgram.build([corpus], out, shard_tokens=SHARD_TOKENS, progress=False, **options)
    monkeypatch.setattr(build_module, "sorted_positions", original)


def test_build_stopped_by_an_exception_resumes(tmp_path, monkeypatch):
    """The same, in-process and without a kill: the third shard's sort raises."""
    corpus = _write_corpus(tmp_path / "corpus.jsonl")
    out = tmp_path / "resumed"
    _build_interrupted_at_sort(monkeypatch, corpus, out, shard_number=3)
    assert (out / "shard-00001").is_dir() and not (out / "shard-00002").exists()
    with pytest.raises(infgram.IncompleteIndexError):
        infgram.Index.open(out)

    report = infgram.build([corpus], out, shard_tokens=SHARD_TOKENS, progress=False)
    assert report.reused_shards == 2 and report.num_shards >= 4
    fresh = tmp_path / "fresh"
    infgram.build([corpus], fresh, shard_tokens=SHARD_TOKENS, progress=False)
    _assert_identical(out, fresh)


def test_build_failing_on_a_late_bad_line_leaves_no_index(tmp_path):
    """on_error='fail' and a bad line near the end: the shards before it are written, no index opens.

    Fixing the line would change the input fingerprint (size and mtime), so the resumable
    path is not this one; a rerun with on_error='skip' must complete and match a fresh build.
    """
    corpus = _write_corpus(tmp_path / "corpus.jsonl", bad_line=2900)
    out = tmp_path / "index"
    with pytest.raises(infgram.InputError, match=f"{corpus}:2900: "):
        infgram.build([corpus], out, shard_tokens=SHARD_TOKENS, progress=False)
    finished = sorted(p.name for p in out.iterdir() if p.name.startswith("shard-"))
    assert "shard-00000" in finished  # the shards filled before the bad line was read are finished
    assert not (out / "manifest.json").exists()
    with pytest.raises(infgram.IncompleteIndexError):
        infgram.Index.open(out)
    # The same failing build again fails the same way (and still leaves no index).
    with pytest.raises(infgram.InputError, match=f"{corpus}:2900: "):
        infgram.build([corpus], out, shard_tokens=SHARD_TOKENS, progress=False)
    with pytest.raises(infgram.IndexFormatError):
        infgram.Index.open(out)

    report = infgram.build([corpus], out, shard_tokens=SHARD_TOKENS, on_error="skip", progress=False)
    assert report.problems == {"invalid_json": 1}
    assert report.num_documents == 2999 and report.records_read == 3000
    fresh = tmp_path / "fresh"
    infgram.build([corpus], fresh, shard_tokens=SHARD_TOKENS, on_error="skip", progress=False)
    _assert_identical(out, fresh)
    infgram.Index.open(out).verify()


def test_resume_after_inputs_changed_starts_over(tmp_path, monkeypatch):
    """A build state from other inputs is not reused: the rerun rewrites every shard."""
    corpus = _write_corpus(tmp_path / "corpus.jsonl")
    out = tmp_path / "index"
    _build_interrupted_at_sort(monkeypatch, corpus, out, shard_number=2)
    _write_corpus(corpus, count=2500)
    os.utime(corpus, ns=(time.time_ns(), time.time_ns() + 10**9))
    report = infgram.build([corpus], out, shard_tokens=SHARD_TOKENS, progress=False)
    assert report.reused_shards == 0 and report.num_documents == 2500
    fresh = tmp_path / "fresh"
    infgram.build([corpus], fresh, shard_tokens=SHARD_TOKENS, progress=False)
    _assert_identical(out, fresh)


def _folder_corpus(folder: Path) -> Path:
    """Six JSON Lines files (one with a bad line, each with its own lines), read in name order."""
    folder.mkdir()
    for number, count in enumerate((700, 400, 650, 300, 800, 500)):
        _write_corpus(folder / f"part-{number}.jsonl", count=count, bad_line=250 if number == 2 else None)
    with open(folder / "part-3.jsonl", "a", encoding="utf-8") as handle:
        handle.write("\n")  # a blank line: the report counts it, resumed or not
    return folder




def _spy_on_reading(monkeypatch) -> tuple[list[str], list[int]]:
    """The files the build opens, and the number of documents it tokenizes."""
    from infgram.build import inputs as inputs_module
    from infgram.build import pipeline

    opened, tokenized = [], [0]
    read_records, add_documents = inputs_module.read_records, pipeline.Builder.add_documents

    def reading(files, *arguments, **options):
        opened.extend(Path(f).name for f in files)
        return read_records(files, *arguments, **options)

    def adding(self, records):
        tokenized[0] += sum(isinstance(r, inputs_module.SourceDocument) for r in records)
        return add_documents(self, records)

    monkeypatch.setattr(inputs_module, "read_records", reading)
    monkeypatch.setattr(pipeline.Builder, "add_documents", adding)
    return opened, tokenized


def test_resumed_build_skips_reading_the_finished_shards_input(tmp_path, monkeypatch):
    """Interrupted while sorting its fourth shard, the build resumes after the third's cut: the
    files read whole before it are not opened, their documents not tokenized again, and the
    files (the report included) are those of an uninterrupted build."""
    corpus = _folder_corpus(tmp_path / "corpus")
    fresh = tmp_path / "fresh"
    fresh_report = infgram.build([corpus], fresh, shard_tokens=SHARD_TOKENS, on_error="skip", progress=False)
    assert fresh_report.num_shards >= 5 and fresh_report.problems == {"invalid_json": 1}
    out = tmp_path / "resumed"
    _build_interrupted_at_sort(monkeypatch, corpus, out, shard_number=4, on_error="skip")
    opened, tokenized = _spy_on_reading(monkeypatch)
    report = infgram.build([corpus], out, shard_tokens=SHARD_TOKENS, on_error="skip", progress=False)
    assert report.reused_shards == 3
    kept_documents = sum(shard["num_documents"] for shard in infgram.format.read_manifest(out)["shards"][:3])
    assert tokenized[0] == report.num_documents - kept_documents  # not one kept document again
    assert "part-0.jsonl" not in opened and opened == sorted(opened)
    assert (report.records_read, report.blank_lines, report.problems, report.files) == \
        (fresh_report.records_read, fresh_report.blank_lines, fresh_report.problems, fresh_report.files)
    _assert_identical(out, fresh)


def test_resume_reads_everything_again_when_a_kept_shard_is_gone(tmp_path, monkeypatch):
    """A shard before the resume point deleted: nothing can be skipped, the rerun reads every
    file, reuses the intact shards by their contents, and still writes the same files."""
    corpus = _folder_corpus(tmp_path / "corpus")
    out = tmp_path / "resumed"
    _build_interrupted_at_sort(monkeypatch, corpus, out, shard_number=4, on_error="skip")
    import shutil

    shutil.rmtree(out / "shard-00001")
    opened, tokenized = _spy_on_reading(monkeypatch)
    report = infgram.build([corpus], out, shard_tokens=SHARD_TOKENS, on_error="skip", progress=False)
    assert report.reused_shards == 2 and tokenized[0] == report.num_documents
    assert opened == [f"part-{n}.jsonl" for n in range(6)]
    fresh = tmp_path / "fresh"
    infgram.build([corpus], fresh, shard_tokens=SHARD_TOKENS, on_error="skip", progress=False)
    _assert_identical(out, fresh)
