"""Reading corpora: JSON Lines, plain text and Parquet, optionally gzip or zstd compressed.

Every record read is either a :class:`SourceDocument` or an :class:`InputProblem`, never
silently dropped, so the builder can account for every input line. Blank lines of a JSON
Lines file are counted but are not documents.

Accepted names (compression suffix optional): ``*.jsonl``, ``*.json`` (one object per line),
``*.txt`` (the whole file is one document), ``*.parquet`` (one document per row). Any other
name is an error: a corpus silently missing a file is worse than a build that stops.
"""

from __future__ import annotations

import gzip
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from ..errors import InputError

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
        where = f"{self.source}:{self.line}" if self.line else self.source
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
        f"cannot read {path}: expected a name ending in "
        + ", ".join(f".{f}" for f in FORMATS)
        + " (optionally followed by .gz or .zst), found "
        + (f"'{''.join(path.suffixes)}'" if path.suffixes else "no extension")
        + "; rename the file or leave it out of the inputs"
    )


def expand_inputs(paths: Iterable[str | Path], exclude: Path | None = None) -> list[Path]:
    """Files named directly, and the files below named directories (sorted, hidden ones skipped).

    Files below ``exclude`` (the index being written, when it lies inside an input
    directory) are left out.
    """
    files: list[Path] = []
    excluded = exclude.resolve() if exclude is not None else None
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*")
                if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
                and not (excluded is not None and p.resolve().is_relative_to(excluded))
            )
            for child in found:
                input_format(child)
            files.extend(found)
        elif path.is_file():
            input_format(path)
            files.append(path)
        else:
            raise InputError(f"input {path} does not exist; check the path")
    if not files:
        raise InputError("no input files: pass files or directories holding .jsonl, .json, .txt or .parquet files")
    return files


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


def _open_binary(path: Path, compression: str | None, on_read: Callable[[int], None]) -> io.BufferedIOBase:
    raw = io.BufferedReader(_CountingReader(open(path, "rb"), on_read), buffer_size=1 << 20)
    if compression == "gz":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if compression == "zst":
        import zstandard

        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw, closefd=True), buffer_size=1 << 20)
    return raw


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
    with _open_binary(path, compression, on_read) as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                yield BlankLine(source, line_number)
                continue
            try:
                record = json.loads(line)
            except UnicodeDecodeError as error:
                yield InputProblem(
                    source, line_number, INVALID_UTF8,
                    f"the line is not valid UTF-8 (byte {error.start}: {line[error.start:error.start + 1]!r}); re-encode the file as UTF-8",
                )
                continue
            except ValueError as error:
                yield InputProblem(
                    source, line_number, INVALID_JSON,
                    f"expected one JSON object per line, found invalid JSON ({error}); fix the line",
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
    with _open_binary(path, compression, on_read) as handle:
        data = handle.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        yield InputProblem(source, 0, INVALID_UTF8, f"the file is not valid UTF-8 (at byte {error.start}); re-encode it as UTF-8")
        return
    result = text_or_problem(text, source, 0, "text")
    yield result if isinstance(result, InputProblem) else SourceDocument(text, {"path": source}, source, 0)


def _read_parquet(path: Path, compression: str | None, text_field: str, on_read) -> Iterator[Record]:
    import pyarrow.parquet as pq

    source = str(path)
    if compression is None:
        handle: Any = open(path, "rb")  # Parquet is read by seeking to its footer, not streamed
        on_read(path.stat().st_size)
    else:
        with _open_binary(path, compression, on_read) as compressed:
            handle = io.BytesIO(compressed.read())
    with handle:
        try:
            parquet = pq.ParquetFile(handle)
        except Exception as error:  # pyarrow raises ArrowInvalid and friends
            raise InputError(f"cannot read {path} as Parquet ({error}); check that it is a Parquet file") from None
        if text_field not in parquet.schema_arrow.names:
            raise InputError(
                f"{path} has no column {text_field!r} (columns: {', '.join(parquet.schema_arrow.names)}); "
                "pass --text-field with the column that holds the text"
            )
        row = 0
        for batch in parquet.iter_batches(batch_size=4096):
            for record in batch.to_pylist():
                row += 1
                text = text_or_problem(record.pop(text_field, None), source, row, text_field)
                if isinstance(text, InputProblem):
                    yield text
                else:
                    yield SourceDocument(text, record, source, row)


def read_records(files: list[Path], text_field: str = "text", on_read: Callable[[int], None] = lambda n: None) -> Iterator[Record]:
    """Every record of every file, in order."""
    for path in files:
        fmt, compression = input_format(path)
        if fmt in ("jsonl", "json"):
            yield from _read_jsonl(path, compression, text_field, on_read)
        elif fmt == "txt":
            yield from _read_txt(path, compression, on_read)
        else:
            yield from _read_parquet(path, compression, text_field, on_read)
