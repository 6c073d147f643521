"""Every file infgram writes goes through one atomic writer (``infgram.format.AtomicFile``):
a temporary name in the same folder, write, flush, fsync, rename, fsync the folder. A failure
in the middle of a write leaves no partial file under the final name (and an older file
there untouched), for index files, JSON files and the reports of contamination and dedup."""

from __future__ import annotations

import os
import stat

import pytest

import infgram
import infgram.apps.dedup as dedup_module
import infgram.format as format_module
from infgram.apps.contamination import summarize, write_report
from infgram.apps.dedup import OUTPUT_NAME, REPORT_NAME, dedup
from infgram.format import AtomicFile, write_json_atomically, write_text_atomically
from infgram.apps.contamination import EntryContamination


class Boom(Exception):
    """The failure injected in the middle of a write."""


def _names(folder) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


@pytest.fixture
def fsyncs(monkeypatch):
    """What ``os.fsync`` was called on, as "file" or "directory", in order."""
    calls: list[str] = []
    real = os.fsync

    def recording(descriptor: int) -> None:
        calls.append("directory" if stat.S_ISDIR(os.fstat(descriptor).st_mode) else "file")
        real(descriptor)

    monkeypatch.setattr(format_module.os, "fsync", recording)
    return calls


def test_a_failure_inside_the_block_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(Boom):
        with AtomicFile(path, "w") as handle:
            handle.write("half of the new")
            raise Boom()
    assert path.read_text() == "old"
    assert _names(tmp_path) == ["out.txt"]


def test_a_failing_fsync_leaves_no_file_under_the_final_name(tmp_path, monkeypatch):
    def failing(descriptor: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(format_module.os, "fsync", failing)
    with pytest.raises(OSError, match="No space"):
        write_json_atomically(tmp_path / "state.json", {"a": 1})
    assert _names(tmp_path) == []


def test_lines_that_fail_half_way_leave_nothing(tmp_path):
    def lines():
        yield "one\n"
        raise Boom()

    with pytest.raises(Boom):
        write_text_atomically(tmp_path / "lines.txt", lines())
    assert _names(tmp_path) == []


def test_the_file_and_then_its_folder_are_fsynced(tmp_path, fsyncs):
    write_text_atomically(tmp_path / "a.txt", "text")
    assert fsyncs == ["file", "directory"]


def _results(count: int) -> list[EntryContamination]:
    return [EntryContamination(number, 1, 0, 0.0, "clean", None) for number in range(count)]


def test_contamination_reports_are_fsynced(tmp_path, fsyncs):
    results = _results(2)
    write_report(tmp_path / "report", results, ["a", "b"], summarize(results))
    assert _names(tmp_path / "report") == ["entries.jsonl", "report.html", "summary.json"]
    assert fsyncs == ["file", "directory"] * 3


def test_a_contamination_report_failing_mid_write_leaves_no_partial_entries(tmp_path):
    out = tmp_path / "report"
    results = _results(3)
    write_report(out, results, ["a", "b", "c"], summarize(results))
    before = (out / "entries.jsonl").read_bytes()

    class Failing(EntryContamination):
        def to_dict(self):
            raise Boom()

    broken = [*_results(2), Failing(2, 1, 0, 0.0, "clean", None)]
    with pytest.raises(Boom):
        write_report(out, broken, ["a", "b", "c"], summarize(results))
    assert (out / "entries.jsonl").read_bytes() == before  # the old report, whole
    assert _names(out) == ["entries.jsonl", "report.html", "summary.json"]  # no temporary left


def test_dedup_output_failing_mid_write_leaves_no_partial_file(tmp_path, monkeypatch, fsyncs):
    infgram.build_from_documents(["the cat sat on the mat", "the cat sat on the mat", "a dog", "a bird"],
                                 tmp_path / "index", progress=False)
    calls = {"count": 0}
    real = dedup_module.removed_ranges

    def failing_on_the_second(*arguments):
        calls["count"] += 1
        if calls["count"] == 2:
            raise Boom()
        return real(*arguments)

    monkeypatch.setattr(dedup_module, "removed_ranges", failing_on_the_second)
    with pytest.raises(Boom):
        dedup(tmp_path / "index", tmp_path / "out", min_length=8, progress=False)
    assert OUTPUT_NAME not in _names(tmp_path / "out") and REPORT_NAME not in _names(tmp_path / "out")
    assert not [name for name in _names(tmp_path / "out") if name.endswith(".partial")]

    monkeypatch.setattr(dedup_module, "removed_ranges", real)
    fsyncs.clear()
    dedup(tmp_path / "index", tmp_path / "out", min_length=8, progress=False)
    assert _names(tmp_path / "out") == [REPORT_NAME, OUTPUT_NAME]
    assert fsyncs[-4:] == ["file", "directory", "file", "directory"]  # the output, then the report
