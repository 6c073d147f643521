"""Building from damaged files and into damaged directories: never a traceback, never silent loss.

A truncated or corrupt ``.gz``/``.zst`` stream, an unreadable file, a broken link or JSON
nested too deeply is a problem naming the file (and the last line read): an
:class:`infgram.InputError` under ``on_error="fail"``, counted in the report under
``"skip"``. On the output side, OS errors are :class:`infgram.BuildError`; a missing or
damaged ``build-report.json`` or ``build-state.json`` makes the rerun build again. The
report accounts for every file and every record read.
"""

from __future__ import annotations

import gzip
import json
import re
import os

import pytest
import zstandard

import infgram
from infgram.build import inputs as inputs_module
from infgram.build import plan
from conftest import assert_one_line_error, run_cli

GOOD = b'{"text": "a good document"}\n'


def _lines(count: int) -> bytes:
    return b"".join(json.dumps({"text": f"document number {n} of the corpus", "n": n}).encode() + b"\n"
                    for n in range(1, count + 1))


def _accounts_for_every_record(report: infgram.BuildReport) -> None:
    assert report.records_read == report.num_documents + report.blank_lines + report.num_problems
    for key in ("records_read", "documents", "blank_lines", "problems"):
        assert sum(counts[key] for counts in report.files.values()) == getattr(
            report, {"documents": "num_documents", "problems": "num_problems"}.get(key, key))


# -- truncated and corrupt compressed files -------------------------------------------------------

def _truncated_zst(path, count=20_000, cut=20):
    data = zstandard.ZstdCompressor().compress(_lines(count))
    path.write_bytes(data[:-cut] if cut else data)
    return path


def test_zst_missing_its_last_bytes_fails_naming_file_and_last_line(tmp_path):
    good = tmp_path / "a.jsonl"
    good.write_bytes(GOOD)
    cut = _truncated_zst(tmp_path / "b.jsonl.zst")
    with pytest.raises(infgram.InputError, match="truncated") as error:
        infgram.build([good, cut], tmp_path / "index", progress=False)
    message = str(error.value)
    assert str(cut) in message and "zstd" in message and "after line " in message
    with pytest.raises(infgram.IndexFormatError):
        infgram.format.read_manifest(tmp_path / "index")


