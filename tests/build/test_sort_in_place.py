"""Sorting straight into the mapped ``suffix_array.bin`` (``sa_writer.sorts_in_place``).

Shards of 2^24 to 2^31 tokens have 4-byte pointers, the sorter's int32: their sort writes
into the file's payload, mapped (``AtomicFileWriter.map_payload``). Test corpora are far
smaller, so these tests give their shards 4-byte pointers and check that the mapped path
writes the same bytes as the copying one, answers like the brute-force reference, and leaves
nothing behind when the sort fails.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

import infgram
from infgram import _reference
from infgram.build import sa_writer
from infgram.errors import IndexFormatError
from infgram.format import HEADER_BYTES, KIND_SUFFIX_ARRAY, AtomicFileWriter, FileHeader, read_header

from conftest import files_of

DOCUMENTS = [f"{word} and {word} or the {index % 7} of {index % 3}" for index, word in
             enumerate(["alpha", "beta", "gamma", "delta", "alpha beta"] * 40)]


def _build(folder, monkeypatch, in_place: bool):
    monkeypatch.setattr(sa_writer, "pointer_width_for", lambda num_positions: 4)
    monkeypatch.setattr(sa_writer, "sorts_in_place", lambda num_positions, pointer_width: in_place)
    infgram.build_from_documents(DOCUMENTS, folder, shard_tokens=2_000, progress=False)
    return folder


def test_the_mapped_sort_writes_the_bytes_of_the_copying_one(tmp_path, monkeypatch):
    mapped = files_of(_build(tmp_path / "mapped", monkeypatch, True))
    copied = files_of(_build(tmp_path / "copied", monkeypatch, False))
    assert sorted(mapped) == sorted(copied)
    assert sum(name.endswith("suffix_array.bin") for name in mapped) > 1  # several shards
    for name in mapped:
        assert mapped[name] == copied[name], name
    header = read_header(tmp_path / "mapped" / "shard-00000" / "suffix_array.bin")
    assert header.pointer_width == 4 and header.complete


def test_an_index_sorted_in_place_answers_like_the_reference(tmp_path, monkeypatch):
    index = infgram.Index.open(_build(tmp_path / "index", monkeypatch, True))
    texts = [document.encode("utf-8") for document in DOCUMENTS]
    for query in ["alpha", "alpha beta", "of 1", "the 6 of", "zeta", "a"]:
        assert index.count(query) == _reference.count(texts, query.encode("utf-8")), query


def test_a_failed_sort_into_the_map_leaves_no_file(tmp_path, monkeypatch):
    def failing(tokens, token_width, out=None, threads=1):
        assert out is not None  # the mapped path
        raise RuntimeError("the sorter failed")
        yield

    monkeypatch.setattr(sa_writer, "sorted_positions", failing)
    with pytest.raises(RuntimeError, match="the sorter failed"):
        _build(tmp_path / "index", monkeypatch, True)
    assert not list((tmp_path / "index").rglob("suffix_array.bin*"))


def _writer(path, payload_bytes: int, width: int = 4) -> AtomicFileWriter:
    return AtomicFileWriter(path, FileHeader(KIND_SUFFIX_ARRAY, 1, width, payload_bytes // width, width))


def test_a_mapped_payload_is_hashed_and_committed_whole(tmp_path):
    writer = _writer(tmp_path / "a.bin", 4 * 5)
    payload = writer.map_payload(np.int32)
    payload[:] = [4, 3, 2, 1, 0]
    entry = writer.commit()
    data = (tmp_path / "a.bin").read_bytes()
    assert data[HEADER_BYTES:] == np.array([4, 3, 2, 1, 0], dtype="<i4").tobytes()
    assert entry == {"bytes": HEADER_BYTES + 20, "sha256": hashlib.sha256(data[HEADER_BYTES:]).hexdigest()}
    assert read_header(tmp_path / "a.bin").complete
    assert payload.tolist() == [4, 3, 2, 1, 0]  # the caller's view outlives the commit


def test_an_aborted_map_leaves_no_file(tmp_path):
    writer = _writer(tmp_path / "a.bin", 4 * 5)
    writer.map_payload(np.int32)[:] = 7
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_a_payload_is_mapped_only_before_any_write_and_in_whole_items(tmp_path):
    written = _writer(tmp_path / "a.bin", 8)
    written.write(b"\0" * 4)
    with pytest.raises(IndexFormatError, match="cannot map a.bin as int32 after 4 bytes written"):
        written.map_payload(np.int32)
    assert list(tmp_path.iterdir()) == []  # the refused writer is given up
    uneven = _writer(tmp_path / "b.bin", 6, width=2)
    with pytest.raises(IndexFormatError, match="for a payload of 6 bytes"):
        uneven.map_payload(np.int32)
    assert list(tmp_path.iterdir()) == []


def test_where_the_file_cannot_be_reserved_the_array_is_written_after_the_sort(tmp_path, monkeypatch):
    """A full disk (or a filesystem without posix_fallocate) refuses the reservation: the
    build sorts in memory and writes the file after, to the same bytes."""
    import errno
    import os

    copied = files_of(_build(tmp_path / "copied", monkeypatch, False))

    def full(descriptor, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    assert files_of(_build(tmp_path / "refused", monkeypatch, True)) == copied


def test_a_refused_map_leaves_the_writer_as_it_was(tmp_path, monkeypatch):
    import errno
    import os

    def unsupported(descriptor, offset, length):
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")

    monkeypatch.setattr(os, "posix_fallocate", unsupported)
    writer = _writer(tmp_path / "a.bin", 8)
    with pytest.raises(OSError, match="not supported"):
        writer.map_payload(np.int32)
    writer.write(np.array([5, 6], dtype="<i4"))
    entry = writer.commit()
    assert (tmp_path / "a.bin").read_bytes()[HEADER_BYTES:] == np.array([5, 6], dtype="<i4").tobytes()
    assert entry["bytes"] == HEADER_BYTES + 8
