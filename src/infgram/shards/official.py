"""One shard of an official infini-gram index (its format version 4), read in place.

The infini-gram project (Liu et al., 2024) publishes prebuilt indexes of large corpora; this
module opens them without converting or copying anything. An official index directory holds,
for each shard N (files named by the shard's number, no header, all integers little-endian)::

    tokenized.N  every document as a separator (token_width bytes 0xff) then its token ids,
                 each little-endian in token_width bytes (u8, u16 or u32 indexes)
    table.N      the suffix array: one entry per token position (separators included), the
                 BYTE offset of the suffix, in ceil(log2(size of tokenized.N) / 8) bytes,
                 entries in the order of the suffixes compared as raw bytes
    offset.N     the byte offset of every document's separator in tokenized.N, as u64
    metadata.N   optional: one JSON object per document and line ({"path", "linenum", "metadata"})
    metaoff.N    optional: the byte offset of every document's line in metadata.N, as u64

The indexer deals documents to the shards round-robin; the official engine numbers them
shard after shard (shards in the sorted order of their file names), and so does infgram.
Nothing records the token width: it is the one of 1, 2 and 4 for which the size of
``table.N`` is one pointer per token.

How it maps onto our locator protocol (see :mod:`infgram.shards`):

- a token position is a byte offset divided by the width; ``positions`` divides;
- a query arrives big-endian (as every shard kind takes it) and the compiled searches
  (``c/official_search.h``) turn it little-endian; occurrences are one run of ``table.N``
  as in our suffix arrays, so counts, ∞-gram backoff and documents need nothing new;
- within a run, suffixes are ordered by their raw little-endian bytes, not by token ids:
  next-token distributions are re-sorted by id here (``view`` wraps the compiled one);
- a document's separator comes before it: the document table's start of document d is the
  position after its separator, so a document's length is the distance to the next start
  minus one, as in ours; the last document ends at the end of the file, where the searches
  read a document end too;
- the separators sort last (0xff bytes are the largest), so ``unigram_range`` is every row
  but the last ``num_documents``, as in ours.

Official indexes are read-only here: nothing is ever written into their directory except,
with ``infgram adopt``, a sidecar of ours (:data:`SIDECAR_NAME`) recording the tokenizer, and
beside each shard the sampled keys of its table (:data:`KEYS_NAME`): the first 8 bytes and
the byte offset of every 32nd suffix, 0.5 bytes per token, with our file header. Read from
disk (``load="disk"``), they are the RAM tier, as our own shards' ``suffix_keys.bin``: the
searches start from them and read each step's probes at once (``c/official_search.h``).
Without them the searches from disk are k-ary over the whole table, a few rounds more.

Only format version 4 is read. Version 5 holds every document's tokens reversed, in files
that look the same; a directory named as the official project names such indexes (``v5_...``)
or in the one-file layout of its later indexer (``tokenized``, ``table`` without a shard
number) is refused with an :class:`~infgram.errors.IndexFormatError`.

>>> import tempfile, pathlib
>>> from infgram.apps.official import write_official_index
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> write_official_index(folder, [[1, 2, 3], [2, 3]], token_width=2)
>>> shard = open_official_directory(folder).shards[0]
>>> shard.num_documents, shard.num_tokens, shard.find(bytes([0, 2, 0, 3]))
(2, 5, (1, 3))
>>> [shard.document_tokens(number).tolist() for number in range(2)]
[[1, 2, 3], [2, 3]]
"""

from __future__ import annotations

import hashlib
import json
import math
import mmap
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import _official
from ..errors import BuildError, IndexFormatError
from ..format import KIND_SUFFIX_KEYS, AtomicFileWriter, FileHeader, open_payload
from ..tokenizer import ByteTokenizer, PretokenizedVocabulary, Tokenizer, load_tokenizer, separator_for_width
from .documents import DocumentTable, checked_header
from .removals import Removals
from .residency import advise, lock
from .sa import SA_OPERATIONS

OFFICIAL_KIND = "infini-gram"
"""The index kind of an official index, as ``info()`` and ``Index.kind`` name it."""

OFFICIAL_OPERATIONS = SA_OPERATIONS
"""An official index is a suffix array over tokens: it answers every query operation. What it
cannot do is change (add, remove, compact) or be deduplicated in place: it is read-only."""