def test_zst_cut_in_half_under_skip_reports_the_truncation_and_the_lines_read(tmp_path):
    data = zstandard.ZstdCompressor().compress(_lines(100_000))
    half = tmp_path / "half.jsonl.zst"
    half.write_bytes(data[: len(data) // 2])
    report = infgram.build([half], tmp_path / "index", on_error="skip", progress=False)
    assert report.problems == {"truncated_file": 1}
    read = report.num_documents
    assert 0 < read < 100_000 and report.records_read == read + 1
    (problem,) = report.first_problems
    assert problem.startswith(f"{half}: ") and f"after line {read:,} ({read:,} lines read)" in problem
    stored = json.loads((tmp_path / "index" / "build-report.json").read_text())
    assert stored["problems"] == {"truncated_file": 1}
    assert stored["files"] == {str(half): {"records_read": read + 1, "documents": read, "blank_lines": 0, "problems": 1}}
    _accounts_for_every_record(report)


def test_multi_frame_zst_is_read_whole(tmp_path):
    compressor = zstandard.ZstdCompressor()
    path = tmp_path / "frames.jsonl.zst"
    path.write_bytes(compressor.compress(_lines(300)) + compressor.compress(_lines(200)))
    report = infgram.build([path], tmp_path / "index", progress=False)
    assert report.num_documents == 500 and not report.problems


DAMAGED = {
    "cut.jsonl.gz": (gzip.compress(_lines(5000))[:-3000], "truncated_file", "gzip stream ends before its end marker"),
    "notgzip.jsonl.gz": (b"plain text, not gzip\n", "unreadable_file", "expected valid gzip data"),
    "notzstd.jsonl.zst": (b"plain text, not zstd\n", "unreadable_file", "expected valid zstd data"),
    "cut.txt.gz": (gzip.compress(b"some text " * 1000)[:-10], "truncated_file", "before its first line"),
    "crc.jsonl.gz": (gzip.compress(GOOD)[:-8] + b"\0" * 8, "unreadable_file", "CRC"),
}


@pytest.mark.parametrize("name", sorted(DAMAGED))
@pytest.mark.parametrize("on_error", ["fail", "skip"])
def test_damaged_compressed_file(tmp_path, name, on_error):
    data, kind, fragment = DAMAGED[name]
    good = tmp_path / "a.jsonl"
    good.write_bytes(GOOD)
    bad = tmp_path / name
    bad.write_bytes(data)
    if on_error == "fail":
        with pytest.raises(infgram.InputError, match=fragment) as error:
            infgram.build([good, bad], tmp_path / "index", progress=False)
        assert str(error.value).startswith(f"{bad}: ")
        return
    report = infgram.build([good, bad], tmp_path / "index", on_error="skip", progress=False)
    assert report.problems == {kind: 1} and fragment in report.first_problems[0]
    assert report.files[str(bad)]["problems"] == 1 and report.files[str(good)]["documents"] == 1
    _accounts_for_every_record(report)


def test_cli_truncated_zst_is_a_one_line_error(tmp_path):
    cut = _truncated_zst(tmp_path / "b.jsonl.zst")
    result = run_cli("build", cut, "--out", tmp_path / "index", "--quiet")
    assert_one_line_error(result, str(cut), "truncated", "--on-error skip")


# -- records the JSON reader cannot take ----------------------------------------------------------

def test_json_nested_a_thousand_deep_is_a_problem_not_a_recursion_error(tmp_path):
    path = tmp_path / "deep.jsonl"
    path.write_text('{"text": "x", "a": ' + "[" * 100_000 + "]" * 100_000 + "}\n" + '{"text": "fine"}\n')
    with pytest.raises(infgram.InputError, match=f"{path}:1: .*nested too deeply"):
        infgram.build([path], tmp_path / "index", progress=False)
    report = infgram.build([path], tmp_path / "index", on_error="skip", progress=False)
    assert report.problems == {"invalid_json": 1} and report.num_documents == 1


def test_circular_metadata_from_python_is_a_problem(tmp_path):
    loop: dict = {}
    loop["self"] = loop
    report = infgram.build_from_documents([{"text": "a", "metadata": loop}, "b"], tmp_path / "index",
                                          on_error="skip", progress=False)
    assert report.problems == {"invalid_json": 1} and report.num_documents == 1


# -- files that cannot be read --------------------------------------------------------------------

def test_unreadable_file_is_a_problem(tmp_path, monkeypatch):
    good, secret = tmp_path / "a.jsonl", tmp_path / "secret.jsonl"
    good.write_bytes(GOOD)
    secret.write_bytes(GOOD)
    real_open = open

    def open_denied(path, *args, **kwargs):
        if str(path) == str(secret):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(inputs_module, "open", open_denied, raising=False)
    with pytest.raises(infgram.InputError, match=f"{secret}: cannot read the file \\(Permission denied\\)"):
        infgram.build([good, secret], tmp_path / "index", progress=False)
    report = infgram.build([good, secret], tmp_path / "index", on_error="skip", progress=False)
    assert report.problems == {"unreadable_file": 1} and report.num_documents == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_file_without_read_permission(tmp_path):
    path = tmp_path / "secret.jsonl"
    path.write_bytes(GOOD)
    path.chmod(0)
    with pytest.raises(infgram.InputError, match="Permission denied"):
        infgram.build([path], tmp_path / "index", progress=False)


def test_a_vanished_input_or_a_directory_named_like_a_file(tmp_path):
    gone, folder = tmp_path / "gone.jsonl", tmp_path / "folder.jsonl"
    folder.mkdir()
    records = list(inputs_module.read_records([gone, folder]))
    assert [r.kind for r in records] == ["unreadable_file", "unreadable_file"]
    assert "No such file" in records[0].message and "Is a directory" in records[1].message


def test_input_vanishing_before_the_build_reads_it(tmp_path, monkeypatch):
    gone = tmp_path / "gone.jsonl"
    monkeypatch.setattr(inputs_module, "expand_inputs", lambda paths, exclude=None: [gone])
    with pytest.raises(infgram.InputError, match=f"cannot read input {gone}: No such file"):
        infgram.build([gone], tmp_path / "index", progress=False)


def test_broken_link_in_an_input_directory_is_an_error(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.jsonl").write_bytes(GOOD)
    (corpus / "b.jsonl").symlink_to(tmp_path / "nowhere.jsonl")
    with pytest.raises(infgram.InputError, match="b.jsonl is a symbolic link to .*nowhere.jsonl, which does not exist"):
        infgram.build([corpus], tmp_path / "index", progress=False)


def test_file_names_with_control_characters_keep_errors_on_one_line(tmp_path):
    bad = tmp_path / "bad\nname\x1b.jsonl"
    bad.write_bytes(b"not json\n")
    result = run_cli("build", bad, "--out", tmp_path / "index", "--quiet")
    line = assert_one_line_error(result, "bad\\nname\\x1b.jsonl:1: ")
    assert "\x1b" not in line


# -- symlinked directories ------------------------------------------------------------------------

def test_symlinked_directories_are_followed_once(tmp_path):
    shared, corpus = tmp_path / "shared", tmp_path / "corpus"
    shared.mkdir()
    corpus.mkdir()
    (shared / "s.jsonl").write_bytes(GOOD)
    (corpus / "a.jsonl").write_bytes(GOOD)
    (corpus / "linked").symlink_to(shared)
    (corpus / "again").symlink_to(shared)  # a second link to the same directory: read once
    (shared / "loop").symlink_to(corpus)  # a cycle back up
    files = inputs_module.expand_inputs([corpus])
    assert files == [corpus / "a.jsonl", corpus / "again" / "s.jsonl"]
    report = infgram.build([corpus], tmp_path / "index", progress=False)
    assert report.num_documents == 2 and sorted(report.files) == sorted(map(str, files))


# -- the output side ------------------------------------------------------------------------------

def _good(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_bytes(_lines(50))
    return path


def test_output_under_a_file_is_a_build_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(infgram.BuildError, match="cannot write the index in .*file/index"):
        infgram.build([_good(tmp_path)], tmp_path / "file" / "index", progress=False)


def test_manifest_that_is_a_directory_or_garbage(tmp_path):
    corpus, out = _good(tmp_path), tmp_path / "index"
    infgram.build([corpus], out, progress=False)
    (out / "manifest.json").write_text("{garbage")
    with pytest.raises(infgram.BuildError, match="manifest.json cannot be read .*not valid JSON.*--overwrite"):
        infgram.build([corpus], out, progress=False)
    infgram.build([corpus], out, overwrite=True, progress=False)
    (out / "manifest.json").unlink()
    (out / "manifest.json").mkdir()
    with pytest.raises(infgram.BuildError, match="manifest.json cannot be read \\(Is a directory\\)"):
        infgram.build([corpus], out, progress=False)
    with pytest.raises(infgram.BuildError, match="cannot write the index in .*Is a directory"):
        infgram.build([corpus], out, overwrite=True, progress=False)


@pytest.mark.parametrize("damage", ["missing", "garbage", "a list", "wrong fields", "other counts"])
def test_missing_or_damaged_report_rebuilds_the_same_index(tmp_path, damage):
    corpus, out = _good(tmp_path), tmp_path / "index"
    infgram.build([corpus], out, shard_tokens=500, progress=False)
    files = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    report_path = out / "build-report.json"
    stored = json.loads(report_path.read_text())
    if damage == "missing":
        report_path.unlink()
    else:
        report_path.write_text({"garbage": "{not json", "a list": "[]", "wrong fields": '{"colour": 1}',
                                "other counts": json.dumps({**stored, "num_documents": 1})}[damage])
    report = infgram.build([corpus], out, shard_tokens=500, progress=False)
    assert not report.up_to_date and report.num_documents == 50
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == files
    assert infgram.build([corpus], out, shard_tokens=500, progress=False).up_to_date


@pytest.mark.parametrize("state", ["{not json", "[]", '{"fingerprint": 3}', '{"fingerprint": null, "shards": []}'])
def test_damaged_build_state_starts_over(tmp_path, state):
    corpus, out = _good(tmp_path), tmp_path / "index"
    out.mkdir()
    (out / "build-state.json").write_text(state)
    (out / "shard-00007").mkdir()  # a stale shard of the damaged state's build
    report = infgram.build([corpus], out, shard_tokens=500, progress=False)
    assert report.num_documents == 50 and not (out / "build-state.json").exists()
    assert not (out / "shard-00007").exists()
    fresh = tmp_path / "fresh"
    infgram.build([corpus], fresh, shard_tokens=500, progress=False)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == sorted(p.relative_to(fresh) for p in fresh.rglob("*"))


def test_recorded_shard_that_was_damaged_is_written_again(tmp_path):
    corpus, out = _good(tmp_path), tmp_path / "index"
    infgram.build([corpus], out, shard_tokens=500, progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    # Make it an interrupted build whose recorded shard-00000 lost a file.
    state = {"fingerprint": manifest["build"], "shards": {}}
    (out / "manifest.json").unlink()
    (out / "build-state.json").write_text(json.dumps(state))
    fresh = tmp_path / "fresh"
    infgram.build([corpus], fresh, shard_tokens=500, progress=False)
    (out / "shard-00000" / "metadata.bin").unlink()
    report = infgram.build([corpus], out, shard_tokens=500, progress=False)
    assert report.reused_shards == 0
    assert (out / "shard-00000" / "metadata.bin").read_bytes() == (fresh / "shard-00000" / "metadata.bin").read_bytes()


# -- the report -----------------------------------------------------------------------------------

def test_report_counts_shards_bytes_and_every_file(tmp_path):
    a, b, empty = tmp_path / "a.jsonl", tmp_path / "b.jsonl.gz", tmp_path / "c.jsonl"
    a.write_bytes(GOOD + b"\n" + b"[1]\n" + GOOD)
    b.write_bytes(gzip.compress(_lines(30)))
    empty.write_bytes(b"")
    out = tmp_path / "index"
    report = infgram.build([a, b, empty], out, shard_tokens=400, on_error="skip", progress=False)
    stored = json.loads((out / "build-report.json").read_text())
    assert stored["num_shards"] == report.num_shards == len(json.loads((out / "manifest.json").read_text())["shards"]) > 1
    assert stored["input_bytes"] == report.input_bytes == sum(p.stat().st_size for p in (a, b, empty))
    assert stored["files"] == {
        str(a): {"records_read": 4, "documents": 2, "blank_lines": 1, "problems": 1},
        str(b): {"records_read": 30, "documents": 30, "blank_lines": 0, "problems": 0},
        str(empty): {"records_read": 0, "documents": 0, "blank_lines": 0, "problems": 0},
    }
    _accounts_for_every_record(report)


def test_relative_and_absolute_paths_are_the_same_build(tmp_path, monkeypatch, capsys):
    corpus = _good(tmp_path)
    monkeypatch.chdir(tmp_path)
    infgram.build(["corpus.jsonl"], "index", progress=False)
    report = infgram.build([corpus], tmp_path / "index", progress=True)
    assert report.up_to_date
    assert "is up to date" in capsys.readouterr().out  # an up-to-date rerun says so


def test_progress_bar_says_it_counts_compressed_bytes(tmp_path, capsys):
    path = tmp_path / "c.jsonl.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(_lines(20)))
    infgram.build([path], tmp_path / "index", progress=True)
    assert "bytes on disk, compressed" in capsys.readouterr().err


# -- the memory budget ----------------------------------------------------------------------------

def test_budget_below_the_floor_is_warned_naming_the_floor(tmp_path):
    # In a fresh process: the floor is what the interpreter holds before any data, which in
    # this test process depends on what other tests imported before.
    from conftest import run_cli

    low = run_cli("build", _good(tmp_path), "--out", tmp_path / "index", "--memory", "20M", "--quiet")
    assert low.returncode == 0, low.stderr
    warnings_shown = [line for line in low.stderr.splitlines() if line.startswith("infgram: warning:")]
    assert len(warnings_shown) == 1 and re.search(r"take [\d,]+ MiB before any data", warnings_shown[0])
    enough = run_cli("build", _good(tmp_path), "--out", tmp_path / "index2", "--memory", "1G", "--quiet")
    assert enough.returncode == 0 and "warning" not in enough.stderr


def test_cgroup_limit_lowers_the_default_budget(tmp_path, monkeypatch):
    (tmp_path / "memory.max").write_text("max\n")
    assert plan.cgroup_memory_limit(tmp_path) is None
    (tmp_path / "memory.max").write_text("1073741824\n")
    assert plan.cgroup_memory_limit(tmp_path) == 2**30
    v1 = tmp_path / "v1"
    (v1 / "memory").mkdir(parents=True)
    (v1 / "memory" / "memory.limit_in_bytes").write_text("536870912\n")
    assert plan.cgroup_memory_limit(v1) == 2**29
    assert plan.cgroup_memory_limit(tmp_path / "none") is None
    monkeypatch.setattr(plan, "physical_memory_bytes", lambda: 64 * 2**30)
    monkeypatch.setattr(plan, "cgroup_memory_limit", lambda: 2**30)
    assert plan.default_memory_budget() == 2**29
    monkeypatch.setattr(plan, "cgroup_memory_limit", lambda: None)
    assert plan.default_memory_budget() == 32 * 2**30
