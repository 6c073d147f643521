"""Reading corpora: JSON Lines, plain text and Parquet, optionally gzip or zstd compressed.

Every record read is either a :class:`SourceDocument` or an :class:`InputProblem`, never
silently dropped, so the builder can account for every input line. Blank lines of a JSON
Lines file are counted but are not documents.

Accepted names (compression suffix optional): ``*.jsonl``, ``*.json`` (one object per line),
``*.txt`` (the whole file is one document), ``*.parquet`` (one document per row). Any other
name is an error: a corpus silently missing a file is worse than a build that stops.

Directories are read recursively in sorted order, skipping hidden names (``.git``) and
following symbolic links to directories; a directory reached twice (a link cycle, or two
links to one directory) is read once, where it is first reached. A broken link, a file
that cannot be opened, a truncated or corrupt ``.gz``/``.zst`` stream and a damaged Parquet
file are problems (``unreadable_file``, ``truncated_file``) naming the file and the last
record read: they stop the build under ``on_error="fail"`` and are counted and listed
under ``"skip"``, like bad records.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from ..errors import InputError, shown

FORMATS = ("jsonl", "json", "txt", "parquet")
COMPRESSIONS = ("gz", "zst")

# Problem kinds, as reported in the build report.
INVALID_JSON = "invalid_json"
NOT_AN_OBJECT = "not_an_object"
MISSING_TEXT_FIELD = "missing_text_field"
INVALID_UTF8 = "invalid_utf8"
EMPTY_DOCUMENT = "empty_document"
TOKEN_OUT_OF_RANGE = "token_out_of_range"
DOCUMENT_TOO_LARGE = "document_too_large"
TRUNCATED_FILE = "truncated_file"
UNREADABLE_FILE = "unreadable_file"

_COMPRESSED_CHUNK = 1 << 16
"""Compressed bytes fed to the zstd decompressor at a time (its output for them is held at once)."""


@dataclass
class SourceDocument:
    """One document: its text (or token ids), its metadata, and where it came from."""

    text: str | None
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str = "<python>"
    line: int = 0
    ids: np.ndarray | None = None


@dataclass
class InputProblem:
    """A record that could not be indexed; ``line`` is 1-based (row for Parquet, 0 for .txt)."""

    source: str
    line: int
    kind: str
    message: str

    def describe(self) -> str:
        where = f"{shown(self.source)}:{self.line}" if self.line else shown(self.source)
        return f"{where}: {self.message}"


@dataclass
class BlankLine:
    source: str
    line: int


Record = SourceDocument | InputProblem | BlankLine


def input_format(path: Path) -> tuple[str, str | None]:
    """The (format, compression) of a path, from its name.

    >>> input_format(Path("data/part-1.jsonl.zst"))
    ('jsonl', 'zst')
    >>> input_format(Path("notes.txt"))
    ('txt', None)
    """
    suffixes = [s.lstrip(".").lower() for s in path.suffixes]
    compression = None
    if suffixes and suffixes[-1] in COMPRESSIONS:
        compression = suffixes.pop()
    if suffixes and suffixes[-1] in FORMATS:
        return suffixes[-1], compression
    raise InputError(
        f"cannot read {shown(path)}: expected a name ending in "
        + ", ".join(f".{f}" for f in FORMATS)
        + " (optionally followed by .gz or .zst), found "
        + (f"'{shown(''.join(path.suffixes))}'" if path.suffixes else "no extension")
        + "; rename the file or leave it out of the inputs"
    )


def expand_inputs(paths: Iterable[str | Path], exclude: Path | None = None) -> list[Path]:
    """Files named directly, and the files below named directories (sorted, hidden ones
    skipped, links to directories followed once; see the module's docstring).

    Files below ``exclude`` (the index being written, when it lies inside an input
    directory) are left out.
    """
    files: list[Path] = []
    excluded = exclude.resolve() if exclude is not None else None
    for raw in paths:
        path = Path(raw)
        try:
            is_dir, is_file = path.is_dir(), path.is_file()
        except OSError as error:
            raise InputError(f"cannot look at input {shown(path)}: {_os_reason(error)}; check the path and its permissions") from None
        if is_dir:
            found = sorted(_files_below(path, excluded))
            for child in found:
                input_format(child)
            files.extend(found)
        elif is_file:
            input_format(path)
            files.append(path)
        elif path.is_symlink():
            raise InputError(f"input {shown(path)} is a symbolic link to {shown(os.readlink(path))}, which does not exist; "
                             "fix or remove the link")
        elif path.exists():
            raise InputError(f"input {shown(path)} is neither a file nor a directory; pass corpus files or directories")
        else:
            raise InputError(f"input {shown(path)} does not exist; check the path")
    if not files:
        raise InputError("no input files: pass files or directories holding .jsonl, .json, .txt or .parquet files")
    return files


def _files_below(root: Path, excluded: Path | None) -> list[Path]:
    """Every non-hidden file below ``root``, following links to directories; a directory
    already read (by its device and inode) is not read again, which also ends link cycles."""
    found: list[Path] = []
    seen: set[tuple[int, int]] = set()
    pending = [root]
    while pending:
        directory = pending.pop()
        try:
            status = directory.stat()
            if (status.st_dev, status.st_ino) in seen:
                continue
            seen.add((status.st_dev, status.st_ino))
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except OSError as error:
            raise InputError(f"cannot list input directory {shown(directory)}: {_os_reason(error)}; "
                             "check its permissions or leave it out of the inputs") from None
        children = []
        for entry in entries:
            path = Path(entry.path)
            if entry.name.startswith(".") or (excluded is not None and path.resolve().is_relative_to(excluded)):
                continue
            try:
                if entry.is_dir():
                    children.append(path)
                elif entry.is_file():
                    found.append(path)
                elif entry.is_symlink():
                    raise InputError(f"{shown(path)} is a symbolic link to {shown(os.readlink(path))}, which does not "
                                     "exist; fix or remove the link (or hide it with a name starting with '.')")
                else:
                    raise InputError(f"{shown(path)} is neither a file nor a directory (a pipe, socket or device); "
                                     "move it out of the input directory")
            except OSError as error:
                raise InputError(f"cannot look at {shown(path)}: {_os_reason(error)}; check its permissions") from None
        pending.extend(reversed(children))
    return found


def _os_reason(error: OSError) -> str:
    """What an OSError says, without the file name (messages name the file themselves)."""
    return error.strerror or str(error) or type(error).__name__


class _CountingReader(io.RawIOBase):
    """Wraps a binary file and reports the bytes read so far, for progress bars."""

    def __init__(self, handle: io.BufferedReader, on_read: Callable[[int], None]):
        self._handle = handle
        self._on_read = on_read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self._handle.readinto(buffer)
        if n:
            self._on_read(n)
        return n

    def close(self) -> None:
        self._handle.close()
        super().close()


class _TruncatedStream(EOFError):
    """A compressed file ends before the end of its stream."""


class _DamagedFile(Exception):
    """A file's contents cannot be decoded further; the message says why (no file name)."""


class _ZstdReader(io.RawIOBase):
    """Decompresses a zstd file frame by frame and raises :class:`_TruncatedStream` when the
    file ends inside a frame: zstandard's own stream reader then just stops, and the rest of
    the file would be lost without a word."""

    def __init__(self, raw: io.BufferedIOBase):
        import zstandard

        self._raw = raw
        self._decompressor = zstandard.ZstdDecompressor()
        self._frame = self._decompressor.decompressobj()
        self._in_frame = False
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            data = self._raw.read(_COMPRESSED_CHUNK)
            if not data:
                if self._in_frame:
                    raise _TruncatedStream("the zstd stream ends inside a frame")
                return 0
            self._pending = memoryview(self._decompress(data))
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def _decompress(self, data: bytes) -> bytes:
        out = []
        while data:
            out.append(self._frame.decompress(data))
            self._in_frame = True
            if not self._frame.eof:
                break
            data = self._frame.unused_data  # the next frame's start, if any
            self._frame = self._decompressor.decompressobj()
            self._in_frame = False
        return b"".join(out)

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_input(path: Path, compression: str | None, on_read: Callable[[int], None] = lambda n: None) -> io.BufferedIOBase:
    """A binary stream of an input file's bytes, decompressed (``compression``: None, "gz"
    or "zst", as :func:`input_format` gives it); ``on_read`` hears the bytes read from disk."""
    raw = io.BufferedReader(_CountingReader(open(path, "rb"), on_read), buffer_size=1 << 20)
    if compression == "gz":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if compression == "zst":
        return io.BufferedReader(_ZstdReader(raw), buffer_size=1 << 20)
    return raw


def _read_error_types() -> tuple[type[BaseException], ...]:
    """What reading a file may raise when the file (not the program) is at fault."""
    types: tuple[type[BaseException], ...] = (OSError, EOFError, zlib.error, _DamagedFile)
    try:
        import zstandard

        types += (zstandard.ZstdError,)
    except ImportError:
        pass
    return types


def _guarded(path: Path, compression: str | None, unit: str, records: Iterator[Record]) -> Iterator[Record]:
    """The records of one file; a file that cannot be read to its end ends in a problem that
    names it and the last record read, instead of an exception or a silent stop."""
    source = str(path)
    last = 0
    try:
        for record in records:
            last = record.line
            yield record
    except _read_error_types() as error:
        read = f"after {unit} {last:,} ({last:,} {unit}s read)" if last else f"before its first {unit}"
        stream = {"gz": "gzip", "zst": "zstd"}.get(compression or "", "")
        if isinstance(error, EOFError):
            yield InputProblem(source, 0, TRUNCATED_FILE,
                               f"the file is truncated: its {stream} stream ends before its end marker, {read}; "
                               "the rest of the file is lost: download or compress it again")
        elif isinstance(error, OSError) and not isinstance(error, gzip.BadGzipFile):
            yield InputProblem(source, 0, UNREADABLE_FILE,
                               f"cannot read the file ({_os_reason(error)}) {read}; check that it exists and is readable")
        else:
            what = f"valid {stream} data" if stream and not isinstance(error, _DamagedFile) else "a readable file"
            yield InputProblem(source, 0, UNREADABLE_FILE,
                               f"expected {what}, found damaged data ({shown(error)}) {read}; "
                               "check the file, or download or compress it again")


def text_or_problem(text: Any, source: str, line: int, text_field: str) -> str | InputProblem:
    if not isinstance(text, str):
        found = "nothing" if text is None else f"a {type(text).__name__}"
        return InputProblem(
            source, line, MISSING_TEXT_FIELD,
            f"expected a string in field {text_field!r}, found {found}; fix the record or pass --text-field",
        )
    if not text:
        return InputProblem(source, line, EMPTY_DOCUMENT, "the document is empty")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            return InputProblem(
                source, line, INVALID_UTF8,
                f"the text holds an unpaired surrogate at character {error.start} that has no UTF-8 form; fix the record",
            )
    return text


def _read_jsonl(path: Path, compression: str | None, text_field: str, on_read) -> Iterator[Record]:
    source = str(path)
    with open_input(path, compression, on_read) as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                yield BlankLine(source, line_number)
                continue
            try:
                record = json.loads(line)
            except RecursionError:
                yield InputProblem(
                    source, line_number, INVALID_JSON,
                    "expected one JSON object per line, found JSON nested too deeply to read (about a thousand "
                    "levels); flatten the record",
                )
                continue
            except UnicodeDecodeError as error:
                yield InputProblem(
                    source, line_number, INVALID_UTF8,
                    f"the line is not valid UTF-8 (byte {error.start}: {line[error.start:error.start + 1]!r}); re-encode the file as UTF-8",
                )
                continue
            except ValueError as error:
                yield InputProblem(
                    source, line_number, INVALID_JSON,
                    f"expected one JSON object per line, found invalid JSON ({shown(error)}); fix the line",
                )
                continue
            if not isinstance(record, dict):
                yield InputProblem(
                    source, line_number, NOT_AN_OBJECT,
                    f"expected a JSON object per line, found a JSON {type(record).__name__}; wrap it as {{\"{text_field}\": ...}}",
                )
                continue
            text = text_or_problem(record.pop(text_field, None), source, line_number, text_field)
            if isinstance(text, InputProblem):
                yield text
            else:
                yield SourceDocument(text, record, source, line_number)


def _read_txt(path: Path, compression: str | None, on_read) -> Iterator[Record]:
    source = str(path)
    with open_input(path, compression, on_read) as handle:
        data = handle.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        yield InputProblem(source, 0, INVALID_UTF8, f"the file is not valid UTF-8 (at byte {error.start}); re-encode it as UTF-8")
        return
    result = text_or_problem(text, source, 0, "text")
    yield result if isinstance(result, InputProblem) else SourceDocument(text, {"path": source}, source, 0)


def _read_parquet(path: Path, compression: str | None, text_field: str, on_read) -> Iterator[Record]:
    import pyarrow
    import pyarrow.parquet as pq

    source = str(path)
    if compression is None:
        handle: Any = open(path, "rb")  # Parquet is read by seeking to its footer, not streamed
        on_read(path.stat().st_size)
    else:
        with open_input(path, compression, on_read) as compressed:
            handle = io.BytesIO(compressed.read())
    with handle:
        try:
            parquet = pq.ParquetFile(handle)
        except Exception as error:  # pyarrow raises ArrowInvalid and friends
            raise InputError(f"cannot read {shown(path)} as Parquet ({shown(error)}); check that it is a Parquet file") from None
        if text_field not in parquet.schema_arrow.names:
            raise InputError(
                f"{shown(path)} has no column {text_field!r} (columns: {shown(', '.join(parquet.schema_arrow.names))}); "
                "pass --text-field with the column that holds the text"
            )
        row = 0
        batches = parquet.iter_batches(batch_size=4096)
        while True:
            try:
                batch = next(batches, None)
            except (pyarrow.ArrowException, OSError, ValueError) as error:
                raise _DamagedFile(f"Parquet: {error}") from None
            if batch is None:
                return
            for record in batch.to_pylist():
                row += 1
                text = text_or_problem(record.pop(text_field, None), source, row, text_field)
                if isinstance(text, InputProblem):
                    yield text
                else:
                    yield SourceDocument(text, record, source, row)


def read_records(files: list[Path], text_field: str = "text", on_read: Callable[[int], None] = lambda n: None) -> Iterator[Record]:
    """Every record of every file, in order; a file that cannot be read to its end ends in a
    ``truncated_file`` or ``unreadable_file`` problem."""
    for path in files:
        fmt, compression = input_format(path)
        if fmt in ("jsonl", "json"):
            records, unit = _read_jsonl(path, compression, text_field, on_read), "line"
        elif fmt == "txt":
            records, unit = _read_txt(path, compression, on_read), "line"
        else:
            records, unit = _read_parquet(path, compression, text_field, on_read), "row"
        yield from _guarded(path, compression, unit, records)
