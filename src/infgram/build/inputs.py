"""Reading corpora: JSON Lines, JSON arrays, text, Markdown, HTML, CSV, Parquet, Arrow and datasets.

Every record read is either a :class:`SourceDocument` or an :class:`InputProblem`, never
silently dropped, so the builder can account for every input line. Blank lines of a JSON
Lines or CSV file are counted but are not documents.

Accepted names, by their last suffix (a compression suffix ``.gz``, ``.zst``, ``.bz2`` or
``.xz`` may follow):

* ``*.jsonl``: one JSON object per line. ``*.json``: the same, or one JSON array of objects
  (when the file starts with ``[``), read element by element (:mod:`.json_array`).
* ``*.csv``, ``*.tsv``: a header row naming the columns, then one record per row (Python's
  ``csv`` module, Excel's dialect: fields holding the delimiter, quotes or line breaks are
  quoted). Every value is a string.
* ``*.parquet``: one record per row. ``*.arrow``: an Arrow IPC stream (or file), one record
  per row, read batch by batch; ``datasets``' ``save_to_disk`` writes these.
* ``*.txt``, ``*.text``, ``*.md``, ``*.markdown``, ``*.rst``: the whole file is one document.
* ``*.html``, ``*.htm``: the page's visible text is one document (:mod:`.html_text`).

In records with fields, the text field(s) (``--text-field``, see :mod:`.fields`) make the
document and every other field or column its metadata. A file of any other name is an
error, or with ``on_error="skip"`` an ``unknown_format`` problem: listed, never silent;
unless an ``--include`` pattern names it, or ``format="text"`` (``--format text``) is given:
then it is read as plain text, one document, its bytes decoded as UTF-8 with each invalid
byte sequence replaced by U+FFFD (a compression suffix is still undone). The build report
says how each file was read (:func:`reading_of`).

Directories are read recursively in sorted order (choosing files as :mod:`.selection`
says), following symbolic links to directories; a directory reached twice (a link cycle,
or two links to one directory) is read once, where it is first reached. URLs are read
through fsspec (:mod:`.remote`), ``datasets`` objects batch by batch (:mod:`.hf_datasets`).
A broken link, a file that cannot be opened, a truncated or corrupt compressed stream and
a damaged Parquet or Arrow file are problems (``unreadable_file``, ``truncated_file``)
naming the file and the last record read: they stop the build under ``on_error="fail"``
and are counted and listed under ``"skip"``, like bad records.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterator

import numpy as np

from ..errors import InputError, shown
from .fast_json import parse_json_line
from .fields import FieldMissing, FieldNotText, TextFields
from .hf_datasets import DatasetSource, is_dataset
from .html_text import visible_text
from .json_array import DamagedArray, InvalidUtf8, iter_array, starts_with_array
from .remote import RemoteFile, expand_url, is_url, open_random_access, open_stream
from .selection import Selection, is_saved_dataset, saved_dataset_files

TEXT_FORMATS = ("txt", "text", "md", "markdown", "rst")
"""Files that are one plain-text document each."""
FORMATS = ("jsonl", "json", *TEXT_FORMATS, "html", "htm", "csv", "tsv", "parquet", "arrow")
COMPRESSIONS = ("gz", "zst", "bz2", "xz")
STREAM_NAMES = {"gz": "gzip", "zst": "zstd", "bz2": "bzip2", "xz": "xz"}

Source = Path | RemoteFile | DatasetSource
"""One input: a local file, a remote file, or a ``datasets`` object."""

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
UNKNOWN_FORMAT = "unknown_format"
INVALID_ROW = "invalid_row"
CONFLICTING_METADATA = "conflicting_metadata"

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


def input_format(path: Path | RemoteFile) -> tuple[str, str | None]:
    """The (format, compression) of a file, from its name.

    >>> input_format(Path("data/part-1.jsonl.zst"))
    ('jsonl', 'zst')
    >>> input_format(Path("notes.md")), input_format(Path("table.csv.xz"))
    (('md', None), ('csv', 'xz'))
    """
    suffixes = [s.lstrip(".").lower() for s in PurePosixPath(path.name).suffixes]
    compression = None
    if suffixes and suffixes[-1] in COMPRESSIONS:
        compression = suffixes.pop()
    if suffixes and suffixes[-1] in FORMATS:
        return suffixes[-1], compression
    raise InputError(f"cannot read {shown(path)}: {_unknown_name(path)}")


ANY_TEXT = "any text"
"""The format of a file read as plain text whatever its name (invalid UTF-8 replaced)."""


def reading_of(path: Source, selection: Selection | None = None) -> tuple[str | None, str | None, str]:
    """How a file is read: its (format, compression) and the words the build report uses.

    >>> reading_of(Path("a.jsonl.gz"))
    ('jsonl', 'gz', 'jsonl (gz)')
    >>> reading_of(Path("src/cli.py"), Selection(include=["*.py"]))
    ('any text', None, 'plain text (unknown kind, named by --include)')
    >>> reading_of(Path("a.jsonl"), Selection(format="text"))
    ('any text', None, 'plain text (--format text)')
    >>> reading_of(Path("README"))
    (None, None, 'unknown kind')
    """
    if isinstance(path, DatasetSource):
        return None, None, "dataset"
    selection = selection or Selection()
    fmt, compression = _known_format(path)
    if selection.format == "text" or (fmt is None and selection.names_file(str(path))):
        suffixes = [s.lstrip(".").lower() for s in PurePosixPath(path.name).suffixes]
        compression = suffixes[-1] if suffixes and suffixes[-1] in COMPRESSIONS else None
        why = "--format text" if selection.format == "text" else "unknown kind, named by --include"
        return ANY_TEXT, compression, f"plain text ({why})" + (f" ({compression})" if compression else "")
    if fmt is None:
        return None, None, "unknown kind"
    return fmt, compression, fmt + (f" ({compression})" if compression else "")


def _unknown_name(path: Path | RemoteFile) -> str:
    found = "".join(PurePosixPath(path.name).suffixes)
    return ("expected a name ending in " + ", ".join(f".{f}" for f in FORMATS)
            + " (optionally followed by " + ", ".join(f".{c}" for c in COMPRESSIONS) + "), found "
            + (f"'{shown(found)}'" if found else "no extension")
            + "; rename the file, leave it out (--exclude), or pass --on-error skip to skip such files")


def is_compressed(source: Source) -> bool:
    """Whether an input is a compressed file (its progress counts compressed bytes)."""
    return not isinstance(source, DatasetSource) and _known_format(source)[1] is not None


def names_no_local_file(name: Any) -> bool:
    """Whether a name in a build's fingerprint is a URL or a dataset's name, not a local path.

    >>> names_no_local_file("s3://bucket/a.jsonl"), names_no_local_file("<dataset 1>"), names_no_local_file("a.jsonl")
    (True, True, False)
    """
    return is_url(name) or (isinstance(name, str) and name.startswith("<"))


def _known_format(source: Path | RemoteFile) -> tuple[str | None, str | None]:
    try:
        return input_format(source)
    except InputError:
        return None, None


def expand_inputs(paths: Any, exclude: Path | None = None, selection: Selection | None = None) -> list[Source]:
    """Files named directly, the files below named directories and URLs (sorted, chosen as
    :mod:`.selection` says, links to directories followed once; see the module's
    docstring), and ``datasets`` objects. ``paths`` may also be one path, URL or dataset.

    Files below ``exclude`` (the index being written, when it lies inside an input
    directory) are left out. A file of an unknown kind, or a symbolic link to nothing, is an
    error, unless ``selection`` skips unknown kinds (``--on-error skip``): then it is kept,
    and :func:`read_records` reports it as a problem.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> for name in ("a.jsonl", "b.md", "notes.md.bak"):
    ...     _ = (folder / name).write_text("x")
    >>> [p.name for p in expand_inputs(folder, selection=Selection(exclude=["*.bak"]))]
    ['a.jsonl', 'b.md']
    """
    selection = selection or Selection()
    if isinstance(paths, (str, os.PathLike)) or is_dataset(paths):
        paths = [paths]
    sources: list[Source] = []
    excluded = exclude.resolve() if exclude is not None else None
    for number, raw in enumerate(paths, start=1):
        if is_dataset(raw):
            sources.append(DatasetSource(raw, f"<dataset {number}>"))
            continue
        if is_url(raw):
            found: list[Any] = expand_url(raw, selection)
        else:
            found = _local_files(Path(raw), excluded, selection)
        if not selection.skip_unknown:
            for file in found:
                if reading_of(file, selection)[0] is None:
                    input_format(file)  # raises, naming the file
        sources.extend(found)
    if not sources:
        raise InputError("no input files: pass files, directories or URLs holding "
                         + ", ".join(f".{f}" for f in FORMATS) + " files (check --include and --exclude)")
    return sources


def _local_files(path: Path, excluded: Path | None, selection: Selection) -> list[Path]:
    try:
        is_dir, is_file = path.is_dir(), path.is_file()
    except OSError as error:
        raise InputError(f"cannot look at input {shown(path)}: {_os_reason(error)}; check the path and its permissions") from None
    if is_dir:
        return _files_below(path, excluded, selection)
    if is_file:
        return [path]
    if path.is_symlink() and selection.skip_unknown:
        return [path]  # listed as a problem by read_records
    if path.is_symlink():
        raise InputError(f"input {shown(path)} is a symbolic link to {shown(os.readlink(path))}, which does not exist; "
                         "fix or remove the link")
    if path.exists():
        raise InputError(f"input {shown(path)} is neither a file nor a directory; pass corpus files or directories")
    raise InputError(f"input {shown(path)} does not exist; check the path")


def _files_below(root: Path, excluded: Path | None, selection: Selection) -> list[Path]:
    """Every chosen file below ``root`` in sorted order, following links to directories; a
    directory already read (by its device and inode) is not read again, which also ends
    link cycles. A saved dataset's directory gives its data files, in its own order."""
    found: list[tuple[tuple[str, ...], Path]] = []  # (sort key, file)
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
        relative = directory.relative_to(root).as_posix()
        prefix = "" if relative == "." else relative + "/"
        if is_saved_dataset({entry.name for entry in entries}):
            state = directory / "state.json"
            try:
                names = saved_dataset_files(state.read_bytes(), str(state))
            except OSError as error:
                raise InputError(f"cannot read {shown(state)}: {_os_reason(error)}; check its permissions") from None
            found.extend(((*directory.parts, f"{number:012d}"), directory / name) for number, name in enumerate(names)
                         if selection.wants_file(prefix + name))
            continue
        children = []
        for entry in entries:
            path = Path(entry.path)
            if entry.name.startswith(".") or (excluded is not None and path.resolve().is_relative_to(excluded)):
                continue
            try:
                if entry.is_dir():
                    if selection.wants_directory(prefix + entry.name):
                        children.append(path)
                elif entry.is_file():
                    if selection.wants_file(prefix + entry.name):
                        found.append((path.parts, path))
                elif entry.is_symlink() and selection.skip_unknown:
                    if selection.wants_file(prefix + entry.name):
                        found.append((path.parts, path))  # listed as a problem by read_records
                elif entry.is_symlink():
                    raise InputError(f"{shown(path)} is a symbolic link to {shown(os.readlink(path))}, which does not "
                                     "exist; fix or remove the link (or hide it with a name starting with '.')")
                else:
                    raise InputError(f"{shown(path)} is neither a file nor a directory (a pipe, socket or device); "
                                     "move it out of the input directory")
            except OSError as error:
                raise InputError(f"cannot look at {shown(path)}: {_os_reason(error)}; check its permissions") from None
        pending.extend(reversed(children))
    return [path for _, path in sorted(found)]


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


