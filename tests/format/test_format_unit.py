"""format.py: file headers, pointer and token widths, atomic writers, the manifest reader."""

from __future__ import annotations

import json

import numpy as np
import pytest

import infgram
from infgram import format as fmt
from infgram.format import (
    HEADER_BYTES,
    KIND_DOCUMENTS,
    KIND_METADATA,
    KIND_SUFFIX_ARRAY,
    KIND_TOKENS,
    MAGIC,
    AtomicFileWriter,
    FileHeader,
    pointer_width_for,
    read_header,
    token_dtype,
)


def _write(path, header: FileHeader, payload: bytes) -> None:
    path.write_bytes(header.pack() + payload)


@pytest.mark.parametrize("header", [
    FileHeader(KIND_TOKENS, 1, 0, 10, 1),
    FileHeader(KIND_TOKENS, 4, 0, 3, 4),
    FileHeader(KIND_SUFFIX_ARRAY, 2, 5, 7, 5),
    FileHeader(KIND_DOCUMENTS, 2, 0, 2, 16),
    FileHeader(KIND_METADATA, 1, 0, 0, 1),
])
def test_header_pack_and_read_round_trip(tmp_path, header):
    packed = header.pack()
    assert len(packed) == HEADER_BYTES == 64
    assert packed[:8] == MAGIC and packed[8:10] == b"\x01\x00" and packed[10:14] == header.kind
    assert packed[25] == 1 and packed[26:] == bytes(38)
    path = tmp_path / "file.bin"
    _write(path, header, bytes(header.payload_bytes))
    assert read_header(path) == header


def test_header_layout_is_little_endian():
    packed = FileHeader(KIND_SUFFIX_ARRAY, 2, 3, 0x0102030405, 3).pack()
    assert packed[14] == 2 and packed[15] == 3
    assert packed[16:24] == (0x0102030405).to_bytes(8, "little")
    assert packed[24] == 3


def test_read_header_rejects_damage(tmp_path):
    header = FileHeader(KIND_TOKENS, 1, 0, 4, 1)
    path = tmp_path / "t.bin"
    with pytest.raises(infgram.IndexFormatError, match="missing"):
        read_header(path)
    path.write_bytes(header.pack()[:30])
    with pytest.raises(infgram.IndexFormatError, match="shorter than the 64-byte header"):
        read_header(path)
    path.write_bytes(b"NOTMAGIC" + header.pack()[8:] + b"abcd")
    with pytest.raises(infgram.IndexFormatError, match="magic"):
        read_header(path)
    path.write_bytes(header.pack()[:8] + b"\x02\x00" + header.pack()[10:] + b"abcd")
    with pytest.raises(infgram.IndexFormatError, match="format version 2"):
        read_header(path)
    path.write_bytes(FileHeader(KIND_TOKENS, 1, 0, 4, 1, complete=False).pack() + b"abcd")
    with pytest.raises(infgram.IncompleteIndexError):
        read_header(path)
    path.write_bytes(header.pack() + b"abc")
    with pytest.raises(infgram.IndexFormatError, match="promises 68"):
        read_header(path)


@pytest.mark.parametrize("positions, width", [
    (1, 1), (2, 1), (256, 1), (257, 2), (65536, 2), (65537, 3), (2**24, 3), (2**24 + 1, 4),
    (2**32, 4), (2**32 + 1, 5), (2**40, 5), (2**40 + 1, 6), (2**64, 8),
])
def test_pointer_width_for(positions, width):
    assert pointer_width_for(positions) == width
    # The largest position, positions - 1, fits in `width` bytes and not in one fewer.
    assert positions - 1 < 256**width
    assert width == 1 or positions - 1 >= 256 ** (width - 1)


@pytest.mark.parametrize("width", [1, 2, 4])
def test_token_dtype_is_big_endian(width):
    dtype = token_dtype(width)
    assert dtype.itemsize == width and dtype.kind == "u"
    ids = np.array([1, 2**(8 * width) - 2], dtype=dtype)
    raw = ids.tobytes()
    assert raw[:width] == (1).to_bytes(width, "big")
    # Byte order equals numeric order: what the suffix sort relies on.
    assert sorted([ids[:1].tobytes(), ids[1:].tobytes()]) == [ids[:1].tobytes(), ids[1:].tobytes()]


def test_atomic_writer_commit_and_abort(tmp_path):
    header = FileHeader(KIND_METADATA, 1, 0, 5, 1)
    writer = AtomicFileWriter(tmp_path / "m.bin", header)
    assert not (tmp_path / "m.bin").exists()
    # While being written the file carries complete = 0 under a temporary name.
    writer.write(b"he")
    writer._handle.flush()
    with pytest.raises(infgram.IncompleteIndexError):
        read_header(tmp_path / "m.bin.partial")
    writer.write(np.frombuffer(b"llo", dtype=np.uint8))
    entry = writer.commit()
    assert entry["bytes"] == 69 and len(entry["sha256"]) == 64
    assert read_header(tmp_path / "m.bin") == header
    assert fmt.file_sha256(tmp_path / "m.bin") == entry["sha256"]
    assert not (tmp_path / "m.bin.partial").exists()

    short = AtomicFileWriter(tmp_path / "short.bin", header)
    short.write(b"abc")
    with pytest.raises(infgram.IndexFormatError, match="internal error"):
        short.commit()
    assert not (tmp_path / "short.bin").exists() and not (tmp_path / "short.bin.partial").exists()

    aborted = AtomicFileWriter(tmp_path / "aborted.bin", header)
    aborted.write(b"ab")
    aborted.abort()
    assert list(tmp_path.glob("aborted*")) == []


def test_write_json_atomically_is_sorted_and_stable(tmp_path):
    fmt.write_json_atomically(tmp_path / "x.json", {"b": 1, "a": {"d": "é", "c": [1, 2]}})
    text = (tmp_path / "x.json").read_text(encoding="utf-8")
    assert text.index('"a"') < text.index('"b"') and "é" in text and text.endswith("\n")
    assert json.loads(text) == {"a": {"c": [1, 2], "d": "é"}, "b": 1}
    assert not (tmp_path / "x.json.partial").exists()


def test_read_manifest(tmp_path):
    with pytest.raises(infgram.IndexFormatError, match="does not exist"):
        fmt.read_manifest(tmp_path / "none")
    with pytest.raises(infgram.IndexFormatError, match="not an infgram index"):
        fmt.read_manifest(tmp_path)
    (tmp_path / "build-state.json").write_text("{}")
    with pytest.raises(infgram.IncompleteIndexError):
        fmt.read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "infgram-index", "format_version": 2, "index_kind": "sa", "x": 1}))
    assert fmt.read_manifest(tmp_path)["x"] == 1
    # Version 1 named the suffix-array kind "suffix_array": such manifests are read as version 2.
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "infgram-index", "format_version": 1, "index_kind": "suffix_array"}))
    assert fmt.read_manifest(tmp_path)["index_kind"] == "sa"
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "infgram-index", "format_version": 2, "index_kind": "tree"}))
    with pytest.raises(infgram.IndexFormatError, match="kind 'tree'"):
        fmt.read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "other", "format_version": 1}))
    with pytest.raises(infgram.IndexFormatError, match="expected format 'infgram-index'"):
        fmt.read_manifest(tmp_path)
