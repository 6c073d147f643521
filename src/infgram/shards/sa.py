"""One shard of a suffix-array index, memory-mapped, with its compiled search view.

A shard is a complete index of a run of whole documents (see :mod:`infgram.format` for
the files). Nothing is read into memory at open time except the document start positions;
everything else is paged in by the operating system as queries touch it, so an index may
be larger than RAM.

Every shard kind offers the same locator methods (see :mod:`infgram.shards`): ``find`` and
``find_many`` give suffix-array runs, ``positions`` turns a run into token positions,
``document_slice`` reads the tokens of a document, ``documents`` is the document table and
``removals`` the documents taken down (:mod:`infgram.shards.removals`).
A suffix-array shard also reads the tokens after each occurrence (``next_tokens``, the
∞-gram searches) and compares neighbouring suffixes (``neighbours_share_prefix``).
"""

from __future__ import annotations

import fcntl
import mmap
from pathlib import Path
from typing import Any

import numpy as np

from .. import _core, _dedup
from ..errors import IndexFormatError
from ..format import (KIND_SUFFIX_ARRAY, KIND_SUFFIX_KEYS, KIND_TOKENS, AtomicFileWriter, FileHeader,
                      check_payload_sha256, open_payload, token_dtype)
from ..format.manifest import ShardEntry as ManifestShardEntry
from .documents import DocumentTable, checked_header
from .removals import read_removals
from .residency import advise, lock

SA_OPERATIONS = frozenset({
    "count", "count_batch", "probability", "next_tokens", "infgram_probability", "infgram_next_tokens",
    "infgram_probabilities", "longest_matches", "documents", "document", "search", "cooccurrence", "attribute",
    "contamination", "draft", "novelty", "creativity", "trace",
})
"""What a suffix-array index answers: everything."""

RAM_KEY_STEP = 256
"""The sampling step of the keys a search starts from when the index is in memory."""

_OPEN_SAMPLES = 64
"""Suffix-array entries checked at open (in range, and their suffixes in order): a cheap
guard against a damaged file; ``verify`` checks every byte."""


class ShardEntry:
    """The counts and file paths of a shard, from its manifest entry, with every path
    confined to the index directory."""

    def __init__(self, directory: Path, entry: Any, kind_files: tuple[str, ...]):
        typed = ManifestShardEntry.from_json(entry, (*kind_files, "documents", "metadata"))  # checked there
        self.name = typed.name
        self.num_documents = typed.num_documents
        self.num_tokens = typed.num_tokens
        self.num_positions = typed.num_positions
        self.first_document = typed.first_document
        self.pointer_width = typed.pointer_width or 0
        files = {str(key): value for key, value in typed.files.items()}
        root = Path(directory).resolve()
        self.files: dict[str, Path] = {}
        for key, value in files.items():
            path = (root / value["path"]).resolve()
            if root not in path.parents:
                raise IndexFormatError(f"the manifest names {value['path']!r:.200} for {key}, which is outside the "
                                       f"index directory {str(directory)!r}; an index names only its own files: "
                                       "rebuild the index")
            self.files[key] = path
        self.entry = entry


