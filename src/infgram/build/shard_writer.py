"""What every index kind writes the same way: the shard buffer, the document table and
metadata, staging directories and their publication.

A shard is written into ``shard-NNNNN.partial/`` and renamed into place when every file
in it is committed, so a shard directory without the suffix is always complete. A staging
directory left by a killed build is discarded, never resumed: the rerun writes the shard
again from the same tokens, byte for byte. Each index kind has one writer
(``sa_writer.py``, ``fm_writer.py``) that adds its own files.

Writers overlap their steps where the order of the files allows: the sort runs in a thread
(:class:`InThread`; the sorters release the GIL) while the files that need no sorted order
(tokens, documents, metadata) are written, and files are hashed as they are written, in
another thread. ``INFGRAM_BUILD_PIPELINE=0`` (:func:`pipelining`) turns every such overlap
off, for comparisons; the files are the same either way.
"""

from __future__ import annotations

import os
import shutil
import threading
from array import array
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import BuildError
from ..format import (
    DOCUMENT_RECORD,
    KIND_DOCUMENTS,
    KIND_METADATA,
    AtomicFileWriter,
    FileHeader,
    fsync_directory,
    token_dtype,
)
from ..format.metadata import columns_of, metadata_objects, write_value_columns
from ..tokenizer import Tokenizer
from .plan import (
    INT32_LIMIT,
    RECORD_BYTES,
    physical_memory_bytes,
    pipelined_positions,
    shard_fits_budget,
    sort_bytes,
)