def open_input(path: Path | RemoteFile, compression: str | None,
               on_read: Callable[[int], None] = lambda n: None) -> io.BufferedIOBase:
    """A binary stream of an input file's bytes, decompressed (``compression``: None, "gz",
    "zst", "bz2" or "xz", as :func:`input_format` gives it); ``on_read`` hears the bytes read
    from disk (or from the network, for a :class:`~.remote.RemoteFile`)."""
    if isinstance(path, RemoteFile):
        raw = open_stream(path, on_read)
    else:
        raw = io.BufferedReader(_CountingReader(open(path, "rb"), on_read), buffer_size=1 << 20)
    if compression == "gz":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if compression == "zst":
        return io.BufferedReader(_ZstdReader(raw), buffer_size=1 << 20)
    if compression == "bz2":
        return bz2.BZ2File(raw, mode="rb")
    if compression == "xz":
        return lzma.LZMAFile(raw, mode="rb")
    return raw


def _read_error_types() -> tuple[type[BaseException], ...]:
    """What reading a file may raise when the file (not the program) is at fault."""
    types: tuple[type[BaseException], ...] = (OSError, EOFError, zlib.error, lzma.LZMAError, _DamagedFile)
    try:
        import zstandard

        types += (zstandard.ZstdError,)
    except ImportError:
        pass
    return types


