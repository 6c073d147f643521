"""Remote inputs: ``s3://``, ``gs://``, ``hf://``, ``https://`` and any other fsspec URL.

An input written as a URL (``scheme://...``) is read through `fsspec
<https://filesystem-spec.readthedocs.io>`_ (``pip install 'infgram[remote]'`` brings fsspec
and s3fs; ``gs://`` needs gcsfs, ``hf://`` huggingface_hub, ``https://`` aiohttp). A URL
may name a file, a directory (every file below it, chosen as for local directories, see
:mod:`.selection`) or a glob (``s3://bucket/corpus/*.jsonl.zst``).

Files are read in a stream, front to back, never downloaded whole; Parquet, which is read
from its footer, is opened for random access instead. A read that fails on the way (a
dropped connection, a timeout) is retried :data:`READ_ATTEMPTS` times, reopening the file
at the byte where it stopped, with a growing pause; a file still failing then is an
``unreadable_file`` problem, like a local one.

Credentials and endpoints come from the filesystem's usual places: for S3 the AWS
environment variables and files, and fsspec's configuration, e.g.
``FSSPEC_S3_ENDPOINT_URL=http://127.0.0.1:9000`` for an S3-compatible server.

>>> is_url("s3://bucket/corpus/"), is_url("data/corpus.jsonl"), is_url("C:\\\\data")
(True, False, False)
"""

from __future__ import annotations

import errno
import io
import re
import time
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Callable
from urllib.parse import urlsplit

from ..errors import InputError, shown
from .selection import Selection, is_saved_dataset, saved_dataset_files

READ_ATTEMPTS = 5
"""Tries of one read before a remote file is given up."""
RETRY_PAUSE_SECONDS = 0.2
"""The pause before the second try; it doubles at each further try."""

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")


def is_url(value: Any) -> bool:
    """Whether an input is a URL (``scheme://...``) rather than a local path."""
    return isinstance(value, str) and _URL.match(value) is not None


