"""Superseded files go as soon as no reader holds their generation (see infgram.format.readers),
and ``info`` counts them apart from the index meanwhile."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import infgram
from infgram.format import readers
from infgram.format.readers import held_generations

TEXTS = ["a rose is a rose", "a rose was red", "is it", "red was the rose"]


def _index(tmp_path: Path) -> Path:
    infgram.build_from_documents(TEXTS, tmp_path / "index", progress=False)
    infgram.remove(tmp_path / "index", documents=[0], progress=False)
    return tmp_path / "index"


def _on_disk(directory: Path) -> int:
    return sum(f.stat().st_size for f in directory.rglob("*") if f.is_file())


def test_compact_with_no_reader_frees_the_old_shards_at_once(tmp_path):
    directory = _index(tmp_path)
    report = infgram.compact(directory, progress=False)
    assert report.details["freed_bytes"] > 0
    info = infgram.Index.open(directory).info()
    assert info["garbage_bytes"] == 0 and not (directory / "shard-00000").exists()
    assert info["index_bytes"] + info["other_bytes"] == _on_disk(directory)


def test_a_reader_keeps_its_generation_until_it_lets_go(tmp_path):
    directory = _index(tmp_path)
    reader = infgram.Index.open(directory)
    assert held_generations(directory) == [1]
    report = infgram.compact(directory, progress=False)
    assert report.details["freed_bytes"] is None  # generation 1 is held
    assert (directory / "shard-00000" / "tokens.bin").exists()
    assert reader.count("rose") == 2 and reader.document(1).text == "a rose was red"
    info = infgram.Index.open(directory).info()
    assert info["garbage_bytes"] > 0 and info["generation"] == 2
    assert info["index_bytes"] + info["garbage_bytes"] + info["other_bytes"] == _on_disk(directory)
    assert info["bytes_per_token"] == round(info["index_bytes"] / info["num_tokens"], 3)
    reader.close()
    report = infgram.remove(directory, documents=[2], progress=False)
    assert report.details["freed_bytes"] is not None
    assert infgram.Index.open(directory).info()["garbage_bytes"] == 0


def test_reload_lets_the_old_generation_go(tmp_path):
    directory = _index(tmp_path)
    reader = infgram.Index.open(directory)
    infgram.remove(directory, documents=[1], progress=False)
    assert reader.reload() and reader.generation == 2
    assert held_generations(directory) == [2]
    assert infgram.compact(directory, progress=False).details["freed_bytes"] is None  # 2 is held by the reader
    reader.reload()
    assert held_generations(directory) == [3]


def test_a_reader_in_another_process_holds_its_generation(tmp_path):
    directory = _index(tmp_path)
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, infgram
        index = infgram.Index.open({str(directory)!r})
        print(index.count("rose"), flush=True)
        sys.stdin.read()  # holds generation 1 until the test closes stdin
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "2"
        assert infgram.compact(directory, progress=False).details["freed_bytes"] is None
        assert (directory / "shard-00000").exists()
    finally:
        child.stdin.close()
        child.wait(timeout=60)
    assert infgram.remove(directory, documents=[2], progress=False).details["freed_bytes"] > 0
    assert not (directory / "shard-00000").exists()


def test_a_reader_opening_while_a_change_commits_opens_the_new_generation(tmp_path, monkeypatch):
    """The hold is taken before the manifest is trusted: a change committed in between makes
    the reader start over, so it never opens files a change may be deleting."""
    directory = _index(tmp_path)
    take = readers.ReaderHold.take.__func__
    changed = []

    def take_after_a_change(cls, folder, generation):
        if not changed:
            changed.append(generation)
            infgram.compact(directory, progress=False)  # generation 2 commits; 1's files go at once
        return take(cls, folder, generation)

    monkeypatch.setattr(readers.ReaderHold, "take", classmethod(take_after_a_change))
    index = infgram.Index.open(directory)
    assert changed == [1] and index.generation == 2 and index.count("rose") == 2
    assert [hold.generation for hold in index.holds] == [2]