def _guarded(path: Source, compression: str | None, units: list[str], records: Iterator[Record]) -> Iterator[Record]:
    """The records of one file; a file that cannot be read to its end ends in a problem that
    names it and the last record read, instead of an exception or a silent stop. ``units[0]``
    names the records (line, row, element): a reader may change it once it knows."""
    source = str(path)
    last = 0
    try:
        for record in records:
            last = record.line
            yield record
    except _read_error_types() as error:
        unit = units[0]
        read = f"after {unit} {last:,} ({last:,} {unit}s read)" if last else f"before its first {unit}"
        stream = STREAM_NAMES.get(compression or "", "")
        if isinstance(error, EOFError):
            yield InputProblem(source, 0, TRUNCATED_FILE,
                               f"the file is truncated: its {stream} stream ends before its end marker, {read}; "
                               "the rest of the file is lost: download or compress it again")
        elif isinstance(error, OSError) and error.errno is not None:
            yield InputProblem(source, 0, UNREADABLE_FILE,
                               f"cannot read the file ({_os_reason(error)}) {read}; check that it exists and is readable")
        else:
            what = f"valid {stream} data" if stream and not isinstance(error, _DamagedFile) else "a readable file"
            yield InputProblem(source, 0, UNREADABLE_FILE,
                               f"expected {what}, found damaged data ({shown(error)}) {read}; "
                               "check the file, or download or compress it again")