@dataclass(frozen=True)
class RemoteFile:
    """A file behind a URL: its URL, size in bytes and version (ETag or modification time)."""

    url: str
    size: int
    version: str

    def __str__(self) -> str:
        return self.url

    @property
    def name(self) -> str:
        """The file's name, the last part of the URL's path.

        >>> RemoteFile("s3://bucket/a/b.jsonl.gz", 3, "").name
        'b.jsonl.gz'
        """
        return PurePosixPath(urlsplit(self.url).path).name

    def fingerprint(self) -> list[Any]:
        """What identifies this version of the file in the build's fingerprint."""
        return [self.url, self.size, self.version]


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem of a URL and the path in it."""
    try:
        import fsspec.core
    except ImportError:
        raise InputError(f"cannot read {shown(url)}: URLs are read through fsspec, which is not installed; "
                         "pip install 'infgram[remote]'") from None
    try:
        return fsspec.core.url_to_fs(url)
    except ImportError as error:
        raise InputError(f"cannot read {shown(url)}: its filesystem needs a package that is not installed "
                         f"({shown(error)}); pip install 'infgram[remote]' (s3fs), or gcsfs for gs://, "
                         "huggingface_hub for hf://, aiohttp for https://") from None
    except ValueError as error:
        raise InputError(f"cannot read {shown(url)}: expected a URL of a filesystem fsspec knows (s3://, gs://, "
                         f"hf://, https://, ...), found {shown(error)}; check the URL") from None


def _version(info: dict[str, Any]) -> str:
    for key in ("ETag", "etag", "mtime", "LastModified", "last_modified", "created"):
        if info.get(key) is not None:
            return str(info[key])
    return ""


def expand_url(url: str, selection: Selection) -> list[RemoteFile]:
    """The files a URL names: itself, every chosen file below it, or those matching its glob."""
    fs, root = filesystem(url)
    try:
        if fs.isdir(root):
            return _files_below(fs, root.rstrip("/"), selection)
        if any(character in root for character in "*?["):
            found = fs.glob(root, detail=True)
            return [RemoteFile(fs.unstrip_protocol(path), int(info.get("size") or 0), _version(info))
                    for path, info in sorted(found.items()) if info.get("type") == "file"
                    and not any(part.startswith(".") for part in path.split("/"))]
        info = fs.info(root)
    except FileNotFoundError:
        raise InputError(f"input {shown(url)} does not exist; check the URL") from None
    except InputError:
        raise
    except Exception as error:  # each filesystem raises its own errors (botocore's, aiohttp's, ...)
        raise InputError(f"cannot look at input {shown(url)} ({shown(error)}); check the URL, the network "
                         "and the credentials") from None
    return [RemoteFile(url, int(info.get("size") or 0), _version(info))]


def _files_below(fs: Any, root: str, selection: Selection) -> list[RemoteFile]:
    found: dict[str, dict[str, Any]] = fs.find(root, detail=True)
    by_directory: dict[str, set[str]] = {}
    for path in found:
        directory, _, name = path.rpartition("/")
        by_directory.setdefault(directory, set()).add(name)
    datasets = {directory for directory, names in by_directory.items() if is_saved_dataset(names)}
    dataset_files = {directory: saved_dataset_files(fs.cat_file(f"{directory}/state.json"), f"{directory}/state.json")
                     for directory in datasets}
    files = []
    for path, info in sorted(found.items()):
        relative = path[len(root):].lstrip("/")
        parts = relative.split("/")
        if info.get("type") != "file" or any(part.startswith(".") for part in parts):
            continue
        if not all(selection.wants_directory("/".join(parts[: depth + 1])) for depth in range(len(parts) - 1)):
            continue
        directory, _, name = path.rpartition("/")
        owner = next((d for d in datasets if directory == d or directory.startswith(d + "/")), None)
        if owner is not None and (directory != owner or name not in dataset_files[owner]):
            continue
        if selection.wants_file(relative):
            files.append((path, info))
    if datasets:  # a saved dataset's files in the order its state.json gives
        order = {f"{d}/{name}": number for d, names in dataset_files.items() for number, name in enumerate(names)}
        files.sort(key=lambda item: (item[0].rpartition("/")[0], order.get(item[0], -1), item[0]))
    return [RemoteFile(fs.unstrip_protocol(path), int(info.get("size") or 0), _version(info)) for path, info in files]


class RetryingReader(io.RawIOBase):
    """A remote file read front to back; a failed read reopens the file where it stopped."""

    def __init__(self, remote: RemoteFile, on_read: Callable[[int], None]):
        self.remote = remote
        self.fs, self.path = filesystem(remote.url)
        self.on_read = on_read
        self.position = 0
        self.handle: Any = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        for attempt in range(READ_ATTEMPTS):
            try:
                if self.handle is None:
                    self.handle = self.fs.open(self.path, "rb")
                    if self.position:
                        self.handle.seek(self.position)
                data = self.handle.read(len(buffer))
                break
            except (FileNotFoundError, PermissionError, IsADirectoryError):
                raise
            except Exception as error:  # a dropped connection, a timeout: each filesystem has its own
                self._drop_handle()
                if attempt == READ_ATTEMPTS - 1:
                    raise OSError(errno.EIO, f"gave up after {READ_ATTEMPTS} attempts at byte {self.position:,}: "
                                             f"{shown(error) or type(error).__name__}") from error
                time.sleep(RETRY_PAUSE_SECONDS * 2 ** attempt)
        count = len(data)
        buffer[:count] = data
        self.position += count
        if count:
            self.on_read(count)
        return count

    def _drop_handle(self) -> None:
        handle, self.handle = self.handle, None
        if handle is not None:
            try:
                handle.close()
            except Exception:  # the connection is gone already
                pass

    def close(self) -> None:
        self._drop_handle()
        super().close()


def open_stream(remote: RemoteFile, on_read: Callable[[int], None]) -> io.BufferedReader:
    """A remote file's bytes, read front to back with retries."""
    return io.BufferedReader(RetryingReader(remote, on_read), buffer_size=1 << 20)


def open_random_access(remote: RemoteFile) -> Any:
    """A seekable file object of a remote file (for Parquet, read from its footer)."""
    fs, path = filesystem(remote.url)
    return fs.open(path, "rb")