SIDECAR_NAME = "infgram-adopted.json"
"""Our sidecar beside an official index (written by ``infgram adopt``): which tokenizer to use.
Its name holds none of the words the official engine looks for in file names."""

SIDECAR_TOKENIZER_NAME = "infgram-adopted-tokenizer.json"
"""The tokenizer file ``infgram adopt`` copies beside an official index."""

KEYS_NAME = "infgram-keys.{name}"
"""Our sampled keys of shard ``name`` (written by ``infgram adopt``; see the module docstring)."""

KEY_STEP = 32
"""Every KEY_STEP-th suffix of an official table has a record in our keys."""

_SHARD_FILE = re.compile(r"^tokenized\.(\d+)$")
_VERSIONED_NAME = re.compile(r"^v(\d+)_")
_OPEN_SAMPLES = 64
"""Table entries checked at open (inside the data, in suffix order), as for our shards."""


def official_shard_numbers(directory: Path) -> list[str]:
    """The shard suffixes of an official index directory (``tokenized.N``), in the order the
    official engine takes them: sorted by file name.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("tokenized.0", "tokenized.1", "tokenized.10", "table.0"):
    ...     _ = (folder / name).write_bytes(b"")
    >>> official_shard_numbers(folder)
    ['0', '1', '10']
    """
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    return [match.group(1) for match in map(_SHARD_FILE.match, names) if match]


def is_official_directory(directory: Path) -> bool:
    """Whether a directory holds an official infini-gram index (``tokenized.N`` files, or the
    unnumbered ``tokenized`` of its later layout, and no infgram manifest)."""
    directory = Path(directory)
    return directory.is_dir() and not (directory / "manifest.json").exists() and \
        (bool(official_shard_numbers(directory)) or (directory / "tokenized").is_file())


def check_official_version(directory: Path) -> None:
    """Refuse an official index of another format version than 4 (see the module docstring).

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "v5_pileval_llama"
    >>> folder.mkdir()
    >>> check_official_version(folder)
    Traceback (most recent call last):
    ...
    infgram.errors.IndexFormatError: ...v5_pileval_llama is named as an official infini-gram index of format version 5...
    """
    directory = Path(directory)
    match = _VERSIONED_NAME.match(directory.resolve().name)
    if match and match.group(1) != "4":
        version = match.group(1)
        what = "every document's tokens reversed" if version == "5" else "a layout infgram does not read"
        raise IndexFormatError(f"{directory} is named as an official infini-gram index of format version {version} "
                               f"({what}); infgram reads format version 4 only, version {version} is out of scope: "
                               "use the version 4 index of the same corpus, or rename the folder if it is version 4")
    if (directory / "tokenized").is_file() and not official_shard_numbers(directory):
        raise IndexFormatError(f"{directory} holds an official infini-gram index in the one-file layout (tokenized, "
                               "table without shard numbers) of format versions 5 and later; infgram reads format "
                               "version 4 (tokenized.N, table.N, offset.N) only, the later versions are out of scope")


def pointer_width_of(data_bytes: int) -> int:
    """The official pointer width for a shard of ``data_bytes`` bytes: ceil(log2(size) / 8).

    >>> pointer_width_of(156), pointer_width_of(1 << 20), pointer_width_of((1 << 32) + 1)
    (1, 3, 5)
    """
    return max(1, math.ceil(math.log2(max(data_bytes, 2)) / 8))


def token_width_of(data_bytes: int, table_bytes: int, name: str) -> int:
    """The token width (1, 2 or 4) for which table.N holds one pointer per token."""
    pointer_width = pointer_width_of(data_bytes)
    for width in (1, 2, 4):
        if data_bytes % width == 0 and table_bytes == data_bytes // width * pointer_width:
            return width
    raise IndexFormatError(f"table.{name} holds {table_bytes} bytes, which is not one {pointer_width}-byte pointer per "
                           f"1-, 2- or 4-byte token of tokenized.{name} ({data_bytes} bytes); the official index is "
                           "incomplete or damaged: download or build it again")