def text_or_problem(text: Any, source: str, line: int, text_field: str) -> str | InputProblem:
    """``text`` when it can be indexed, else the problem with it (at ``source:line``).

    >>> text_or_problem("a rose", "f.jsonl", 1, "text")
    'a rose'
    >>> text_or_problem(None, "f.jsonl", 2, "text").describe()
    "f.jsonl:2: expected a string in field 'text', found nothing; fix the record or pass --text-field"
    """
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


def python_metadata(item: dict[str, Any], number: int) -> dict[str, Any] | InputProblem:
    """The metadata of a document given in Python as a dict: its ``metadata`` and every key
    besides ``text``, ``ids`` and ``metadata``, never dropped; a key in both with two values
    is a problem.

    >>> python_metadata({"text": "a rose", "url": "u", "metadata": {"lang": "en"}}, 1)
    {'url': 'u', 'lang': 'en'}
    >>> python_metadata({"text": "a rose", "url": "u", "metadata": {"url": "v"}}, 2).describe()
    "<python>:2: expected each metadata key once, found 'url' both in the document ('u') and in its metadata ('v'); keep one"
    """
    extra = {key: value for key, value in item.items() if key not in ("text", "ids", "metadata")}
    metadata = dict(item.get("metadata") or {})
    for key, value in extra.items():
        if key in metadata and metadata[key] != value:
            return InputProblem("<python>", number, CONFLICTING_METADATA,
                                f"expected each metadata key once, found {shown(key)!r} both in the document "
                                f"({shown(repr(value))}) and in its metadata ({shown(repr(metadata[key]))}); keep one")
    return {**extra, **metadata}


def document_of(record: dict[str, Any], fields: TextFields, source: str, line: int) -> SourceDocument | InputProblem:
    """The document a record with fields makes: its text from ``fields``, the rest of the
    record as metadata (``record`` is changed).

    >>> document_of({"meta": {"body": "hi"}, "id": 7}, TextFields("meta.body"), "f.jsonl", 1).metadata
    {'meta': {}, 'id': 7}
    """
    try:
        text = fields.text(record)
    except FieldMissing as error:
        text = text_or_problem(None, source, line, error.args[0])
    except FieldNotText as error:
        text = text_or_problem(error.found, source, line, error.args[0])
    else:
        text = text_or_problem(text, source, line, fields.names[0])
    if isinstance(text, InputProblem):
        return text
    fields.remove(record)
    return SourceDocument(text, record, source, line)


def _check_columns(path: Source, columns: list[str] | None, fields: TextFields) -> None:
    """A table without the text column is refused whole: the field name is wrong, not a row."""
    missing = [name for name in fields.top_level if columns is not None and name not in columns]
    if missing:
        raise InputError(
            f"{shown(path)} has no column {missing[0]!r} (columns: {shown(', '.join(columns or []))}); "
            "pass --text-field with the column that holds the text"
        )


