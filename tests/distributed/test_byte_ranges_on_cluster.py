"""A cluster build that reads large files in byte ranges (cut small here, so that every file is
many units and many cuts fall inside long lines) writes the local build's index and report,
byte for byte: documents in input order, every line accounted for, problems named by their
line in the whole file, failures with the local message, and builds that resume."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest

from cluster_fixtures import cluster, index_files  # noqa: E402,F401 (fixtures; sets the loopback variable)
from conftest import on_shard_thread

pytest.importorskip("ray", reason='ray is not installed: pip install "infgram[ray]" to run these tests')

# One pytest-xdist worker runs every test of a Ray cluster, one cluster at a time (--dist loadgroup).
pytestmark = pytest.mark.xdist_group("ray")

import infgram  # noqa: E402
import infgram.distributed  # noqa: E402
from infgram.build import sa_writer  # noqa: E402
from infgram.distributed.builder import KILL_ONCE_VARIABLE, plan_units  # noqa: E402
from infgram.errors import InputError  # noqa: E402

WORDS = "alpha beta gamma delta epsilon λ μ 猫 🐈".split()


def _corpus(folder: Path, seed: int = 11) -> Path:
    """JSON Lines files with CRLF and LF line ends, blank lines, bad lines, empty documents, a
    long line, a file without a final line break, an empty file and a compressed file."""
    rng = random.Random(seed)
    folder.mkdir()

    def rows(count: int) -> list[str]:
        found = [json.dumps({"text": " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 30))), "n": n},
                            ensure_ascii=False) for n in range(count)]
        found.insert(rng.randrange(count), "")
        found.insert(rng.randrange(count), "{not json")
        found.insert(rng.randrange(count), json.dumps({"text": ""}))
        found.insert(rng.randrange(count), json.dumps({"text": "long " * 400}))
        return found

    (folder / "a.jsonl").write_bytes("\r\n".join(rows(300)).encode() + b"\r\n")
    (folder / "b.jsonl").write_bytes("\n".join(rows(200)).encode())  # no final line break
    (folder / "c.jsonl").write_bytes(b"")
    (folder / "d.jsonl.gz").write_bytes(gzip.compress(("\n".join(rows(100)) + "\n").encode()))
    (folder / "e.json").write_bytes(("\n".join(rows(150)) + "\n").encode())
    return folder


@pytest.mark.parametrize("range_bytes, shard_tokens", [(1, 20_000), (700, 4_000), (5_000, None)])
def test_a_build_in_byte_ranges_is_byte_identical(cluster, tmp_path, index_files, range_bytes, shard_tokens):
    corpus = _corpus(tmp_path / "corpus")
    files = sorted(corpus.iterdir())
    units = plan_units(files, range_bytes)
    assert len(units) > 3 * len(files), "the files are cut into many ranges"
    assert [unit.whole_reason for unit in plan_units(files, 1) if unit.path.name == "d.jsonl.gz"] == [
        "compressed (gz): its stream can only be read from the start"]
    options = {"on_error": "skip", "shard_tokens": shard_tokens, "memory": "4G" if shard_tokens is None else None}
    local = infgram.build([corpus], tmp_path / "local", progress=False, **options)
    remote = infgram.distributed.build([corpus], tmp_path / "ray", progress=False, range_bytes=range_bytes, **options)
    assert index_files(tmp_path / "ray") == index_files(tmp_path / "local")  # the report and manifest too
    assert remote.files == local.files and remote.first_problems == local.first_problems
    assert local.problems and local.blank_lines
    assert not list(tmp_path.glob(".*.ray-work")), "the unit files are removed"


def test_a_failing_line_in_a_later_range_fails_with_the_local_message(cluster, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    lines = [json.dumps({"text": f"line {n} alpha"}) for n in range(500)]
    lines[431] = "{not json"
    (corpus / "a.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as local:
        infgram.build([corpus], tmp_path / "local", progress=False)
    with pytest.raises(InputError) as remote:
        infgram.distributed.build([corpus], tmp_path / "ray", progress=False, range_bytes=300)
    assert str(remote.value) == str(local.value)
    assert "a.jsonl:432: expected one JSON object per line" in str(local.value)


def test_a_killed_range_reader_is_retried_to_the_same_bytes(cluster, tmp_path, monkeypatch, index_files):
    corpus = _corpus(tmp_path / "corpus")
    infgram.build([corpus], tmp_path / "local", progress=False, on_error="skip", shard_tokens=8_000)
    marker = tmp_path / "killed"
    monkeypatch.setenv(KILL_ONCE_VARIABLE, f"unit-read:{marker}")
    infgram.distributed.build([corpus], tmp_path / "ray", progress=False, on_error="skip", shard_tokens=8_000,
                              range_bytes=2_000)
    assert marker.exists(), "a reader was killed"
    assert index_files(tmp_path / "ray") == index_files(tmp_path / "local")


def test_an_interrupted_local_build_resumes_on_the_cluster_in_byte_ranges(cluster, tmp_path, monkeypatch, index_files):
    corpus = _corpus(tmp_path / "corpus")
    options = {"on_error": "skip", "shard_tokens": 5_000}
    infgram.build([corpus], tmp_path / "fresh", progress=False, **options)
    original = sa_writer.sorted_positions

    def fails_on_the_third(tokens, token_width, out=None, threads=1):
        if on_shard_thread(2):
            raise KeyboardInterrupt
        yield from original(tokens, token_width, out, threads)

    monkeypatch.setattr(sa_writer, "sorted_positions", fails_on_the_third)
    with pytest.raises(BaseException):
        infgram.build([corpus], tmp_path / "index", progress=False, **options)
    monkeypatch.setattr(sa_writer, "sorted_positions", original)
    resumed = infgram.distributed.build([corpus], tmp_path / "index", progress=False, range_bytes=1_000, **options)
    assert resumed.reused_shards >= 1
    assert index_files(tmp_path / "index") == index_files(tmp_path / "fresh")