def _read_u64(path: Path) -> np.ndarray:
    size = path.stat().st_size
    if size % 8:
        raise IndexFormatError(f"{path} holds {size} bytes, expected whole 8-byte offsets; the official index is "
                               "damaged: download or build it again")
    return np.fromfile(path, dtype="<u8").astype(np.int64) if size else np.zeros(0, dtype=np.int64)


def _map(path: Path) -> np.ndarray:
    """A read-only map of a file (a zero-length array for an empty file, which mmap refuses)."""
    if path.stat().st_size == 0:
        return np.zeros(0, dtype=np.uint8)
    return np.memmap(path, dtype=np.uint8, mode="r")


class OfficialDocuments(DocumentTable):
    """The document table of an official shard, from ``offset.N`` (and ``metadata.N``,
    ``metaoff.N`` when present). ``starts[d]`` is the position after document d's separator;
    the last entry is one past the shard's end, so that lengths come out as in ours."""

    def __init__(self, offsets: np.ndarray, token_width: int, num_positions: int, metadata_path: Path | None,
                 metadata_offsets_path: Path | None, data: np.ndarray, name: str):
        self.num_documents = len(offsets)
        positions = offsets // token_width
        if len(offsets) == 0 or offsets[0] != 0 or bool(np.any(offsets % token_width)) or \
                bool(np.any(np.diff(positions) < 1)) or positions[-1] >= num_positions:
            raise IndexFormatError(f"offset.{name} holds document offsets that do not start at 0 and increase through "
                                   f"tokenized.{name} in whole tokens; the official index is damaged: download or "
                                   "build it again")
        separator = b"\xff" * token_width
        for position in positions[np.unique(np.linspace(0, len(positions) - 1, num=min(_OPEN_SAMPLES, len(positions)),
                                                        dtype=np.int64))].tolist():
            at = position * token_width
            if bytes(data[at : at + token_width]) != separator:
                raise IndexFormatError(f"offset.{name} points at byte {at} of tokenized.{name}, which is not a "
                                       "document separator; the official index is damaged: download or build it again")
        self.starts = np.append(positions + 1, num_positions + 1).astype(np.int64)
        """The first token position of every document, and one past the shard's end."""
        self.metadata_bytes = np.zeros(0, dtype=np.uint8)
        self.metadata_offsets = np.zeros(self.num_documents + 1, dtype=np.int64)
        if metadata_path is not None and metadata_offsets_path is not None:
            self.metadata_bytes = _map(metadata_path)
            line_offsets = _read_u64(metadata_offsets_path)
            if len(line_offsets) != self.num_documents or (len(line_offsets) and (
                    line_offsets[0] != 0 or bool(np.any(np.diff(line_offsets) < 0))
                    or line_offsets[-1] > len(self.metadata_bytes))):
                raise IndexFormatError(f"metaoff.{name} does not hold one increasing offset into metadata.{name} per "
                                       f"document ({self.num_documents}); the official index is damaged: download "
                                       "or build it again")
            self.metadata_offsets = np.append(line_offsets, len(self.metadata_bytes))

    def metadata(self, local: int) -> dict[str, Any]:
        """The document's line of ``metadata.N`` as the official indexer wrote it
        (``{"path", "linenum", "metadata"}``), or ``{}`` when the index has no metadata."""
        start, end = int(self.metadata_offsets[local]), int(self.metadata_offsets[local + 1])
        if start == end:
            return {}
        try:
            value = json.loads(bytes(self.metadata_bytes[start:end]))
        except (ValueError, UnicodeDecodeError, RecursionError):
            value = None
        if not isinstance(value, dict):
            raise IndexFormatError(f"the metadata of document {local} is not a JSON object; metadata.N of the "
                                   "official index is damaged: download or build it again")
        return value