def _read_jsonl(handle: io.BufferedIOBase, source: str, fields: TextFields, first_line: int = 1) -> Iterator[Record]:
    for line_number, line in enumerate(handle, start=first_line):
        if not line.strip():
            yield BlankLine(source, line_number)
            continue
        try:
            record = parse_json_line(line)
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
                f"expected a JSON object per line, found a JSON {type(record).__name__}; wrap it as "
                f"{{\"{fields.names[0]}\": ...}}",
            )
            continue
        yield document_of(record, fields, source, line_number)


def _read_json_array(handle: io.BufferedIOBase, source: str, fields: TextFields) -> Iterator[Record]:
    """The elements of a JSON array; ``line`` is the element's number."""
    elements = iter_array(handle)
    while True:
        try:
            item = next(elements, None)
        except DamagedArray as error:
            yield InputProblem(source, 0, INVALID_JSON, f"{shown(error)} (element {error.element:,} was the last read); "
                                                        "the rest of the file is lost: fix the file")
            return
        if item is None:
            return
        number, record = item
        if isinstance(record, InvalidUtf8):
            yield InputProblem(source, number, INVALID_UTF8, "the element is not valid UTF-8; re-encode the file as UTF-8")
        elif isinstance(record, dict):
            yield document_of(record, fields, source, number)
        else:
            yield InputProblem(source, number, NOT_AN_OBJECT,
                               f"expected a JSON object per array element, found a JSON {type(record).__name__}; "
                               f"wrap it as {{\"{fields.names[0]}\": ...}}")


def _read_json(path: Source, compression: str | None, fields: TextFields, on_read, unit: list[str]) -> Iterator[Record]:
    """JSON Lines, or one JSON array when the file starts with ``[``."""
    source = str(path)
    with open_input(path, compression, on_read) as handle:
        if starts_with_array(handle.peek(4096)[:4096]):
            unit[0] = "element"
            yield from _read_json_array(handle, source, fields)
        else:
            yield from _read_jsonl(handle, source, fields)


def _read_csv(path: Source, compression: str | None, fields: TextFields, on_read, delimiter: str) -> Iterator[Record]:
    """One record per row after the header; ``line`` is the line where the row starts."""
    source = str(path)
    csv.field_size_limit(max(csv.field_size_limit(), (1 << 31) - 1))  # a document may be long
    with open_input(path, compression, on_read) as handle:
        # Decoded a line at a time, undoing bad bytes as lone surrogates, so that invalid UTF-8
        # is a problem of its row, not of the rest of the file.
        lines = (line.decode("utf-8", "surrogateescape") for line in handle)
        rows = csv.reader(lines, dialect="excel-tab" if delimiter == "\t" else "excel")
        try:
            header = next(rows, None)
            if header is None:
                return
            header[0] = header[0].removeprefix("\ufeff")
            if len(set(header)) != len(header):
                raise InputError(f"{shown(path)}: expected distinct column names in the header, found "
                                 f"{shown(', '.join(header))}; rename the repeated columns")
            _check_columns(path, header, fields)
            end = rows.line_num
            for row in rows:
                line, end = end + 1, rows.line_num
                if not row:
                    yield BlankLine(source, line)
                elif len(row) != len(header):
                    yield InputProblem(source, line, INVALID_ROW,
                                       f"expected {len(header)} fields as in the header, found {len(row)}; fix the "
                                       "row (quote fields that hold the delimiter, quotes or line breaks)")
                elif not all(cell.isascii() for cell in row) and _undecodable(row):
                    yield InputProblem(source, line, INVALID_UTF8, "the row is not valid UTF-8; re-encode the file as UTF-8")
                else:
                    yield document_of(dict(zip(header, row)), fields, source, line)
        except csv.Error as error:
            raise _DamagedFile(f"CSV: {error}") from None


def _undecodable(row: list[str]) -> bool:
    try:
        "".join(row).encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def _read_whole(path: Source, compression: str | None, on_read, html: bool,
                any_text: bool = False) -> Iterator[Record]:
    """A whole file as one document: plain text, or an HTML page's visible text; with
    ``any_text`` invalid UTF-8 is replaced (U+FFFD) instead of refused."""
    source = str(path)
    with open_input(path, compression, on_read) as handle:
        data = handle.read()
    try:
        text = data.decode("utf-8", "replace" if any_text else "strict")
    except UnicodeDecodeError as error:
        yield InputProblem(source, 0, INVALID_UTF8, f"the file is not valid UTF-8 (at byte {error.start}); re-encode it as UTF-8")
        return
    metadata: dict[str, Any] = {"path": source}
    if html:
        text, title = visible_text(text)
        if title is not None:
            metadata["title"] = title
    result = text_or_problem(text, source, 0, "text")
    yield result if isinstance(result, InputProblem) else SourceDocument(text, metadata, source, 0)


