"""The on-disk format of an infgram index: files of format version 1, manifests of version 2.

An index is a directory::

    manifest.json                what the index is: tokenizer, widths, shards, files, checksums
    tokenizer.json               the Hugging Face tokenizer, when the index has one
    shard-00000/tokens.bin       the token ids of every document, each followed by a separator
    shard-00000/suffix_array.bin the suffix array: token positions in sorted order of their suffixes
    shard-00000/suffix_keys.bin  the first 8 bytes of every 16th suffix: the RAM tier read from disk
    shard-00000/documents.bin    per document: first token position and metadata byte offset
    shard-00000/metadata.bin     the metadata of every document, as JSON, back to back
    shard-00000/metadata_values.bin each document's value of every metadata field (see format/metadata.py)
    shard-00001/...
    .infgram-lock                the lock that a change (add, remove, compact) holds (``flock``)

An index changes by generations (see :mod:`infgram.change`): ``manifest.json`` carries a
``generation`` number (0, or absent, for a fresh build), and each change writes its new
files under new names and then replaces the manifest in one rename, so a reader sees one
generation or the next, never a mix. ``infgram remove`` adds, per affected shard::

    shard-00000/removed-documents.g3.bin the shard-local numbers of its removed documents, sorted
    shard-00000/removed-rows.g3.bin      the suffix-array rows of their token positions, sorted

An FM-index (``manifest.json`` ``"index_kind": "fm"``, see ``build/fm_writer.py``) keeps
``documents.bin`` and ``metadata.bin`` and replaces the tokens and the suffix array by::

    shard-00000/fm_wavelet.bin the BWT as a Huffman-shaped wavelet tree over RRR bitvectors
    shard-00000/fm_samples.bin sampled suffix array (Elias-Fano marked rows) and inverse samples

Every ``.bin`` file starts with a 64-byte header, all integers little-endian::

    offset size  field
    0      8     magic b"INFGRAM\\0"
    8      2     format version (1)
    10     4     file kind: b"TOKS", b"SARR", b"SKEY", b"DOCS", b"META", b"FMWT", b"FMSS",
                 b"RMDC" (removed documents), b"RMRW" (removed rows) or b"MVAL" (metadata values)
    14     1     token width in bytes (1, 2 or 4)
    15     1     pointer width in bytes (1..8; the suffix array's entry width, else 0)
    16     8     number of items (tokens, pointers, document records, metadata bytes)
    24     1     item width in bytes
    25     1     complete: 1 once the whole file is written, 0 while it is being written
    26     38    reserved, zero

The payload follows at byte 64. Token ids are stored big-endian so that byte order is
token order (see ``_core.c``); suffix-array pointers are little-endian token positions in
the fewest bytes that address the shard. ``suffix_keys.bin`` holds, for every ``step``-th
suffix-array entry (the step is in the file's manifest entry), the first 8 bytes of that
suffix as a little-endian uint64 whose value is those bytes read big-endian, zero-padded at
the end of the shard (see "Sampled suffix keys" in ``_core.c``). It is optional: a shard
without it (built before it existed) is searched without it. Files are written under a
temporary name with ``complete = 0``, then the flag is set, the file flushed, fsynced and renamed into
place and the directory fsynced (:class:`AtomicFile`, the one writer of every file infgram writes), so a
reader never sees a partial file under its final name. ``manifest.json`` is written last:
a directory without it is not an index (and one with ``build-state.json`` but no manifest
is an interrupted build, which the build command resumes).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import queue
import signal
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from ..errors import IncompleteIndexError, IndexFormatError, IndexLockedError
from .kinds import OFFICIAL_KIND, IndexKind, index_kind, written_kinds
from .manifest import (
    BUILD_STATE_NAME,
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    MANIFEST_NORMALIZED_VERSION,
    MANIFEST_VERSION,
    PLAN_KEYS,
    Manifest,
    ShardEntry,
    generation_of,
    manifest_build_options,
    migrate,
    read_manifest,
    upgrade_build_options,
)

MAGIC = b"INFGRAM\0"
FORMAT_VERSION = 1
HEADER_BYTES = 64
INDEX_KINDS = written_kinds()
"""The index kinds infgram builds: a suffix array over tokens, or an FM-index over bytes (see
:mod:`infgram.format.kinds` for every kind and what each supports)."""
_HEADER = struct.Struct("<8sH4sBBQBB38x")
assert _HEADER.size == HEADER_BYTES

KIND_TOKENS = b"TOKS"
KIND_SUFFIX_ARRAY = b"SARR"
KIND_SUFFIX_KEYS = b"SKEY"
KIND_DOCUMENTS = b"DOCS"
KIND_METADATA = b"META"
KIND_FM_WAVELET = b"FMWT"
KIND_FM_SAMPLES = b"FMSS"
KIND_REMOVED_DOCUMENTS = b"RMDC"
KIND_REMOVED_ROWS = b"RMRW"
KIND_SPILL = b"SPIL"
"""A build's temporary file of pickled batches (``build --shard-by``): never part of an index."""
LOCK_NAME = ".infgram-lock"

