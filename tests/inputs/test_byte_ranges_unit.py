"""Byte ranges of input files (the units of a distributed build) and their failure paths: a
range whose file changed since it was cut, or that cannot be read, stops the build with an
error saying what was expected, what was found and what to do; files that cannot be cut are
read whole, and the plan says why. The readers run in this process here (no cluster)."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np
import pytest

import infgram
from infgram.build.inputs import UNREADABLE_FILE, InputProblem, byte_ranges, read_range_records, whole_file_reason
from infgram.build.pipeline import BuildReport, build_options, file_counts
from infgram.distributed.builder import UnitReader, describe_units, merge_reports, plan_units
from infgram.errors import InputError
from infgram.tokenizer import load_tokenizer


def _jsonl(path: Path, lines: int = 40) -> Path:
    path.write_text("".join(json.dumps({"text": f"document {n} " * (n % 5 + 1)}) + "\n" for n in range(lines)))
    return path


def test_a_file_grown_since_it_was_cut_is_refused(tmp_path):
    path = _jsonl(tmp_path / "a.jsonl")
    ranges = byte_ranges(path, 100)
    with open(path, "ab") as handle:
        handle.write(b'{"text": "late"}\n')
    with pytest.raises(InputError, match=r"a\.jsonl changed while the build ran: expected the file as it was split "
                                         r"\(.* bytes modified at .*\), found .* bytes.*; leave the inputs unchanged "
                                         "during a build and rerun the same command"):
        list(read_range_records(ranges[1]))


def test_a_file_rewritten_with_the_same_size_and_time_is_refused_when_a_cut_moved(tmp_path):
    path = _jsonl(tmp_path / "a.jsonl")
    ranges = byte_ranges(path, 100)
    status = path.stat()
    data = path.read_bytes()
    path.write_bytes(b"x" + data[:-1])  # every line start moves one byte on
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))
    with pytest.raises(InputError, match=f"found no line starting at byte {ranges[1].byte_start:,}"):
        list(read_range_records(ranges[1]))


def test_an_unreadable_range_is_an_unreadable_file_problem(tmp_path):
    path = _jsonl(tmp_path / "a.jsonl")
    ranges = byte_ranges(path, 100)
    path.unlink()
    problems = list(read_range_records(ranges[2]))
    assert len(problems) == 1 and isinstance(problems[0], InputProblem)
    assert problems[0].kind == UNREADABLE_FILE
    assert "cannot read the file (No such file or directory) before its first line; check that it exists" \
        in problems[0].describe()


def test_a_file_that_cannot_be_cut_is_an_error_naming_it(tmp_path):
    with pytest.raises(InputError, match=r"cannot read input .*missing\.jsonl to split it at line starts: "
                                         "No such file or directory; check that it still exists"):
        byte_ranges(tmp_path / "missing.jsonl", 10)
    with pytest.raises(InputError, match="expected a positive number of bytes per range, found 0"):
        byte_ranges(_jsonl(tmp_path / "a.jsonl"), 0)


def test_an_empty_file_is_one_empty_range(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert [(r.byte_start, r.byte_end, r.first_line) for r in byte_ranges(empty, 4)] == [(0, 0, 1)]
    assert list(read_range_records(byte_ranges(empty, 4)[0])) == []


def test_files_that_cannot_be_cut_are_read_whole_and_the_plan_says_why(tmp_path):
    big = _jsonl(tmp_path / "big.jsonl")
    packed = tmp_path / "packed.jsonl.gz"
    packed.write_bytes(gzip.compress(big.read_bytes()))
    table = tmp_path / "table.csv"
    table.write_text("text\n" + '"two\nlines"\n' * 50)
    page = tmp_path / "notes.txt"
    page.write_text("line\n" * 100)
    array = tmp_path / "array.jsonl"
    array.write_text("[" + ",\n".join(['{"text": "a rose"}'] * 20) + "]\n")
    units = plan_units([big, packed, table, page, array], 200)
    ranged = [unit for unit in units if unit.path == big]
    assert len(ranged) > 3 and all(unit.byte_range is not None for unit in ranged)
    assert [(unit.path.name, unit.whole_reason) for unit in units if unit.path != big] == [
        ("packed.jsonl.gz", "compressed (gz): its stream can only be read from the start"),
        ("table.csv", "a quoted field may hold line breaks"),
        ("notes.txt", "one document per file"), ("array.jsonl", "a JSON array, read element by element")]
    assert whole_file_reason(tmp_path / "t.parquet") == "parquet: read whole"
    line = describe_units(units)
    assert line.startswith(f"reading 5 file(s) as {len(units)} unit(s): {big} in {len(ranged)} byte ranges; ")
    assert "packed.jsonl.gz whole: compressed (gz)" in line


def _reader(tmp_path: Path, on_error: str) -> UnitReader:
    tokenizer = load_tokenizer(None)
    shard_positions, fingerprint = build_options(tokenizer, "text", on_error, None, 10_000)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return UnitReader(tokenizer, fingerprint, shard_positions, on_error, "text", str(work), str(tmp_path), None)


def test_a_reader_of_ranges_counts_what_a_local_build_counts(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"text": "one"}\r\n\n{bad\n{"text": "two"}\n{"text": ""}\n{"text": "three"}')
    reader = _reader(tmp_path, "skip")
    results = [reader.read_unit(number, unit) for number, unit in enumerate(plan_units([path], 5))]
    assert len(results) > 3
    report = BuildReport(directory="x", files={str(path): file_counts()})
    merge_reports(report, (result.report for result in results))
    local = infgram.build([path], tmp_path / "local", on_error="skip", progress=False)
    assert (report.records_read, report.blank_lines, report.num_documents, report.num_tokens, report.problems,
            report.first_problems, report.files) == \
        (local.records_read, local.blank_lines, local.num_documents, local.num_tokens, local.problems,
         local.first_problems, local.files)
    assert np.concatenate([result.token_counts for result in results]).tolist() == [3, 3, 5]


def test_a_reader_fails_on_a_changed_file_and_removes_its_unit_files(tmp_path):
    path = _jsonl(tmp_path / "a.jsonl")
    units = plan_units([path], 100)
    path.write_bytes(path.read_bytes() + b"\n")
    reader = _reader(tmp_path, "skip")
    with pytest.raises(InputError, match="changed while the build ran"):
        reader.read_unit(1, units[1])
    assert list((tmp_path / "work").iterdir()) == []


def test_a_reader_of_a_deleted_range_fails_with_the_local_message_under_fail(tmp_path):
    path = _jsonl(tmp_path / "a.jsonl")
    units = plan_units([path], 100)
    path.unlink()
    reader = _reader(tmp_path, "fail")
    with pytest.raises(InputError, match=r"a\.jsonl: cannot read the file \(No such file or directory\) before its "
                                         r"first line; check that it exists and is readable \(pass --on-error skip"):
        reader.read_unit(2, units[2])