class SAShard:
    """Memory-mapped files of one suffix-array shard; positions are token positions within it."""

    kind = "sa"
    operations = SA_OPERATIONS
    locate_cost = 1
    """Work units to turn one occurrence into its position: one pointer read."""

    def __init__(self, directory: Path, entry: dict[str, Any], token_width: int, settings: dict[str, Any] | None = None):
        info = ShardEntry(directory, entry, ("tokens", "suffix_array"))
        self.entry = entry  # the manifest's entry: the files' checksums for those read later
        self.name, self.files = info.name, info.files
        self.num_documents, self.num_tokens, self.num_positions = info.num_documents, info.num_tokens, info.num_positions
        self.first_document, self.pointer_width = info.first_document, info.pointer_width
        self.token_width = token_width
        if not 1 <= self.pointer_width <= 8:
            raise IndexFormatError(f"the manifest gives shard {self.name} a pointer width of {self.pointer_width}, "
                                   "expected 1 to 8; rebuild the index")
        path = self.files["tokens"]
        self.tokens = open_payload(path, checked_header(path, KIND_TOKENS, token_width, 0, self.num_positions),
                                   token_dtype(token_width))
        path = self.files["suffix_array"]
        header = checked_header(path, KIND_SUFFIX_ARRAY, token_width, self.pointer_width, self.num_positions)
        self.suffix_array_bytes = open_payload(path, header, np.uint8)
        self.documents = DocumentTable(self.files["documents"], self.files["metadata"], token_width,
                                       self.num_documents, self.num_positions, entry["files"]["documents"])
        self.removals = read_removals(self.files, entry, token_width, self.num_documents, self.num_positions)
        self.view = _core.ShardView(self.tokens.view(np.uint8), self.suffix_array_bytes, token_width, self.pointer_width)
        if "suffix_keys" in self.files:  # absent in indexes built before it existed
            self._use_suffix_keys(entry["files"]["suffix_keys"])
        self._check_samples()
        # The searches, bound once: a query calls them without a Python frame in between.
        self.find = self.view.find
        self.find_many = self.view.find_many

    def _use_suffix_keys(self, file_entry: dict[str, Any]) -> None:
        """Map suffix_keys.bin and let the searches start from it (see ``_core.c``)."""
        path = self.files["suffix_keys"]
        try:
            step = int(file_entry["step"])
        except (KeyError, TypeError, ValueError) as error:
            raise IndexFormatError(f"the manifest's entry for {path} is malformed ({error!r}); rebuild the index") from None
        if step < 1:
            raise IndexFormatError(f"the manifest gives {path} a step of {step}, expected 1 or more; rebuild the index")
        num_keys = -(-self.num_positions // step)
        header = checked_header(path, KIND_SUFFIX_KEYS, self.token_width, 0, num_keys)
        if header.item_width not in (8, 16):
            raise IndexFormatError(f"{path} holds records of {header.item_width} bytes, expected 8 (a key) or 16 (a "
                                   "key and a position); rebuild the index")
        self.key_pointers = header.item_width == 16
        # One row per sample: its key, then (in files that hold them) its suffix's position.
        self.suffix_keys = open_payload(path, header, np.dtype("<u8")).reshape(num_keys, header.item_width // 8)
        # The keys are read whole at open (the RAM tier, in order), and a damaged key or
        # position would change answers without any check noticing: their checksum is verified
        # as they are read (about 1 ms per 1 MB; the text and suffix array are verified by
        # `verify`). Reading them here is what brings the tier into memory.
        check_payload_sha256(path, self.suffix_keys, file_entry)
        self.suffix_keys_sha256 = file_entry.get("sha256")
        self.key_step = step
        self.view.use_keys(self.suffix_keys, step, self.key_pointers)

    @property
    def tier_bytes(self) -> int:
        """The bytes of the sampled suffix keys: what the RAM tier holds when reading from disk."""
        keys = getattr(self, "suffix_keys", None)
        return 0 if keys is None else int(keys.nbytes)

    def _sparser_keys(self, keys: np.ndarray, factor: int, directory: Path | None) -> np.ndarray:
        """Every ``factor``-th record of the keys, contiguous. With ``directory`` (a folder the
        worker processes of one server share), the records are a file there, written once
        (under a lock, then renamed) and mapped by every process: the tier is in memory once
        for all of them, not copied per worker."""
        sparse = np.ascontiguousarray(keys[::factor])
        sha = getattr(self, "suffix_keys_sha256", None)
        if directory is None or not isinstance(sha, str):
            return sparse
        path = Path(directory) / f"tier-{sha[:32]}-every-{factor}.bin"
        header = FileHeader(KIND_SUFFIX_KEYS, self.token_width, 0, len(sparse), sparse.shape[1] * 8)
        with open(Path(directory) / f"{path.name}.lock", "w") as lock_file:  # one writer; the others wait
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            if not path.exists():
                writer = AtomicFileWriter(path, header)
                writer.write(sparse)
                writer.commit()
        shared = open_payload(path, checked_header(path, KIND_SUFFIX_KEYS, self.token_width, 0, len(sparse)),
                              np.dtype("<u8")).reshape(sparse.shape)
        if not np.array_equal(shared, sparse):
            raise IndexFormatError(f"{path} (the shared RAM tier of a served index) differs from the index's keys; "
                                   "the server's folder is damaged: restart the server")
        return shared

    def place(self, load: str, tier_budget_bytes: int, tier_directory: Path | None = None) -> tuple[int, bool, int]:
        """Open the shard for ``ram`` or ``disk`` (see :mod:`infgram.shards.residency`);
        returns what its RAM tier holds: (bytes, locked, key step).

        ``ram`` asks for every file to be read in (in the background). ``disk`` advises random
        access to the text and the suffix array, switches the searches to reading each step's
        probes at once, and reads the sampled keys into memory whole (every 2nd, 4th, ... of
        them when they exceed ``tier_budget_bytes``), locked where the system allows it.
        """
        in_memory = load == "ram"
        for array in (self.tokens, self.suffix_array_bytes, self.documents.metadata_bytes):
            advise(array, mmap.MADV_WILLNEED if in_memory else mmap.MADV_RANDOM)
        self.view.read_from_disk(not in_memory)
        keys = getattr(self, "suffix_keys", None)
        if keys is None:
            return 0, True, 0
        if in_memory:
            # In memory the text is as near as the keys, so a sparser sample does better:
            # the binary search over the keys then stays in the processor's caches (every
            # RAM_KEY_STEP-th suffix: measured in benchmarks/keys_in_memory.py).
            factor = max(1, RAM_KEY_STEP // self.key_step)
        else:
            factor = 1
            while -(-len(keys) // factor) * keys.shape[1] * 8 > tier_budget_bytes and \
                    factor * self.key_step < self.num_positions:
                factor *= 2
        # The keys were read whole at open (their checksum); a sparser sample is a copy of
        # every factor-th record, those of every (step * factor)-th suffix: in this process,
        # or in a file of ``tier_directory`` that every process of one server maps.
        tier = keys if factor == 1 else self._sparser_keys(keys, factor, tier_directory)
        if not in_memory and factor > 1:
            advise(keys, mmap.MADV_DONTNEED)  # the tier is the copy: the file's pages may go
        self.view.use_keys(tier, self.key_step * factor, self.key_pointers)
        if in_memory:
            return 0, True, self.key_step * factor
        return int(tier.nbytes), lock(tier), self.key_step * factor

    def _check_samples(self) -> None:
        """A few evenly spread suffix-array entries must be token positions, in suffix order."""
        rows = np.unique(np.linspace(0, self.num_positions - 1, num=min(_OPEN_SAMPLES, self.num_positions),
                                     dtype=np.int64))
        positions = np.concatenate([self.positions(int(row), int(row) + 1) for row in rows])
        if positions.min() < 0 or positions.max() >= self.num_positions:
            raise IndexFormatError(f"{self.files['suffix_array']} holds a position outside the shard's "
                                   f"{self.num_positions} tokens; the file is damaged: rebuild the index")
        tokens = self.tokens
        for a, b in zip(positions[:-1].tolist(), positions[1:].tolist()):
            # Compare the first few tokens only: enough to catch a page of garbage.
            if tokens[a : a + 4].tolist() > tokens[b : b + 4].tolist():
                raise IndexFormatError(f"{self.files['suffix_array']} is not in suffix order; the file is damaged: "
                                       "rebuild the index")

    # -- the locator protocol ---------------------------------------------------------------
    @property
    def unigram_range(self) -> tuple[int, int]:
        """The run of suffixes that start with a real token: all but the separators, which sort last."""
        return 0, self.num_positions - self.num_documents

    def positions(self, lo: int, hi: int) -> np.ndarray:
        """Token positions of suffix-array entries lo..hi-1, as int64."""
        width = self.pointer_width
        raw = np.asarray(self.suffix_array_bytes[lo * width : hi * width])
        if width in (1, 2, 4, 8):
            return raw.view(f"<u{width}").astype(np.int64)
        padded = np.zeros((hi - lo, 8), dtype=np.uint8)
        padded[:, :width] = raw.reshape(-1, width)
        return padded.view("<u8").reshape(-1).astype(np.int64)

    def document_slice(self, local: int, start: int, end: int) -> np.ndarray:
        """Tokens [start, end) of a document (offsets within it)."""
        base = int(self.documents.starts[local])
        return np.asarray(self.tokens[base + start : base + end])

    def document_tokens(self, local: int) -> np.ndarray:
        """Every token of a document."""
        return self.document_slice(local, 0, self.documents.length(local))

    # -- what only a suffix array reads cheaply ---------------------------------------------
    def neighbours_share_prefix(self, lo: int, hi: int, num_tokens: int) -> np.ndarray:
        """For each i in [lo, hi - 1): whether suffix-array entries i and i + 1 begin with the
        same ``num_tokens`` tokens, none of them a separator (so a shared prefix never runs
        past the end of a document). The comparison that exact-substring deduplication
        makes between neighbours, without an LCP array.

        >>> import tempfile, pathlib, infgram
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = infgram.build_from_documents(["abab"], folder / "i", progress=False)
        >>> shard = infgram.Index.open(folder / "i").shards[0]
        >>> [bytes(shard.document_slice(0, p, 4)).decode() for p in shard.positions(0, 5)[:4]]
        ['abab', 'ab', 'bab', 'b']
        >>> shard.neighbours_share_prefix(0, 4, 2).tolist()
        [True, False, False]
        """
        if hi - lo < 2:
            return np.zeros(0, dtype=bool)
        # Compared in C, token by token, with every pointer checked (c/neighbours.h).
        shared = _dedup.neighbours_share_prefix(self.tokens.view(np.uint8), self.suffix_array_bytes,
                                                self.token_width, self.pointer_width, lo, hi, num_tokens)
        return np.frombuffer(shared, dtype=np.uint8).astype(bool)