# One record of documents.bin: where the document's tokens start in the shard, and where
# its metadata starts in metadata.bin. A shard of n documents stores n + 1 records; the
# last one holds the ends.
DOCUMENT_RECORD = np.dtype([("token_position", "<u8"), ("metadata_offset", "<u8")])


@dataclass(frozen=True)
class FileHeader:
    kind: bytes
    token_width: int
    pointer_width: int
    num_items: int
    item_width: int
    complete: bool = True

    def pack(self) -> bytes:
        return _HEADER.pack(
            MAGIC,
            FORMAT_VERSION,
            self.kind,
            self.token_width,
            self.pointer_width,
            self.num_items,
            self.item_width,
            1 if self.complete else 0,
        )

    @property
    def payload_bytes(self) -> int:
        return self.num_items * self.item_width


KILL_AT_VARIABLE = "INFGRAM_TEST_KILL_AT"
"""Test-only, read once here: ``NAME`` or ``NAME:N`` makes the process kill itself (SIGKILL)
the N-th time (default the first) it passes :func:`kill_point` ``NAME``, so that
``tests/build/test_killed_build.py`` can stop a build at chosen points (any other
value only counts the points passed, in ``_kill_counts``). The points: ``file-write``
(after each write into an index file's temporary name), ``file-before-rename``,
``json-before-rename``, ``json-written`` (a JSON file: state, report or manifest, written
then renamed), ``state-recorded`` (a build's fingerprint recorded, nothing else written or
removed yet) and ``shard-published`` (a shard renamed into place, not yet recorded in
``build-state.json``). Never set it outside tests."""
_KILL_AT = os.environ.get(KILL_AT_VARIABLE, "")
_kill_counts: dict[str, int] = {}


