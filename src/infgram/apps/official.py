"""Official infini-gram indexes and infgram: record a tokenizer beside one (``infgram adopt``),
and write an index in the official layout (format version 4) for the tools built on the
official package (``infgram export --format infini-gram``).

**Adopt.** An official index does not record its tokenizer. ``adopt(directory, tokenizer)``
checks that the directory opens as an official index with that tokenizer, then writes our
sidecar beside it (:data:`~infgram.shards.official.SIDECAR_NAME`, and a copy of the
tokenizer file), so that every later open, from Python, the command line or a server, uses
it. It also writes the sampled keys of every shard's table
(:func:`~infgram.shards.official.write_official_keys`, 0.5 bytes per token), the RAM tier
that makes queries from disk a few rounds of reads. The official files are never written.

**Export.**

The official layout (see :mod:`infgram.shards.official`) differs from ours in three ways, and
the export undoes each: tokens are little-endian (ours are big-endian), each document's
separator comes before it (ours after), and the suffix array holds byte offsets sorted by raw
bytes (ours: token positions sorted by ids). So the export writes every document as the
separator then its little-endian ids, and sorts the suffixes again: all byte suffixes of the
shard's bytes are sorted by our suffix sorter (as 1-byte tokens), and those that start on a
token boundary are kept, which is exactly the official order.

Every file is written under a temporary name, flushed and renamed into place. The official
files carry no header (their format has none); infgram adds nothing to the directory.

>>> import tempfile, pathlib, infgram
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = infgram.build_from_documents(["a rose", "is a rose"], folder / "ours", progress=False)
>>> export_official(infgram.Index.open(folder / "ours"), folder / "theirs")
{'num_shards': 1, 'num_documents': 2, 'token_dtype': 'u8'}
>>> infgram.Index.open(folder / "theirs").count("rose")
2
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .. import _sort
from ..errors import QueryError
from ..query.index import Index
from ..shards.official import (
    SIDECAR_NAME,
    SIDECAR_TOKENIZER_NAME,
    is_official_directory,
    read_sidecar,
    write_official_keys,
    official_tokenizer,
    open_official_directory,
    pointer_width_of,
)
from ..tokenizer import load_tokenizer

_DTYPE_NAMES = {1: "u8", 2: "u16", 4: "u32"}


def _write_atomically(path: Path, payload: bytes) -> None:
    temporary = path.with_name(path.name + ".partial")
    try:
        with open(temporary, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        if temporary.exists():
            temporary.unlink()
        raise


def adopt(directory: str | Path, tokenizer: str | Path | None = None, keys: bool = True) -> dict[str, Any]:
    """Record ``tokenizer`` (a ``tokenizer.json`` path, or ``"bytes"``; None keeps the one
    recorded before, if any) and, with ``keys``, the sampled keys of every shard beside the
    official index in ``directory``; returns the sidecar's content.

    >>> import tempfile, pathlib, infgram
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> write_official_index(folder, [list(b"a rose")], token_width=1)
    >>> adopt(folder, "bytes")["tokenizer"]
    {'kind': 'bytes'}
    >>> infgram.Index.open(folder).count("rose")
    1
    """
    directory = Path(directory)
    if not is_official_directory(directory):
        raise QueryError(f"expected an official infini-gram index directory (tokenized.N, table.N, offset.N), found "
                         f"{directory}, which is not one; `infgram adopt` is for official indexes only")
    opened = open_official_directory(directory)
    entry: dict[str, Any] | None = read_sidecar(directory).get("tokenizer")
    if tokenizer is not None:
        official_tokenizer(opened, tokenizer)  # raises when it does not fit the index
        loaded = load_tokenizer(tokenizer)
        if loaded.kind == "bytes":
            entry = {"kind": "bytes"}
        else:
            payload = Path(tokenizer).read_bytes()
            _write_atomically(directory / SIDECAR_TOKENIZER_NAME, payload)
            entry = {"kind": loaded.kind, "file": SIDECAR_TOKENIZER_NAME,
                     "sha256": hashlib.sha256(payload).hexdigest()}
    sidecar: dict[str, Any] = {"format": "infgram-adopted", "version": 1, "token_width": opened.token_width}
    if entry:
        sidecar["tokenizer"] = entry
    if keys:
        sidecar["keys"] = {shard.name.rsplit(".", 1)[1]: write_official_keys(shard) for shard in opened.shards}
    _write_atomically(directory / SIDECAR_NAME, (json.dumps(sidecar, indent=2, sort_keys=True) + "\n").encode())
    return sidecar


def official_table(data: bytes, token_width: int) -> bytes:
    """The official suffix array of a shard's bytes: the byte offsets of the token-aligned
    suffixes, in raw byte order, each in ceil(log2(size) / 8) little-endian bytes.

    >>> official_table(bytes([255, 2, 1, 255, 1]), 1).hex()
    '0402010300'
    """
    order = np.empty(len(data), dtype=np.int64)
    _sort.sort_suffixes(data, 1, 0, order)
    aligned = order[order % token_width == 0] if token_width > 1 else order
    pointer_width = pointer_width_of(len(data))
    return np.ascontiguousarray(aligned.astype("<u8").view(np.uint8).reshape(-1, 8)[:, :pointer_width]).tobytes()


def write_official_index(directory: Path, documents: Sequence[Sequence[int]], token_width: int, num_shards: int = 1,
                         metadata: Sequence[dict[str, Any]] | None = None) -> None:
    """Write token-id documents as an official index in ``directory``: documents dealt
    round-robin to ``num_shards`` shards as the official indexer deals them, each shard's
    suffix array in the official order, metadata lines as ``{"path", "linenum", "metadata"}``
    unless given.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> write_official_index(folder, [[1, 2], [2]], token_width=1, num_shards=2)
    >>> sorted(path.name for path in folder.iterdir())[:4]
    ['metadata.0', 'metadata.1', 'metaoff.0', 'metaoff.1']
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    separator = b"\xff" * token_width
    for shard in range(num_shards):
        pieces: list[bytes] = []
        lines: list[bytes] = []
        offsets: list[int] = []
        line_offsets: list[int] = []
        size = metadata_size = 0
        for number in range(shard, len(documents), num_shards):
            piece = separator + np.asarray(documents[number], dtype=f"<u{token_width}").tobytes()
            offsets.append(size)
            pieces.append(piece)
            size += len(piece)
            entry = metadata[number] if metadata is not None else {"path": "", "linenum": number, "metadata": {}}
            line = (json.dumps(entry) + "\n").encode("utf-8")
            line_offsets.append(metadata_size)
            lines.append(line)
            metadata_size += len(line)
        data = b"".join(pieces)
        for key, payload in (("tokenized", data), ("table", official_table(data, token_width)),
                             ("offset", np.array(offsets, dtype="<u8").tobytes()), ("metadata", b"".join(lines)),
                             ("metaoff", np.array(line_offsets, dtype="<u8").tobytes())):
            _write_atomically(directory / f"{key}.{shard}", payload)