def _table_records(path: Source, batches: Iterator[Any], fields: TextFields) -> Iterator[Record]:
    """The rows of Arrow record batches (Parquet, Arrow, a dataset); ``line`` is the row number."""
    import pyarrow

    source = str(path)
    row = 0
    while True:
        try:
            batch = next(batches, None)
        except (pyarrow.ArrowException, OSError, ValueError) as error:
            raise _DamagedFile(f"Arrow: {error}") from None
        if batch is None:
            return
        for record in batch.to_pylist():
            row += 1
            yield document_of(record, fields, source, row)


def _read_parquet(path: Source, compression: str | None, fields: TextFields, on_read) -> Iterator[Record]:
    import pyarrow.parquet as pq

    if compression is not None:
        with open_input(path, compression, on_read) as compressed:
            handle: Any = io.BytesIO(compressed.read())
    elif isinstance(path, RemoteFile):
        handle = open_random_access(path)  # Parquet is read by seeking to its footer, not streamed
        on_read(path.size)
    else:
        handle = open(path, "rb")
        on_read(path.stat().st_size)
    with handle:
        try:
            parquet = pq.ParquetFile(handle)
        except Exception as error:  # pyarrow raises ArrowInvalid and friends
            raise InputError(f"cannot read {shown(path)} as Parquet ({shown(error)}); check that it is a Parquet file") from None
        _check_columns(path, parquet.schema_arrow.names, fields)
        yield from _table_records(path, parquet.iter_batches(batch_size=4096), fields)


_ARROW_FILE_MAGIC = b"ARROW1"


def _read_arrow(path: Source, compression: str | None, fields: TextFields, on_read) -> Iterator[Record]:
    """An Arrow IPC stream, batch by batch; an Arrow IPC file is its magic bytes, then a
    stream (then a footer that is not needed), so it is read the same way."""
    import pyarrow

    with open_input(path, compression, on_read) as handle:
        if handle.peek(8)[:6] == _ARROW_FILE_MAGIC:
            handle.read(8)
        try:
            reader = pyarrow.ipc.open_stream(handle)
        except (pyarrow.ArrowException, OSError, ValueError) as error:
            raise InputError(f"cannot read {shown(path)} as an Arrow stream ({shown(error)}); check that it is an "
                             "Arrow IPC file, such as datasets' save_to_disk writes") from None
        _check_columns(path, reader.schema.names, fields)
        yield from _table_records(path, iter(reader), fields)


def _read_dataset(source: DatasetSource, fields: TextFields, on_read) -> Iterator[Record]:
    _check_columns(source, source.columns, fields)

    def batches() -> Iterator[Any]:
        for table in source.batches():
            on_read(table.nbytes)
            yield table

    yield from _table_records(source, batches(), fields)


def read_records(files: list[Source], text_field: str | list[str] | TextFields = "text",
                 on_read: Callable[[int], None] = lambda n: None,
                 selection: Selection | None = None) -> Iterator[Record]:
    """Every record of every input, in order; a file that cannot be read to its end ends in a
    ``truncated_file`` or ``unreadable_file`` problem, a file of an unknown kind is an
    ``unknown_format`` problem. ``selection`` says which files are read as plain text
    (:func:`reading_of`).

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "rows.csv"
    >>> _ = path.write_text('id,body\\n1,"a rose, a rose"\\n\\n')
    >>> [(type(r).__name__, r.line) for r in read_records([path], "body")]
    [('SourceDocument', 2), ('BlankLine', 3)]
    """
    fields = text_field if isinstance(text_field, TextFields) else TextFields(text_field)
    for path in files:
        if isinstance(path, DatasetSource):
            yield from _guarded(path, None, ["row"], _read_dataset(path, fields, on_read))
            continue
        if isinstance(path, Path) and path.is_symlink() and not path.exists():
            yield InputProblem(str(path), 0, UNREADABLE_FILE, f"skipped: a symbolic link to {os.readlink(path)}, "
                                                              "which does not exist")
            continue
        fmt, compression, _ = reading_of(path, selection)
        if fmt is None:
            yield InputProblem(str(path), 0, UNKNOWN_FORMAT, f"skipped: {_unknown_name(path)}")
            continue
        unit = ["line"]
        if fmt == ANY_TEXT:
            records = _read_whole(path, compression, on_read, html=False, any_text=True)
        elif fmt in ("jsonl", "json"):
            records = _read_json(path, compression, fields, on_read, unit)
        elif fmt in ("csv", "tsv"):
            records = _read_csv(path, compression, fields, on_read, "\t" if fmt == "tsv" else ",")
        elif fmt in TEXT_FORMATS or fmt in ("html", "htm"):
            records = _read_whole(path, compression, on_read, html=fmt in ("html", "htm"))
        else:
            unit[0] = "row"
            reader = _read_parquet if fmt == "parquet" else _read_arrow
            records = reader(path, compression, fields, on_read)
        yield from _guarded(path, compression, unit, records)