def kill_point(name: str) -> None:
    """Where a test may kill the process (see :data:`KILL_AT_VARIABLE`); else nothing."""
    if not _KILL_AT:
        return
    _kill_counts[name] = _kill_counts.get(name, 0) + 1
    target, _, nth = _KILL_AT.partition(":")
    if name == target and _kill_counts[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


def token_dtype(token_width: int) -> np.dtype:
    """The numpy dtype of stored token ids: big-endian, ``token_width`` bytes.

    >>> token_dtype(2)
    dtype('>u2')
    """
    return np.dtype(">u1" if token_width == 1 else f">u{token_width}")


def pointer_width_for(num_positions: int) -> int:
    """The fewest bytes that can hold every token position of a shard.

    >>> pointer_width_for(256), pointer_width_for(257), pointer_width_for(2**32 + 1)
    (1, 2, 5)
    """
    return max(1, (max(num_positions - 1, 1).bit_length() + 7) // 8)


def read_header(path: Path) -> FileHeader:
    """Read and validate the 64-byte header of an index file."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(HEADER_BYTES)
    except FileNotFoundError:
        raise IndexFormatError(
            f"index file {path} is missing; the index is damaged: rebuild it with `infgram build`"
        ) from None
    if len(raw) < HEADER_BYTES:
        raise IndexFormatError(
            f"{path} is {len(raw)} bytes, shorter than the {HEADER_BYTES}-byte header; "
            "the file is truncated: rebuild the index"
        )
    magic, version, kind, token_width, pointer_width, num_items, item_width, complete = _HEADER.unpack(raw)
    if magic != MAGIC:
        raise IndexFormatError(
            f"{path} starts with {magic!r}, expected the infgram magic {MAGIC!r}; "
            "this is not an infgram index file"
        )
    if version != FORMAT_VERSION:
        raise IndexFormatError(
            f"{path} has format version {version}, this infgram reads version {FORMAT_VERSION}; "
            "rebuild the index or use a matching infgram version"
        )
    if not complete:
        raise IncompleteIndexError(f"{path} was not completely written; rerun the build to finish it")
    if complete != 1 or raw[HEADER_BYTES - 38:] != bytes(38):
        raise IndexFormatError(
            f"{path} has a damaged header (completeness flag {complete}, expected 1, and 38 reserved bytes, "
            "expected zero); the file is damaged: run `infgram verify` and rebuild the index"
        )
    header = FileHeader(kind, token_width, pointer_width, num_items, item_width, bool(complete))
    actual = path.stat().st_size
    expected = HEADER_BYTES + header.payload_bytes
    if actual != expected:
        raise IndexFormatError(
            f"{path} is {actual} bytes, its header promises {expected}; "
            "the file is truncated or damaged: rebuild the index"
        )
    return header


def open_payload(path: Path, header: FileHeader, dtype: np.dtype | str) -> np.ndarray:
    """Memory-map the payload of an index file (read-only) with the given dtype."""
    if header.num_items == 0:
        return np.zeros(0, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=HEADER_BYTES, shape=(header.payload_bytes // np.dtype(dtype).itemsize,))


class _HashInThread:
    """sha256 of the pieces handed to it, computed in a thread of its own, in order.

    ``hashlib`` releases the GIL on pieces of 2 KiB or more, so a large file is hashed on
    one core while it is written (or its next piece made) on another. At most a few pieces
    wait, so pieces made on the fly (packed pointers) are not all held at once.
    """

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self._error: BaseException | None = None
        self._pieces: queue.Queue[Any] = queue.Queue(maxsize=4)
        self._thread = threading.Thread(target=self._run, name="infgram sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (piece := self._pieces.get()) is not None:
            if self._error is None:
                try:
                    self._digest.update(piece)
                except BaseException as error:  # any: raised by hexdigest, in the writing thread
                    self._error = error

    def update(self, piece: bytes | memoryview) -> None:
        self._pieces.put(piece)

    def hexdigest(self) -> str:
        self.stop()
        if self._error is not None:
            raise self._error
        return self._digest.hexdigest()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._pieces.put(None)
            self._thread.join()


def fsync_directory(directory: Path) -> None:
    """Make the entries of ``directory`` (a file renamed into it, say) durable: without this a
    power loss after a rename may bring back the old name (POSIX; a no-op where directories
    cannot be opened)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the rename itself is still atomic
    finally:
        os.close(descriptor)


def temporary_name(path: Path) -> Path:
    """The temporary name a file is written under before it is renamed to ``path``: in the
    same directory (a rename across filesystems is not atomic), ending in ``.partial`` (a
    rerun of an interrupted build discards such names)."""
    path = Path(path)
    return path.with_name(path.name + ".partial")


class AtomicFile:
    """The one way infgram writes a file: under a temporary name in the same directory, then
    flushed, fsynced, renamed to its final name and the directory fsynced. So a reader (or a
    crash at any point) sees the old file or the new one whole, never part of it.

    Use it as a context manager: the file is committed when the block ends and removed when
    the block raises. ``before_rename`` names the :func:`kill_point` passed just before the
    rename (for the tests that kill a build).

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "out.txt"
    >>> with AtomicFile(path, "w") as handle:
    ...     _ = handle.write("whole")
    >>> path.read_text(), sorted(p.name for p in path.parent.iterdir())
    ('whole', ['out.txt'])
    """

    def __init__(self, path: Path, mode: str = "wb", before_rename: str | None = None):
        if mode not in ("wb", "w"):
            raise ValueError(f"expected mode 'wb' or 'w', found {mode!r}")
        self.path = Path(path)
        self.temporary_path = temporary_name(self.path)
        self.before_rename = before_rename
        self.handle: Any = open(self.temporary_path, mode, **({"encoding": "utf-8"} if mode == "w" else {}))

    def commit(self) -> None:
        """Flush and fsync the file, rename it into place and fsync its directory."""
        try:
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()
            if self.before_rename:
                kill_point(self.before_rename)
            os.replace(self.temporary_path, self.path)
        except BaseException:
            self.abort()
            raise
        fsync_directory(self.path.parent)

    def abort(self) -> None:
        """Give up the file: its temporary name is removed, a file under the final name is untouched."""
        if not self.handle.closed:
            self.handle.close()
        try:
            os.unlink(self.temporary_path)
        except FileNotFoundError:
            pass

    def __enter__(self) -> Any:
        return self.handle

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()


def write_bytes_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (see :class:`AtomicFile`)."""
    with AtomicFile(path, "wb") as handle:
        handle.write(data)


def write_text_atomically(path: Path, text: str | Iterable[str]) -> int:
    """Write text, or lines of text as they are produced, to ``path`` whole or not at all (an
    error while producing them leaves the old file, or none); returns the UTF-8 bytes written.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "lines.jsonl"
    >>> write_text_atomically(path, (f"{n}\\n" for n in range(3))), path.read_text()
    (6, '0\\n1\\n2\\n')
    """
    written = 0
    with AtomicFile(path, "w") as handle:
        for piece in [text] if isinstance(text, str) else text:
            handle.write(piece)
            written += len(piece.encode("utf-8"))
    return written


class AtomicFileWriter:
    """Write an index file under a temporary name; ``commit`` makes it appear whole.

    The header is written first with ``complete = 0`` and rewritten with ``complete = 1``
    after the payload is flushed; then the file is fsynced and renamed to its final name
    (:class:`AtomicFile`). The payload's sha256 (for the manifest) is computed as it is
    written, never by reading the file back: given by the caller (``known_sha256``), hashed
    piece by piece, or with ``hash_in_thread`` hashed in a thread beside the writing (then the
    pieces written must not change until :meth:`commit`).
    """

    def __init__(self, path: Path, header: FileHeader, known_sha256: str | None = None, hash_in_thread: bool = False):
        """``known_sha256``: the payload's checksum when the caller has already computed it."""
        self.path = Path(path)
        self.header = header
        self._file = AtomicFile(self.path, "wb", before_rename="file-before-rename")
        self.temporary_path = self._file.temporary_path
        self._handle = self._file.handle
        self._handle.write(FileHeader(**{**header.__dict__, "complete": False}).pack())
        self._known_sha256 = known_sha256
        self._hash: Any = None if known_sha256 else _HashInThread() if hash_in_thread else hashlib.sha256()
        self._written = 0
        self._payload_map: np.ndarray | None = None

    def map_payload(self, dtype: Any) -> np.ndarray:
        """The whole payload as a writable array of ``dtype`` mapped onto the file, in place
        of :meth:`write` calls: what is stored in it is the payload (the page cache is the
        array, so nothing is copied). ``commit`` flushes it and hashes it; the caller must
        stop changing it before then. Its itemsize must divide the payload. Raises
        ``OSError`` (and leaves the writer as it was) where the file's blocks cannot be
        reserved or it cannot be mapped: a full disk, or a filesystem without either.

        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "mapped.bin"
        >>> writer = AtomicFileWriter(path, FileHeader(KIND_TOKENS, 1, 0, 3, 1))
        >>> payload = writer.map_payload(np.uint8)
        >>> payload[:] = [65, 66, 67]
        >>> entry = writer.commit()
        >>> entry["bytes"], path.read_bytes()[HEADER_BYTES:], entry["sha256"] == hashlib.sha256(b"ABC").hexdigest()
        (67, b'ABC', True)
        """
        itemsize = np.dtype(dtype).itemsize
        payload_bytes = self.header.payload_bytes
        if self._written or self._payload_map is not None or payload_bytes % itemsize:
            self.abort()
            raise IndexFormatError(f"internal error: cannot map {self.path.name} as {np.dtype(dtype)} after "
                                   f"{self._written} bytes written, for a payload of {payload_bytes} bytes")
        self._handle.flush()
        descriptor = self._handle.fileno()
        if payload_bytes == 0:
            mapped: np.ndarray = np.zeros(0, dtype=dtype)
        else:
            try:
                # The blocks are reserved now: a full disk is an OSError here, not a SIGBUS
                # when a page of the map is first written (so no map where they cannot be).
                if not hasattr(os, "posix_fallocate"):
                    raise OSError(errno.ENOTSUP, "posix_fallocate is not available")
                os.posix_fallocate(descriptor, HEADER_BYTES, payload_bytes)
                mapped = np.memmap(self.temporary_path, dtype=dtype, mode="r+", offset=HEADER_BYTES,
                                   shape=(payload_bytes // itemsize,))
            except OSError:
                os.ftruncate(descriptor, HEADER_BYTES)  # the writer stays as it was: write() still works
                raise
        self._stop_hashing()  # hashed at commit, from the map
        self._hash = None
        self._payload_map = mapped
        self._written = payload_bytes
        return self._payload_map

    def write(self, data: bytes | memoryview | np.ndarray) -> None:
        view = memoryview(data).cast("B") if not isinstance(data, bytes) else data
        try:
            self._handle.write(view)
        except BaseException:
            self._stop_hashing()
            raise
        if self._hash is not None:
            self._hash.update(view)
        self._written += len(view)
        kill_point("file-write")

    def commit(self) -> dict[str, Any]:
        """Finish the file; returns its manifest entry (path, bytes, sha256 of the payload)."""
        if self._written != self.header.payload_bytes:
            self.abort()
            raise IndexFormatError(
                f"internal error: wrote {self._written} payload bytes to {self.path.name}, "
                f"header promises {self.header.payload_bytes}"
            )
        try:
            if self._payload_map is not None:
                mapped, self._payload_map = self._payload_map, None
                if self._known_sha256 is None:  # hashed on one core while the other flushes
                    self._hash = _HashInThread()
                    self._hash.update(memoryview(mapped).cast("B"))
                if isinstance(mapped, np.memmap):
                    mapped.flush()
                # Views of the map (the caller's) keep it alive; this reference goes now.
                mapped = None
            self._handle.flush()
            self._handle.seek(0)
            self._handle.write(self.header.pack())
            sha256 = self._known_sha256 if self._hash is None else self._hash.hexdigest()
        except BaseException:
            self._stop_hashing()
            raise
        self._file.commit()
        return {"bytes": HEADER_BYTES + self._written, "sha256": sha256}

    def _stop_hashing(self) -> None:
        """End the hashing thread, if any (after an error: no thread left waiting for pieces)."""
        if isinstance(self._hash, _HashInThread):
            self._hash.stop()

    def abort(self) -> None:
        """Give up the file: its temporary name is removed."""
        self._stop_hashing()
        self._payload_map = None
        self._file.abort()


def write_json_atomically(path: Path, payload: dict[str, Any]) -> None:
    """Write a JSON file whole or not at all (:class:`AtomicFile`), with stable key order."""
    with AtomicFile(path, "w", before_rename="json-before-rename") as handle:
        json.dump(payload, handle, indent=2, sort_keys=True, ensure_ascii=False)
        handle.write("\n")
    kill_point("json-written")


def write_manifest(directory: Path, manifest: Manifest | dict[str, Any]) -> Manifest:
    """Write ``manifest.json`` of an index directory whole or not at all: the one writer of
    manifests (typed and checked by :class:`~infgram.format.manifest.Manifest` first, so what
    is written is what :func:`read_manifest` reads back). Returns the manifest, typed.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> written = write_manifest(folder, {"format": MANIFEST_FORMAT, "format_version": MANIFEST_VERSION,
    ...                                   "index_kind": "sa", "build": {"memory_budget": 6000}})
    >>> read_manifest(folder) == written, written.build
    (True, {})
    """
    typed = Manifest.from_json(manifest)
    write_json_atomically(Path(directory) / MANIFEST_NAME, typed.to_json())
    return typed


def directory_bytes(directory: Path) -> int:
    """The bytes of every file below an index directory: the index's size on disk."""
    return sum(f.stat().st_size for f in Path(directory).rglob("*") if f.is_file())


def file_sha256(path: Path, chunk_bytes: int = 1 << 24, on_chunk: Callable[[int], None] | None = None) -> str:
    """sha256 of a file's payload (everything after the header); ``on_chunk`` is called with
    the bytes of every chunk read (progress; it may also pause the reading, or stop it by raising)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        handle.seek(HEADER_BYTES)
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
            if on_chunk is not None:
                on_chunk(len(chunk))
    return digest.hexdigest()


def check_payload_sha256(path: Path, payload: Any, file_entry: Any) -> None:
    """Raise :class:`IndexFormatError` unless ``payload`` (a file's mapped payload) has the
    sha256 its manifest entry gives; an entry without one (older indexes) is not checked.

    Files whose bytes are read whole at open (sampled keys, FM sections, removal lists) are
    checked this way as they are loaded: a damaged byte there changes answers without any
    other check noticing.

    >>> import numpy as np
    >>> payload = np.frombuffer(b"abc", dtype=np.uint8)
    >>> check_payload_sha256(Path("x.bin"), payload, {"sha256": hashlib.sha256(b"abc").hexdigest()})
    >>> check_payload_sha256(Path("x.bin"), payload, {"sha256": "0" * 64})
    Traceback (most recent call last):
    ...
    infgram.errors.IndexFormatError: x.bin does not match its checksum in the manifest; the file is damaged: rebuild the index
    """
    expected = file_entry.get("sha256") if isinstance(file_entry, dict) else None
    if not isinstance(expected, str):
        return
    data = np.ascontiguousarray(payload).reshape(-1).view(np.uint8)  # any record layout, as its bytes
    if hashlib.sha256(data).hexdigest() != expected:
        raise IndexFormatError(f"{path} does not match its checksum in the manifest; the file is damaged: "
                               "rebuild the index")


class WriterLock:
    """The lock a change to an index directory holds: ``flock`` on ``.infgram-lock``.

    The operating system releases it when its holder exits, killed or not, so no stale lock
    outlives a crash; the file itself means nothing. A second writer is refused at once with
    :class:`~infgram.errors.IndexLockedError`, never queued behind the first.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with WriterLock(folder, "add"):
    ...     try:
    ...         WriterLock(folder, "remove").acquire()
    ...     except IndexLockedError as error:
    ...         print(str(error).split(";")[0])
    another process is changing the index in ... (add, process ...)
    """

    def __init__(self, directory: Path, action: str):
        self.path = Path(directory) / LOCK_NAME
        self.action = action
        self._handle: Any = None

    def acquire(self) -> "WriterLock":
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read(200).strip() or None
            handle.close()
            raise IndexLockedError(
                f"another process is changing the index in {self.path.parent} ({holder or 'unknown'}); changes "
                "are made one at a time: wait for it to finish, then run this again", holder) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{self.action}, process {os.getpid()}")
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            self._handle.seek(0)
            self._handle.truncate()
            self._handle.flush()
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> "WriterLock":
        return self.acquire()

    def __exit__(self, *exception: Any) -> None:
        self.release()