class ShardBuffer:
    """The tokens and metadata of the shard being filled.

    With a memory budget, the shard is full once sorting it beside one more shard like it
    being filled would pass the budget (:func:`~.plan.shard_fits_budget`): its tokens, its
    metadata and its documents' records count. Corpora with much metadata per token get
    smaller shards instead of a build over its budget. The tokens' array is allocated at
    that size up front: its pages take memory only once written, and it never has to be
    copied to grow (a copy would hold the tokens twice, which the plan does not count).
    Without a budget it grows by doubling, up to ``limit_positions``.
    """

    def __init__(self, token_width: int, limit_positions: int, separator_id: int, budget_bytes: int | None = None):
        self.dtype = token_dtype(token_width)
        self.token_width = token_width
        self.limit = limit_positions
        self.budget = budget_bytes
        self.separator_id = separator_id
        if budget_bytes is None:
            capacity = min(1 << 20, limit_positions)
        else:  # at most half the machine: a budget beyond it must not make the allocation fail
            capacity = max(1, min(pipelined_positions(budget_bytes, limit_positions),
                                  physical_memory_bytes() // (2 * token_width)))
        self.tokens = np.empty(capacity, dtype=self.dtype)
        self.num_positions = 0
        self.starts = array("q")
        self.metadata = bytearray()
        self.metadata_offsets = array("q")

    def fits(self, num_tokens: int, metadata_bytes: int) -> bool:
        """Whether a document of ``num_tokens`` and ``metadata_bytes`` may join this shard.
        It depends only on what the shard holds (a distributed build replays it from counts)."""
        positions = self.num_positions + num_tokens + 1
        if positions > self.limit:
            return False
        if self.budget is None:
            return True
        return shard_fits_budget(positions, self.num_documents + 1, self.metadata_bytes + metadata_bytes, self.limit,
                                 self.budget)

    def sorting_bytes(self) -> int:
        """What sorting and writing this shard holds, as planned (:func:`~.plan.sort_bytes`);
        without a budget, its tokens, the sorter's output and its metadata."""
        if self.budget is None:
            pointer_bytes = 4 if self.num_positions <= INT32_LIMIT else 8
            return self.num_positions * (self.token_width + pointer_bytes) + self.metadata_bytes + \
                2 * RECORD_BYTES * (self.num_documents + 1)
        return sort_bytes(self.num_positions, self.num_documents, self.metadata_bytes, self.limit, self.budget)

    def add(self, ids: np.ndarray, metadata: bytes) -> None:
        needed = self.num_positions + len(ids) + 1
        if needed > len(self.tokens):
            capacity = len(self.tokens)
            while capacity < needed:
                capacity *= 2
            grown = np.empty(max(min(capacity, self.limit), needed), dtype=self.dtype)
            grown[: self.num_positions] = self.tokens[: self.num_positions]
            self.tokens = grown
        self.starts.append(self.num_positions)
        self.tokens[self.num_positions : self.num_positions + len(ids)] = ids
        self.tokens[self.num_positions + len(ids)] = self.separator_id
        self.num_positions = needed
        self.metadata_offsets.append(len(self.metadata))
        self.metadata += metadata

    @property
    def num_documents(self) -> int:
        return len(self.starts)

    @property
    def metadata_bytes(self) -> int:
        return len(self.metadata)


def release_free_memory() -> None:
    """Hand the C heap's freed pages back to the operating system (glibc only; else nothing).

    Reading and tokenizing allocate and free many arrays of up to a few MB; glibc keeps up
    to 64 MB of such freed memory resident. Trimming it right before a sort lowers the
    build's peak, which the sort sets (measured: 262 -> 217 MB on 20 M sp32k tokens).
    """
    global _malloc_trim
    if _malloc_trim is None:
        try:
            import ctypes

            _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim: Any = None


PIPELINE_VARIABLE = "INFGRAM_BUILD_PIPELINE"
"""``0`` turns off every overlap of the build (the background shard writer, the sort beside
the other files, hashing beside writing): each step then runs in turn, as builds did
before. For benchmarks and debugging; the index files are the same either way."""


def pipelining() -> bool:
    """Whether the build overlaps its steps (see :data:`PIPELINE_VARIABLE`)."""
    return os.environ.get(PIPELINE_VARIABLE, "1").strip() != "0"


THREADS_VARIABLE = "INFGRAM_BUILD_THREADS"
"""How many threads a build sorts on: the shards it sorts and writes at once, a thread each,
and the last shard's sort takes those that the shards still in flight leave (a build of one
shard sorts it on all of them). By default one per core this process may use
(``infgram.resources.available_cpus``: its affinity and its container's CPU quota). The
index files are the same for any number."""


def shards_at_once(cores: int) -> int:
    """Shards sorted at once: :data:`THREADS_VARIABLE` when it holds a whole number of at least
    1, else ``cores``; 1 without :func:`pipelining`.

    >>> os.environ[THREADS_VARIABLE] = "3"; shards_at_once(2)
    3
    >>> os.environ[THREADS_VARIABLE] = "many"; shards_at_once(2)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    infgram.errors.BuildError: expected INFGRAM_BUILD_THREADS to be a whole number of at least 1, found 'many'; ...
    >>> del os.environ[THREADS_VARIABLE]; shards_at_once(2)
    2
    """
    if not pipelining():
        return 1
    text = os.environ.get(THREADS_VARIABLE, "").strip()
    if not text:
        return cores
    if not text.isdigit() or int(text) < 1:
        raise BuildError(f"expected {THREADS_VARIABLE} to be a whole number of at least 1, found {text!r}; set it to "
                         "how many shards to sort at once, or unset it to use every core")
    return int(text)


class InThread:
    """``function(*arguments)`` running in a background thread; :meth:`result` waits for it
    and returns its value, or raises its exception (any, KeyboardInterrupt included) in the
    caller's thread, so an error surfaces where it would have without the thread. Without
    :func:`pipelining` it runs at once, in the caller's thread.

    The thread is a daemon: a process interrupted while it runs (a C sort cannot be stopped
    halfway) can still exit, leaving what a killed build leaves.

    >>> InThread(sum, [1, 2, 3], name="example").result()
    6
    """

    def __init__(self, function: Callable[..., Any], *arguments: Any, name: str):
        self._value: Any = None
        self._error: BaseException | None = None
        self._failed = False  # kept once result() has handed the error over
        self._thread: threading.Thread | None = None
        if not pipelining():
            self._run(function, arguments)
            return
        self._thread = threading.Thread(target=self._run, args=(function, arguments), name=f"infgram {name}",
                                        daemon=True)
        self._thread.start()

    def _run(self, function: Callable[..., Any], arguments: tuple[Any, ...]) -> None:
        try:
            self._value = function(*arguments)
        except BaseException as error:  # any: handed to the waiting thread, which raises it
            self._error, self._failed = error, True

    def done(self) -> bool:
        """Whether the function has returned or raised."""
        return self._thread is None or not self._thread.is_alive()

    def wait(self) -> None:
        """Wait for the function to end, without its value or its exception."""
        if self._thread is not None:
            self._thread.join()

    def failed(self) -> bool:
        """Whether the function raised (once it has ended), whether or not :meth:`result`
        has raised it since."""
        return self._failed

    def result(self) -> Any:
        """The function's value (raising its exception), once it has ended; given once."""
        self.wait()
        error, self._error = self._error, None
        value, self._value = self._value, None  # not kept alive by this object: it may be a large array
        if error is not None:
            raise error
        return value


class ShardCancelled(BaseException):
    """Raised inside a shard writer told to stop (:meth:`ShardWriter.cancel`): the build was
    interrupted, and the shard is left half-written, for the rerun to discard."""


def file_entry(shard_name: str, file_name: str, committed: dict[str, Any]) -> dict[str, Any]:
    return {"path": f"{shard_name}/{file_name}", **committed}


def remove_path(path: Path) -> None:
    """Remove a file, link or directory tree of the build's own (a shard, a staging directory)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.is_symlink() or path.exists():
        path.unlink()



class ShardWriter:
    """Writes the shards of one index kind into ``out``; subclasses add the kind's files
    in :meth:`write_shard` and may add manifest fields in :meth:`manifest_extra`."""

    index_kind = ""

    def __init__(self, out: Path, tokenizer: Tokenizer, fingerprint: dict[str, Any], progress: bool):
        self.out = out
        self.tokenizer = tokenizer
        self.fingerprint = fingerprint
        self.progress = progress
        self.cancelled = threading.Event()
        self.ahead: dict[str, InThread] = {}
        """Per shard name, the shard handed over before it while that one is still being
        written: :meth:`wait_turn` waits for it."""

    def cancel(self) -> None:
        """Ask the shard being written to stop at its next step (from another thread)."""
        self.cancelled.set()

    def wait_turn(self, name: str) -> None:
        """Wait until the shard handed over before shard ``name`` (if still being written, see
        :attr:`ahead`) has finished, so shards are published and recorded in order; raise
        :class:`ShardCancelled` if it failed, so none after it is. Called before publishing,
        and by the pipeline before recording (a reused shard is not published); the second
        call returns at once."""
        ahead = self.ahead.pop(name, None)
        if ahead is not None:
            ahead.wait()
            if ahead.failed():
                raise ShardCancelled  # the build stops at that shard: left half-written, as if interrupted

    def check_cancelled(self) -> None:
        """Stop here (:class:`ShardCancelled`) when :meth:`cancel` was called."""
        if self.cancelled.is_set():
            raise ShardCancelled

    def staging(self, name: str) -> Path:
        """A fresh, empty staging directory for shard ``name``."""
        staging = self.out / f"{name}.partial"
        remove_path(staging)
        staging.mkdir()
        return staging

    def write_shard(self, name: str, buffer: ShardBuffer, tokens: np.ndarray, tokens_sha256: str,
                    metadata_sha256: str, sort_threads: int = 1) -> dict[str, Any]:
        """Write and publish shard ``name``, its suffixes sorted on up to ``sort_threads``
        threads; returns its manifest entry."""
        raise NotImplementedError

    def manifest_extra(self) -> dict[str, Any]:
        """Fields an index kind adds to the manifest."""
        return {}

    def write_documents(self, staging: Path, name: str, buffer: ShardBuffer, metadata_sha256: str) -> dict[str, Any]:
        """Write documents.bin and metadata.bin of a shard (the same in every index kind)."""
        width = self.tokenizer.token_width
        num_positions = buffer.num_positions
        files: dict[str, Any] = {}
        records = np.zeros(buffer.num_documents + 1, dtype=DOCUMENT_RECORD)
        records["token_position"][:-1] = buffer.starts
        records["token_position"][-1] = num_positions
        records["metadata_offset"][:-1] = buffer.metadata_offsets
        records["metadata_offset"][-1] = len(buffer.metadata)
        writer = AtomicFileWriter(
            staging / "documents.bin",
            FileHeader(KIND_DOCUMENTS, width, 0, len(records), DOCUMENT_RECORD.itemsize),
        )
        writer.write(records.view(np.uint8))
        files["documents"] = file_entry(name, "documents.bin", writer.commit())

        writer = AtomicFileWriter(staging / "metadata.bin", FileHeader(KIND_METADATA, width, 0, len(buffer.metadata), 1),
                                  known_sha256=metadata_sha256)
        writer.write(memoryview(buffer.metadata))  # not bytes(): no copy of what may be much of the budget
        files["metadata"] = file_entry(name, "metadata.bin", writer.commit())
        offsets = [*buffer.metadata_offsets, len(buffer.metadata)]
        columns = columns_of(metadata_objects(buffer.metadata, offsets), buffer.num_documents)
        files["metadata_values"] = file_entry(name, "metadata_values.bin",
                                              write_value_columns(staging / "metadata_values.bin", width, columns))
        return files

    def publish(self, name: str, staging: Path, buffer: ShardBuffer, pointer_width: int,
                files: dict[str, Any]) -> dict[str, Any]:
        """Rename a finished shard's staging directory into place; returns its manifest entry.

        A shard directory of the same name (from an earlier run, not recorded as reusable)
        is removed first; the pipeline has already dropped it from the build state."""
        self.wait_turn(name)
        num_positions = buffer.num_positions
        final = self.out / name
        remove_path(final)
        os.replace(staging, final)
        fsync_directory(self.out)  # its files were fsynced as they were renamed inside staging
        return {
            "name": name,
            "num_documents": buffer.num_documents,
            "num_tokens": num_positions - buffer.num_documents,
            "num_positions": num_positions,
            "pointer_width": pointer_width,
            "files": files,
        }