# -- byte ranges: one large JSON Lines file read in parts --------------------------------------------
@dataclass(frozen=True)
class ByteRange:
    """The lines of a JSON Lines file that start in ``[byte_start, byte_end)``: both ends are
    line starts (or the file's end), so every line belongs to exactly one range, the one where
    it starts. ``first_line`` is the 1-based number of the line at ``byte_start``: problems
    name the same lines as when the whole file is read. ``file_bytes`` and ``modified_ns``
    are the file as planned, so that a file changed before its range is read is refused."""

    path: Path
    byte_start: int
    byte_end: int
    first_line: int
    file_bytes: int
    modified_ns: int


_SCAN_BYTES = 16 << 20
"""Bytes of a file counted for line breaks at a time while it is split."""


def whole_file_reason(path: Source, selection: Selection | None = None) -> str | None:
    """Why an input cannot be split into byte ranges (it is read whole, as one unit), or None
    when it can: an uncompressed local JSON Lines file (``.jsonl`` or ``.json``, not starting
    with a JSON array, which is read element by element), where every line is a record and a
    line break always ends one. A file that cannot be opened is left to :func:`read_records`.

    >>> whole_file_reason(Path("a.jsonl")) is None, whole_file_reason(Path("a.jsonl.gz"))
    (True, 'compressed (gz): its stream can only be read from the start')
    >>> whole_file_reason(Path("notes.md"))
    'one document per file'
    """
    if not isinstance(path, Path):
        return "not a local file"
    fmt, compression, _ = reading_of(path, selection)
    if fmt is None:
        return "unknown kind"
    if compression is not None:
        return f"compressed ({compression}): its stream can only be read from the start"
    if fmt in ("csv", "tsv"):
        return "a quoted field may hold line breaks"
    if fmt in ("parquet", "arrow"):
        return f"{fmt}: read whole"
    if fmt not in ("jsonl", "json"):
        return "one document per file"
    try:
        with open(path, "rb") as handle:
            if starts_with_array(handle.read(4096)):
                return "a JSON array, read element by element"
    except OSError:
        pass
    return None


def byte_ranges(path: Path, range_bytes: int) -> list[ByteRange]:
    """``path`` cut into ranges of about ``range_bytes`` bytes, every cut moved forward to the
    next line start (a line longer than a range makes its range longer, and no range is
    empty, except the one range of an empty file), with each range's first line number. The
    file is read once, at memory speed, to count line breaks. Only JSON Lines may be cut
    (:func:`whole_file_reason`).

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "a.jsonl"
    >>> _ = path.write_bytes(b'{"text": "a"}\\n{"text": "bb"}\\n{"text": "c"}\\n')
    >>> [(r.byte_start, r.byte_end, r.first_line) for r in byte_ranges(path, 14)]
    [(0, 14, 1), (14, 29, 2), (29, 43, 3)]
    """
    if range_bytes < 1:
        raise InputError(f"expected a positive number of bytes per range, found {range_bytes}; pass 1 or more")
    try:
        with open(path, "rb") as handle:
            status = os.fstat(handle.fileno())
            size = status.st_size
            if size == 0:
                return [ByteRange(path, 0, size, 1, size, status.st_mtime_ns)]
            import mmap

            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                ranges: list[ByteRange] = []
                start, line = 0, 1
                while start < size:
                    target = start + range_bytes
                    if target >= size:
                        end = size
                    elif data[target - 1] == 0x0A:  # already a line start
                        end = target
                    else:
                        found = data.find(b"\n", target)
                        end = size if found < 0 else found + 1
                    ranges.append(ByteRange(path, start, end, line, size, status.st_mtime_ns))
                    for chunk in range(start, end, _SCAN_BYTES):
                        line += data[chunk:min(end, chunk + _SCAN_BYTES)].count(b"\n")
                    start = end
                return ranges
    except OSError as error:
        raise InputError(f"cannot read input {shown(path)} to split it at line starts: {_os_reason(error)}; "
                         "check that it still exists and is readable") from None