def export_official(index: Index, out: Path, num_shards: int | None = None) -> dict[str, Any]:
    """Write an open infgram index as an official infini-gram index in ``out`` (one official
    shard per shard of ours unless ``num_shards`` is given; documents keep their numbers when
    the shard counts match, and their metadata, as ``{"path": "", "linenum": number,
    "metadata": ...}``, or as it is when the index is an official one, which so comes out
    byte for byte as it was). Removed documents are written empty, so numbers stay."""
    if index.kind not in ("sa", "infini-gram", "fm"):
        raise QueryError(f"expected an index to export, found one of kind {index.kind!r}")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise QueryError(f"expected an empty or new folder to export into, found {out} with files in it; choose "
                         "another folder")
    shards = index.shards
    width = index.token_width
    removed = set(index.shard_set.removed_documents().tolist())
    documents: list[np.ndarray] = []
    metadata: list[dict[str, Any]] = []
    for shard_number, shard in enumerate(shards):
        first = int(index.shard_set.first_documents[shard_number])
        for local in range(shard.num_documents):
            number = first + local
            gone = number in removed
            documents.append(np.zeros(0, dtype=np.int64) if gone else shard.document_tokens(local).astype(np.int64))
            if index.kind == "infini-gram" and not gone:  # already the official line: kept as it is
                metadata.append(shard.documents.metadata(local))
            else:
                metadata.append({"path": "", "linenum": number, "metadata": {} if gone else shard.documents.metadata(local)})
    count = num_shards or len(shards)
    if count == len(shards) and len(shards) > 1:
        # One official shard per shard of ours, keeping document numbers: write each separately.
        for shard_number, shard in enumerate(shards):
            first = int(index.shard_set.first_documents[shard_number])
            part = slice(first, first + shard.num_documents)
            write_official_index(out / ".parts" / str(shard_number), documents[part], width, 1, metadata[part])
            for path in (out / ".parts" / str(shard_number)).iterdir():
                os.replace(path, out / f"{path.name.rsplit('.', 1)[0]}.{shard_number}")
            (out / ".parts" / str(shard_number)).rmdir()
        (out / ".parts").rmdir()
    else:
        write_official_index(out, documents, width, count, metadata)
    return {"num_shards": count, "num_documents": len(documents), "token_dtype": _DTYPE_NAMES[width]}