class OfficialView:
    """The compiled searches of one official shard, with next-token ids sorted by id (the
    compiled search gives them in the run's byte order)."""

    def __init__(self, data: np.ndarray, table: np.ndarray, token_width: int, pointer_width: int):
        self.compiled = _official.OfficialView(data, table, token_width, pointer_width)
        self.num_positions = self.compiled.num_positions
        self.find = self.compiled.find
        self.find_many = self.compiled.find_many
        self.longest_suffix = self.compiled.longest_suffix
        self.longest_matches = self.compiled.longest_matches
        self.infgram_probabilities = self.compiled.infgram_probabilities
        self.use_keys = self.compiled.use_keys
        self.read_from_disk = self.compiled.read_from_disk

    def next_tokens(self, lo: int, hi: int, depth: int) -> tuple[bytes, bytes]:
        """Distinct tokens at ``depth`` over the run (uint64, ascending) and their counts (int64)."""
        raw_values, raw_counts = self.compiled.next_tokens(lo, hi, depth)
        values, counts = np.frombuffer(raw_values, dtype=np.uint64), np.frombuffer(raw_counts, dtype=np.int64)
        order = np.argsort(values, kind="stable")
        return values[order].tobytes(), counts[order].tobytes()


class OfficialShard:
    """The memory-mapped files of one official shard; positions are token positions in it."""

    kind = OFFICIAL_KIND
    operations = OFFICIAL_OPERATIONS
    locate_cost = 1
    """Work units to turn one occurrence into its position: one pointer read."""

    def __init__(self, directory: Path, name: str, first_document: int, keys_entry: dict[str, Any] | None = None):
        directory = Path(directory)
        self.name = f"{directory.name}/tokenized.{name}"
        self.files = {key: directory / f"{key}.{name}" for key in ("tokenized", "table", "offset", "metadata",
                                                                   "metaoff")}
        for key in ("tokenized", "table", "offset"):
            if not self.files[key].is_file():
                raise IndexFormatError(f"the official index in {directory} has tokenized.{name} but no {key}.{name}; "
                                       "an official shard needs tokenized, table and offset files: download or "
                                       "build it again")
        data_bytes, table_bytes = (self.files[key].stat().st_size for key in ("tokenized", "table"))
        if data_bytes == 0:
            raise IndexFormatError(f"tokenized.{name} in {directory} is empty; expected at least one document")
        self.token_width = token_width_of(data_bytes, table_bytes, name)
        self.pointer_width = pointer_width_of(data_bytes)
        self.data = _map(self.files["tokenized"])
        self.table = _map(self.files["table"])
        self.tokens = self.data.view(f"<u{self.token_width}") if self.token_width > 1 else self.data
        """Token ids by position (separators included), as stored (little-endian)."""
        self.num_positions = data_bytes // self.token_width
        has_metadata = self.files["metadata"].is_file() and self.files["metaoff"].is_file()
        self.documents = OfficialDocuments(_read_u64(self.files["offset"]), self.token_width, self.num_positions,
                                           self.files["metadata"] if has_metadata else None,
                                           self.files["metaoff"] if has_metadata else None, self.data, name)
        self.num_documents = self.documents.num_documents
        self.num_tokens = self.num_positions - self.num_documents
        self.first_document = first_document
        self.has_metadata = has_metadata
        self.removals = Removals()  # read-only: nothing is ever removed from an official index
        self.view = OfficialView(self.data, self.table, self.token_width, self.pointer_width)
        self._check_samples()
        self.find = self.view.find
        self.find_many = self.view.find_many
        self.keys: np.ndarray | None = None
        self.keys_entry = keys_entry
        if keys_entry is not None:
            self._map_keys(directory, name, keys_entry)

    def _map_keys(self, directory: Path, name: str, entry: dict[str, Any]) -> None:
        """Map our sampled keys beside the shard (read when the shard is placed on disk)."""
        try:
            path, step = directory / str(entry["path"]), int(entry["step"])
            sizes = int(entry["tokenized_bytes"]), int(entry["table_bytes"])
        except (KeyError, TypeError, ValueError) as error:
            raise IndexFormatError(f"{directory / SIDECAR_NAME} has a malformed entry for the keys of shard {name} "
                                   f"({error!r:.100}); run `infgram adopt` again") from None
        if sizes != (len(self.data), len(self.table)) or step < 1 or not path.is_file():
            raise IndexFormatError(f"the sampled keys infgram recorded for tokenized.{name} in {directory} do not fit "
                                   "it (the official files changed, or the keys are missing); run `infgram adopt` "
                                   "again")
        self.files["keys"] = path
        num_keys = -(-self.num_positions // step)
        header = checked_header(path, KIND_SUFFIX_KEYS, self.token_width, 0, num_keys)
        if header.item_width != 16:
            raise IndexFormatError(f"{path} holds records of {header.item_width} bytes, expected 16 (a key and a byte "
                                   "offset); run `infgram adopt` again")
        self.keys = open_payload(path, header, np.dtype("<u8")).reshape(num_keys, 2)
        self.key_step = step

    @classmethod
    def from_entry(cls, directory: Path, entry: dict[str, Any], token_width: int,
                   settings: dict[str, Any] | None = None) -> "OfficialShard":
        """Open a shard from the entry that :func:`manifest_entries` made for it (as every shard
        kind opens from its manifest entry: how a Ray host opens its shards)."""
        keys = read_sidecar(Path(directory)).get("keys") or {}
        shard = cls(directory, str(entry["name"]), int(entry["first_document"]), keys.get(str(entry["name"])))
        if shard.token_width != token_width:
            raise IndexFormatError(f"tokenized.{entry['name']} in {directory} holds {shard.token_width}-byte tokens, "
                                   f"expected {token_width}; the official index changed: open it again")
        return shard

    @property
    def tier_bytes(self) -> int:
        """The bytes of our sampled keys beside the shard (0 without them): the RAM tier from disk."""
        return 0 if self.keys is None else int(self.keys.nbytes)

    def place(self, load: str, tier_budget_bytes: int, tier_directory: Path | None = None) -> tuple[int, bool, int]:
        """Open the shard for ``ram`` (its files read in, in the background; binary searches)
        or ``disk`` (random access advised, so that a search's read is one page, not the
        read-ahead window that would evict the pages that matter; k-ary searches from our
        sampled keys, read whole and locked as the RAM tier, every 2nd, 4th, ... record kept
        when they exceed ``tier_budget_bytes``; see :mod:`infgram.shards.residency`). Returns
        what the tier holds: (bytes, locked, key step)."""
        in_memory = load == "ram"
        for array in (self.data, self.table, self.documents.metadata_bytes):
            advise(array, mmap.MADV_WILLNEED if in_memory else mmap.MADV_RANDOM)
        self.view.read_from_disk(not in_memory)
        keys = self.keys
        if in_memory or keys is None:
            self.view.use_keys(None)  # in memory the table is as near as the keys
            return 0, True, 0
        expected = (self.keys_entry or {}).get("sha256")
        # Read whole here (the tier, in order), and checked: a damaged key would change answers.
        if not getattr(self, "_keys_checked", False):
            if hashlib.sha256(memoryview(keys).cast("B")).hexdigest() != expected:
                raise IndexFormatError(f"{self.files['keys']} does not match its checksum in "
                                       f"{SIDECAR_NAME}; the file is damaged: run `infgram adopt` again")
            self._keys_checked = True
        factor = 1
        while -(-len(keys) // factor) * 16 > tier_budget_bytes and factor * self.key_step < self.num_positions:
            factor *= 2
        tier = keys if factor == 1 else np.ascontiguousarray(keys[::factor])
        if factor > 1:
            advise(keys, mmap.MADV_DONTNEED)  # the tier is the copy: the file's pages may go
        self.view.use_keys(tier, self.key_step * factor)
        return int(tier.nbytes), lock(tier), self.key_step * factor

    def _check_samples(self) -> None:
        """A few evenly spread table entries must be token offsets, their suffixes in byte order."""
        rows = np.unique(np.linspace(0, self.num_positions - 1, num=min(_OPEN_SAMPLES, self.num_positions),
                                     dtype=np.int64))
        offsets = np.concatenate([self._byte_offsets(int(row), int(row) + 1) for row in rows])
        if offsets.min() < 0 or offsets.max() >= len(self.data) or bool(np.any(offsets % self.token_width)):
            raise IndexFormatError(f"{self.files['table']} holds an offset outside tokenized or inside a token; the "
                                   "official index is damaged: download or build it again")
        data = self.data
        for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist()):
            if bytes(data[a : a + 8]) > bytes(data[b : b + 8]):  # the first bytes only: enough to catch garbage
                raise IndexFormatError(f"{self.files['table']} is not in suffix order; the official index is damaged: "
                                       "download or build it again")

    def _byte_offsets(self, lo: int, hi: int) -> np.ndarray:
        width = self.pointer_width
        raw = np.asarray(self.table[lo * width : hi * width])
        padded = np.zeros((hi - lo, 8), dtype=np.uint8)
        padded[:, :width] = raw.reshape(-1, width)
        return padded.view("<u8").reshape(-1).astype(np.int64)

    # -- the locator protocol ---------------------------------------------------------------
    @property
    def unigram_range(self) -> tuple[int, int]:
        """The rows of suffixes that start with a real token: all but the separators, which sort last."""
        return 0, self.num_positions - self.num_documents

    def positions(self, lo: int, hi: int) -> np.ndarray:
        """Token positions of table entries lo..hi-1, as int64."""
        return self._byte_offsets(lo, hi) // self.token_width

    def byte_offsets(self, lo: int, hi: int) -> np.ndarray:
        """The official pointers (byte offsets into tokenized.N) of table entries lo..hi-1."""
        return self._byte_offsets(lo, hi)

    def document_slice(self, local: int, start: int, end: int) -> np.ndarray:
        """Tokens [start, end) of a document (offsets within it), as ids."""
        base = int(self.documents.starts[local])
        return np.asarray(self.tokens[base + start : base + end]).astype(self.tokens.dtype.newbyteorder("="))

    def document_tokens(self, local: int) -> np.ndarray:
        """Every token of a document."""
        return self.document_slice(local, 0, self.documents.length(local))


@dataclass
class OfficialDirectory:
    """An official index directory, opened: its shards, token width, and our sidecar's entry."""

    directory: Path
    shards: list[OfficialShard]
    token_width: int
    sidecar: dict[str, Any] = field(default_factory=dict)

    @property
    def num_documents(self) -> int:
        return sum(shard.num_documents for shard in self.shards)

    @property
    def num_tokens(self) -> int:
        return sum(shard.num_tokens for shard in self.shards)


def manifest_entries(opened: OfficialDirectory) -> list[dict[str, Any]]:
    """The shards of an opened official directory as entries of the manifest infgram keeps for
    it in memory (never written): the file suffix and the first document of each."""
    return [{"name": shard.name.rsplit(".", 1)[1], "first_document": shard.first_document,
             "num_documents": shard.num_documents, "num_tokens": shard.num_tokens} for shard in opened.shards]


def read_sidecar(directory: Path) -> dict[str, Any]:
    """Our sidecar beside an official index (``{}`` when there is none)."""
    path = Path(directory) / SIDECAR_NAME
    if not path.exists():
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise IndexFormatError(f"{path} is not readable JSON ({error}); run `infgram adopt` again") from None
    if not isinstance(value, dict) or value.get("format") != "infgram-adopted":
        raise IndexFormatError(f"{path} is not a sidecar written by `infgram adopt`; remove it or run adopt again")
    return value


def open_official_directory(directory: Path) -> OfficialDirectory:
    """Open every shard of an official index directory, in place (see the module docstring)."""
    directory = Path(directory)
    check_official_version(directory)
    names = official_shard_numbers(directory)
    if not names:
        raise IndexFormatError(f"expected an official infini-gram index in {directory} (tokenized.N, table.N and "
                               "offset.N files), found none")
    sidecar = read_sidecar(directory)
    keys = sidecar.get("keys") or {}
    shards: list[OfficialShard] = []
    for name in names:
        shards.append(OfficialShard(directory, name, sum(shard.num_documents for shard in shards), keys.get(name)))
    widths = {shard.token_width for shard in shards}
    if len(widths) != 1:
        raise IndexFormatError(f"the shards of the official index in {directory} have different token widths "
                               f"({sorted(widths)}); expected one: download or build it again")
    return OfficialDirectory(directory, shards, widths.pop(), sidecar)


def write_official_keys(shard: OfficialShard, step: int = KEY_STEP, chunk_rows: int = 1 << 20) -> dict[str, Any]:
    """Write our sampled keys beside an official shard (:data:`KEYS_NAME`: a header, then a
    record of the key and the byte offset of every ``step``-th suffix of its table; see
    ``c/official_search.h``), reading the table and the data, writing nothing else. Returns
    the sidecar's entry for it.

    >>> import tempfile, pathlib
    >>> from infgram.apps.official import write_official_index
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> write_official_index(folder, [list(b"abab")], token_width=1)
    >>> entry = write_official_keys(open_official_directory(folder).shards[0], step=2)
    >>> entry["path"], entry["step"]
    ('infgram-keys.0', 2)
    """
    name = shard.name.rsplit(".", 1)[1]
    directory = shard.files["tokenized"].parent
    path = directory / KEYS_NAME.format(name=name)
    rows = np.arange(0, shard.num_positions, step, dtype=np.int64)
    writer = AtomicFileWriter(path, FileHeader(KIND_SUFFIX_KEYS, shard.token_width, 0, len(rows), 16))
    try:
        table = shard.table.reshape(-1, shard.pointer_width)
        data, data_bytes = shard.data, len(shard.data)
        for start in range(0, len(rows), chunk_rows):
            chunk = rows[start : start + chunk_rows]
            padded = np.zeros((len(chunk), 8), dtype=np.uint8)
            padded[:, : shard.pointer_width] = table[chunk]
            offsets = padded.view("<u8").reshape(-1)
            if len(offsets) and (int(offsets.max()) >= data_bytes or bool(np.any(offsets % shard.token_width))):
                raise IndexFormatError(f"{shard.files['table']} holds an offset outside tokenized or inside a token; "
                                       "the official index is damaged: download or build it again")
            # The key: the suffix's first 8 bytes, big-endian, zeros past the end of the data.
            keys = np.zeros(len(chunk), dtype=np.uint64)
            for byte in range(8):
                at = offsets + byte
                inside = at < data_bytes
                value = np.zeros(len(chunk), dtype=np.uint64)
                value[inside] = data[at[inside]]
                keys = (keys << np.uint64(8)) | value
            records = np.empty((len(chunk), 2), dtype="<u8")
            records[:, 0], records[:, 1] = keys, offsets
            writer.write(records)
        written = writer.commit()
    except BaseException:
        writer.abort()
        raise
    return {"path": path.name, "step": step, "sha256": written["sha256"], "tokenized_bytes": len(shard.data),
            "table_bytes": len(shard.table)}


def official_tokenizer(opened: OfficialDirectory, spec: str | Path | Tokenizer | None = None) -> Tokenizer:
    """The tokenizer of an official index: ``spec`` when given (a ``tokenizer.json`` path,
    ``"bytes"``, or a Tokenizer), else the one ``infgram adopt`` recorded beside it, else bytes
    for a u8 index and bare ids (queries as token ids) for u16 and u32. Its ids must fit the
    index's token width below the separator.

    >>> import tempfile, pathlib
    >>> from infgram.apps.official import write_official_index
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> write_official_index(folder, [[1, 2]], token_width=2)
    >>> official_tokenizer(open_official_directory(folder)).kind
    'pretokenized'
    """
    width = opened.token_width
    if spec is None and opened.sidecar.get("tokenizer"):
        entry = opened.sidecar.get("tokenizer") or {}
        spec = "bytes" if entry.get("kind") == "bytes" else opened.directory / str(entry.get("file", ""))
        if spec != "bytes" and not Path(spec).is_file():
            raise IndexFormatError(f"{opened.directory / SIDECAR_NAME} names the tokenizer file {spec}, which is "
                                   "missing; run `infgram adopt` again")
    if spec is None:
        return ByteTokenizer() if width == 1 else PretokenizedVocabulary(width)
    try:
        tokenizer = load_tokenizer(spec)
    except BuildError as error:
        raise IndexFormatError(f"cannot use {spec} as the tokenizer of the official index in {opened.directory}: "
                               f"{error}") from None
    if tokenizer.kind == "bytes" and width != 1:
        raise IndexFormatError(f"the official index in {opened.directory} holds {width}-byte tokens, but the bytes "
                               "tokenizer needs 1-byte tokens; pass the tokenizer.json it was built with")
    if tokenizer.kind != "bytes" and tokenizer.token_width != width:
        if tokenizer.vocab_size > separator_for_width(width):
            raise IndexFormatError(f"the tokenizer {spec} has {tokenizer.vocab_size} ids, more than the "
                                   f"{width}-byte tokens of the official index in {opened.directory} hold; pass the "
                                   "tokenizer it was built with")
        tokenizer.token_width = width  # the index's width rules: ids are stored in it
    return tokenizer