class _RangeReader(io.RawIOBase):
    """The bytes of one :class:`ByteRange` of an open file, then the end of the stream."""

    def __init__(self, handle: io.BufferedReader | io.FileIO, remaining: int):
        self._handle = handle
        self._remaining = remaining

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._remaining <= 0:
            return 0
        view = memoryview(buffer)[:self._remaining]
        count = self._handle.readinto(view)
        self._remaining -= count or 0
        return count or 0

    def close(self) -> None:
        self._handle.close()
        super().close()


def open_range(byte_range: ByteRange) -> io.BufferedReader:
    """A binary stream of the bytes of ``byte_range``. Raises OSError when the file cannot be
    opened, and :class:`~infgram.errors.InputError` when it is no longer the file that was
    split (its size or modification time changed, or no line starts at ``byte_start``).

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "a.jsonl"
    >>> _ = path.write_bytes(b"one\\ntwo\\nthree\\n")
    >>> with open_range(byte_ranges(path, 4)[1]) as stream:
    ...     stream.read()
    b'two\\n'
    """
    handle = open(byte_range.path, "rb", buffering=0)
    try:
        status = os.fstat(handle.fileno())
        found = None
        if (status.st_size, status.st_mtime_ns) != (byte_range.file_bytes, byte_range.modified_ns):
            found = f"{status.st_size:,} bytes modified at {status.st_mtime_ns} ns"
        elif byte_range.byte_start > 0:
            handle.seek(byte_range.byte_start - 1)
            if handle.read(1) != b"\n":  # same size and time, other bytes: a cut must follow a line break
                found = f"no line starting at byte {byte_range.byte_start:,}"
        if found is not None:
            raise InputError(f"{shown(byte_range.path)} changed while the build ran: expected the file as it was "
                             f"split ({byte_range.file_bytes:,} bytes modified at {byte_range.modified_ns} ns), "
                             f"found {found}; leave the inputs unchanged during a build and rerun the same command")
        handle.seek(byte_range.byte_start)
    except BaseException:
        handle.close()
        raise
    return io.BufferedReader(_RangeReader(handle, byte_range.byte_end - byte_range.byte_start), buffer_size=1 << 20)


def range_lines(byte_range: ByteRange) -> Iterator[tuple[int, bytes]]:
    """(line number, line with its line break) for every line of ``byte_range``, as reading
    the whole file numbers them.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "a.jsonl"
    >>> _ = path.write_bytes(b"one\\r\\ntwo\\nthree")
    >>> [list(range_lines(r)) for r in byte_ranges(path, 6)]
    [[(1, b'one\\r\\n'), (2, b'two\\n')], [(3, b'three')]]
    """
    with open_range(byte_range) as handle:
        yield from enumerate(handle, start=byte_range.first_line)


def read_range_records(byte_range: ByteRange, text_field: str | list[str] | TextFields = "text") -> Iterator[Record]:
    """Every record of the lines of ``byte_range`` (JSON Lines), as :func:`read_records`
    gives them when it reads the whole file: the same records, line numbers and problems. A
    range that cannot be read ends in an ``unreadable_file`` problem; a file changed since it
    was split raises :class:`~infgram.errors.InputError`.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "a.jsonl"
    >>> _ = path.write_bytes(b'{"text": "a"}\\n\\n{"text": "b"}\\n')
    >>> [(type(r).__name__, r.line) for r in read_range_records(byte_ranges(path, 14)[1])]
    [('BlankLine', 2), ('SourceDocument', 3)]
    """
    fields = text_field if isinstance(text_field, TextFields) else TextFields(text_field)

    def records() -> Iterator[Record]:
        with open_range(byte_range) as handle:
            yield from _read_jsonl(handle, str(byte_range.path), fields, byte_range.first_line)

    yield from _guarded(byte_range.path, None, ["line"], records())
