"""Building a suffix-array index: read, tokenize, cut into shards, sort, write.

The corpus becomes one long token sequence per shard: every document's tokens followed by
the separator id (the largest id of the token width, which no document or query holds).
The suffix array lists the start position of every suffix of that sequence in sorted
order; all occurrences of any n-gram then form one contiguous run of it, found by binary
search (see ``infgram/_core.c``). Because the separator ends every document, no match can
cross from one document into the next.

Sorting is linear-time induced sorting: libdivsufsort (through ``pydivsufsort``) on the
bytes of a byte-mode shard, and SA-IS over the token alphabet for wider tokens (the
compiled core's ``sort_suffixes``), so each token position is one suffix to sort. Tokens
are stored big-endian, so both give exactly the token-level order that the searches use.

A corpus larger than the memory budget is cut into shards between documents; each shard is
an independent index, and queries add their answers up. Shards are written one at a time
under temporary names, recorded in ``build-state.json`` as they finish, and the manifest
is written last. Rerunning an interrupted build re-reads the inputs, reuses every finished
shard whose tokens and metadata are unchanged, and writes byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from array import array
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
from tqdm.auto import tqdm

from .. import _core
from ..errors import BuildError, InputError
from ..tokenizer import PretokenizedVocabulary, Tokenizer, load_tokenizer
from . import inputs as inputs_module
from .format import (
    BUILD_STATE_NAME,
    DOCUMENT_RECORD,
    FORMAT_VERSION,
    KIND_DOCUMENTS,
    KIND_METADATA,
    KIND_SUFFIX_ARRAY,
    KIND_SUFFIX_KEYS,
    KIND_TOKENS,
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    AtomicFileWriter,
    FileHeader,
    directory_bytes,
    pointer_width_for,
    token_dtype,
    write_json_atomically,
)
from .inputs import BlankLine, InputProblem, SourceDocument

REPORT_NAME = "build-report.json"
INDEX_KINDS = ("sa", "fm")
SHARD_NAME = re.compile(r"^shard-\d{5}(\.partial)?$")
_INT32_LIMIT = 2**31 - 1
_MAX_SORT_ALPHABET = 1 << 22
"""Above this many distinct 32-bit ids, SA-IS's bucket arrays (8 bytes per id) cost too much:
such shards (only pretokenized ids can be that sparse) go to libdivsufsort on their bytes,
which needs 16 bytes per token, more than ``shard_positions_for_budget`` plans for."""
_POINTER_CHUNK = 1 << 22
# Every SUFFIX_KEY_STEP-th suffix's first 8 bytes go to suffix_keys.bin: 8 / 256 = 0.03
# bytes per token (under 1% of an index), 1.7 MB for 55 M tokens, which stays in cache and
# takes the first ~18 of a search's ~26 steps without reading the text. Timing ShardView.find
# on wiki + prose (byte mode), steps of 16 and 64 were no faster; 1024 were slower.
SUFFIX_KEY_STEP = 256
_MAX_LISTED_PROBLEMS = 100


def parse_memory(text: str | int | None) -> int | None:
    """Bytes from a size such as ``"8G"``, ``"512M"`` or ``"1000000"``.

    >>> parse_memory("1.5G"), parse_memory("512M"), parse_memory(4096)
    (1610612736, 536870912, 4096)
    """
    if text is None or isinstance(text, int):
        return text
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmMgGtT]?)i?[bB]?\s*", str(text))
    if not match:
        raise BuildError(f"cannot read memory size {text!r}: expected a number with an optional K, M, G or T suffix, e.g. 8G")
    scale = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}[match.group(2).lower()]
    return int(float(match.group(1)) * scale)


def physical_memory_bytes() -> int:
    """The machine's memory (not what is free now, which changes from run to run)."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def default_memory_budget() -> int:
    """Half of the machine's memory. It must not depend on what happens to be free at the
    moment: the budget decides the shard layout, and rerunning a build must find the same
    layout to resume or to be up to date. On a busy machine pass ``--memory``."""
    return physical_memory_bytes() // 2


def _reserve_bytes(memory_bytes: int) -> int:
    """The part of a memory budget left to the interpreter and its libraries (measured at
    about 150 MB), not planned for shard data."""
    return min(256 << 20, memory_bytes // 16)


def shard_positions_for_budget(memory_bytes: int, token_width: int) -> int:
    """The most token positions (separators included) one shard may hold under a budget.

    Sorting a shard of P positions holds the tokens (P * width bytes) and the sorter's
    output: libdivsufsort's 4 bytes per byte of text while the text is under 2 GiB (else 8)
    in byte mode, SA-IS's 4 bytes per token while there are under 2**31 (else 8) otherwise.

    >>> shard_positions_for_budget(10 * 2**20, 1), shard_positions_for_budget(12 * 2**20, 2)
    (2097152, 2097152)
    """
    with_int32 = min(memory_bytes // (token_width + 4), _INT32_LIMIT)
    with_int64 = memory_bytes // (token_width + 8)
    positions = max(with_int32, with_int64)
    if positions < 2:
        raise BuildError(f"a memory budget of {memory_bytes} bytes is too small to index anything; raise --memory")
    return positions


@dataclass
class BuildReport:
    """What a build did: every input record is a document, a blank line or a problem."""

    directory: str
    num_documents: int = 0
    num_tokens: int = 0
    num_shards: int = 0
    records_read: int = 0
    blank_lines: int = 0
    problems: dict[str, int] = field(default_factory=dict)
    first_problems: list[str] = field(default_factory=list)
    input_bytes: int = 0
    index_bytes: int = 0
    seconds: float = 0.0
    reused_shards: int = 0
    up_to_date: bool = False

    @property
    def num_problems(self) -> int:
        return sum(self.problems.values())

    def summary(self) -> str:
        """A few human lines: documents, tokens, bytes, time, index size, problems."""
        lines = [
            f"indexed {self.num_documents:,} documents, {self.num_tokens:,} tokens in {self.num_shards} shard(s) "
            f"into {self.directory}",
            f"read {self.records_read:,} records"
            + (f" ({self.input_bytes / 1e6:,.1f} MB)" if self.input_bytes else "")
            + f": {self.num_documents:,} documents, "
            f"{self.blank_lines:,} blank lines, {self.num_problems:,} skipped with problems",
            f"index size {self.index_bytes / 1e6:,.1f} MB "
            f"({self.index_bytes / max(self.num_tokens, 1):.2f} bytes per token) in {self.seconds:.1f} s"
            + (f" ({self.num_tokens / max(self.seconds, 1e-9) / 1e6:.1f} M tokens/s)" if self.seconds else ""),
        ]
        if self.reused_shards:
            lines.append(f"reused {self.reused_shards} shard(s) finished by an earlier run")
        if self.up_to_date:
            lines = [f"{self.directory} is up to date ({self.num_documents:,} documents, {self.num_tokens:,} tokens)"]
        for kind, count in sorted(self.problems.items()):
            lines.append(f"  {kind}: {count:,}")
        lines.extend(f"  {problem}" for problem in self.first_problems[:10])
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """The deterministic part, as stored in build-report.json (no timings)."""
        data = asdict(self)
        for volatile in ("seconds", "reused_shards", "up_to_date", "directory", "index_bytes"):
            data.pop(volatile)
        return data


class _ShardBuffer:
    """The tokens and metadata of the shard being filled, grown by doubling up to its limit.

    With a memory budget, the shard is also full once its tokens' share of the budget
    (``limit_positions`` of them fill it), its metadata and its document records (16 bytes
    each) and a reserve for the interpreter would pass the budget: corpora with much
    metadata per token get smaller shards instead of a build over its budget.
    """

    def __init__(self, token_width: int, limit_positions: int, separator_id: int, budget_bytes: int | None = None):
        self.dtype = token_dtype(token_width)
        self.limit = limit_positions
        self.budget = budget_bytes
        self.separator_id = separator_id
        self.tokens = np.empty(min(1 << 20, limit_positions), dtype=self.dtype)
        self.num_positions = 0
        self.starts = array("q")
        self.metadata = bytearray()
        self.metadata_offsets = array("q")

    def fits(self, num_tokens: int, metadata_bytes: int) -> bool:
        positions = self.num_positions + num_tokens + 1
        if positions > self.limit:
            return False
        if self.budget is None:
            return True
        records = DOCUMENT_RECORD.itemsize * (self.num_documents + 1)  # also the size of starts + metadata_offsets
        other = len(self.metadata) + metadata_bytes + records + _reserve_bytes(self.budget)
        # positions / limit of the budget for the tokens and their sort, the rest for the others
        return positions * self.budget <= (self.budget - other) * self.limit

    def add(self, ids: np.ndarray, metadata: bytes) -> None:
        needed = self.num_positions + len(ids) + 1
        if needed > len(self.tokens):
            capacity = len(self.tokens)
            while capacity < needed:
                capacity *= 2
            grown = np.empty(min(capacity, self.limit), dtype=self.dtype)
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


def _sorted_positions(tokens: np.ndarray, token_width: int) -> Iterator[np.ndarray]:
    """The suffix array of a shard's tokens, in chunks of token positions.

    Bytes go to libdivsufsort, the fastest byte sorter here. Wider tokens go to SA-IS over
    the token alphabet (``_core.sort_suffixes``): a byte sorter would sort ``token_width``
    times as many suffixes, with an output entry each, and then drop all but one in
    ``token_width`` of them. On 20 M sp32k tokens that takes about as long at 2 bytes per
    token and half as long at 4, with 4 instead of 8 or 16 bytes of sort output per token.
    """
    id_limit = 0
    if token_width == 4:
        # The alphabet is every id below the largest one in use, plus the separator.
        separator = np.array(-1).astype(tokens.dtype)
        id_limit = int(np.max(tokens, where=tokens != separator, initial=0)) + 1
    if token_width == 1 or id_limit > _MAX_SORT_ALPHABET:
        import pydivsufsort

        suffix_array = pydivsufsort.divsufsort(tokens.view(np.uint8))
        if token_width > 1:
            # Suffixes of the byte string that start inside a token are not token suffixes.
            suffix_array = suffix_array[suffix_array % token_width == 0] // token_width
    else:
        suffix_array = np.empty(len(tokens), dtype=np.int32 if len(tokens) <= _INT32_LIMIT else np.int64)
        _core.sort_suffixes(tokens.view(np.uint8), token_width, id_limit, suffix_array)
    for start in range(0, len(suffix_array), _POINTER_CHUNK):
        yield suffix_array[start : start + _POINTER_CHUNK]


def _release_free_memory() -> None:
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


def _pack_pointers(positions: np.ndarray, pointer_width: int) -> np.ndarray:
    """Little-endian pointers of ``pointer_width`` bytes each, as a flat uint8 array."""
    if pointer_width in (1, 2, 4, 8):
        return positions.astype(f"<u{pointer_width}").view(np.uint8)
    packed = np.empty((len(positions), pointer_width), dtype=np.uint8)
    wide = positions.astype("<u8")
    for byte in range(pointer_width):
        packed[:, byte] = wide >> np.uint64(8 * byte)  # the cast keeps the low byte
    return packed.reshape(-1)


def _file_entry(shard_name: str, file_name: str, committed: dict[str, Any]) -> dict[str, Any]:
    return {"path": f"{shard_name}/{file_name}", **committed}


class _Builder:
    index_kind = "suffix_array"

    def __init__(self, out: Path, tokenizer: Tokenizer, fingerprint: dict[str, Any], shard_positions: int,
                 on_error: str, progress: bool):
        self.out = out
        self.tokenizer = tokenizer
        self.fingerprint = fingerprint
        self.shard_positions = shard_positions
        self.on_error = on_error
        self.progress = progress
        self.report = BuildReport(directory=str(out))
        self.shards: list[dict[str, Any]] = []
        self.state = self._load_state()
        self.buffer = self._new_buffer()

    # -- build state (resume) -------------------------------------------------------------
    def _load_state(self) -> dict[str, Any]:
        path = self.out / BUILD_STATE_NAME
        if path.exists():
            try:
                state = json.loads(path.read_text(encoding="utf-8"))
                if state.get("fingerprint") == self.fingerprint:
                    return state
            except ValueError:
                pass
        return {"fingerprint": self.fingerprint, "shards": {}}

    def _save_state(self) -> None:
        write_json_atomically(self.out / BUILD_STATE_NAME, self.state)

    def _new_buffer(self) -> _ShardBuffer:
        return _ShardBuffer(self.tokenizer.token_width, self.shard_positions, self.tokenizer.separator_id,
                            self.fingerprint["memory_budget"])

    # -- records --------------------------------------------------------------------------
    def problem(self, problem: InputProblem) -> None:
        if self.on_error == "fail":
            raise InputError(f"{problem.describe()} (pass --on-error skip to index the rest and list such records)")
        self.report.problems[problem.kind] = self.report.problems.get(problem.kind, 0) + 1
        if len(self.report.first_problems) < _MAX_LISTED_PROBLEMS:
            self.report.first_problems.append(problem.describe())

    def add_documents(self, documents: list[SourceDocument]) -> None:
        texts = [d.text for d in documents if d.ids is None]
        encoded = iter(self.tokenizer.encode_batch(texts)) if texts else iter(())
        for document in documents:
            if document.ids is None:
                ids = next(encoded)
            else:
                ids = document.ids
                bad = (ids < 0) | (ids >= self.tokenizer.vocab_size)
                if bad.any():
                    value = int(ids[np.argmax(bad)])
                    self.problem(InputProblem(
                        document.source, document.line, inputs_module.TOKEN_OUT_OF_RANGE,
                        f"expected token ids from 0 to {self.tokenizer.vocab_size - 1}, found {value}; "
                        "fix the ids or pass a larger vocab_size",
                    ))
                    continue
            if len(ids) == 0:
                self.problem(InputProblem(
                    document.source, document.line, inputs_module.EMPTY_DOCUMENT,
                    "the document has no tokens",
                ))
                continue
            if len(ids) + 1 > self.shard_positions:
                self.problem(InputProblem(
                    document.source, document.line, inputs_module.DOCUMENT_TOO_LARGE,
                    f"the document has {len(ids):,} tokens, more than one shard may hold "
                    f"({self.shard_positions - 1:,}); raise --memory (or --shard-tokens)",
                ))
                continue
            try:
                metadata = json.dumps(document.metadata, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")
            except UnicodeEncodeError as error:
                self.problem(InputProblem(
                    document.source, document.line, inputs_module.INVALID_UTF8,
                    f"a metadata field holds an unpaired surrogate ({error.object[error.start:error.end]!r}) that has "
                    "no UTF-8 form; fix the record",
                ))
                continue
            if not self.buffer.fits(len(ids), len(metadata)):
                self.finish_shard()
            self.buffer.add(ids, metadata)
            self.report.num_documents += 1
            self.report.num_tokens += len(ids)

    # -- shards ---------------------------------------------------------------------------
    def finish_shard(self) -> None:
        buffer = self.buffer
        if buffer.num_documents == 0:
            return
        name = f"shard-{len(self.shards):05d}"
        tokens = buffer.tokens[: buffer.num_positions]
        # These are also the payload checksums of tokens.bin and metadata.bin: hashed once here.
        tokens_sha256 = hashlib.sha256(tokens.view(np.uint8)).hexdigest()
        metadata_sha256 = hashlib.sha256(buffer.metadata).hexdigest()
        digest = tokens_sha256 + ":" + metadata_sha256
        previous = self.state["shards"].get(name)
        if previous and previous["content_sha256"] == digest and (self.out / name).is_dir():
            entry = previous["entry"]
            self.report.reused_shards += 1
        else:
            entry = self._write_shard(name, buffer, tokens, tokens_sha256, metadata_sha256)
            self.state["shards"][name] = {"content_sha256": digest, "entry": entry}
            self._save_state()
        entry = {**entry, "first_document": sum(s["num_documents"] for s in self.shards)}
        self.shards.append(entry)
        self.buffer = self._new_buffer()

    def _write_shard(self, name: str, buffer: _ShardBuffer, tokens: np.ndarray, tokens_sha256: str,
                     metadata_sha256: str) -> dict[str, Any]:
        width = self.tokenizer.token_width
        num_positions = buffer.num_positions
        pointer_width = pointer_width_for(num_positions)
        staging = self.out / f"{name}.partial"
        final = self.out / name
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir()
        files: dict[str, Any] = {}

        writer = AtomicFileWriter(staging / "tokens.bin", FileHeader(KIND_TOKENS, width, 0, num_positions, width),
                                  known_sha256=tokens_sha256)
        writer.write(tokens.view(np.uint8))
        files["tokens"] = _file_entry(name, "tokens.bin", writer.commit())

        with tqdm(total=num_positions, desc=f"sorting {name}", unit="tok", unit_scale=True, disable=not self.progress) as bar:
            _release_free_memory()
            chunks = _sorted_positions(tokens, width)
            writer = AtomicFileWriter(
                staging / "suffix_array.bin",
                FileHeader(KIND_SUFFIX_ARRAY, width, pointer_width, num_positions, pointer_width),
            )
            key_positions = []
            try:
                start = 0
                for chunk in chunks:
                    writer.write(_pack_pointers(chunk, pointer_width))
                    key_positions.append(chunk[-start % SUFFIX_KEY_STEP :: SUFFIX_KEY_STEP].astype(np.int64))
                    start += len(chunk)
                    bar.update(len(chunk))
                # The last chunk is a view of the whole sorted array: let it go now, not after
                # the keys and documents are written (it held 6.8 GB past the budget once).
                chunk = chunks = None
                files["suffix_array"] = _file_entry(name, "suffix_array.bin", writer.commit())
            except BaseException:
                writer.abort()
                raise
        keys = _core.suffix_keys(tokens.view(np.uint8), width, np.concatenate(key_positions))
        writer = AtomicFileWriter(staging / "suffix_keys.bin", FileHeader(KIND_SUFFIX_KEYS, width, 0, len(keys) // 8, 8))
        writer.write(keys)
        files["suffix_keys"] = {**_file_entry(name, "suffix_keys.bin", writer.commit()), "step": SUFFIX_KEY_STEP}

        files.update(self._write_documents(staging, name, buffer, metadata_sha256))
        return self._publish_shard(name, staging, buffer, pointer_width, files)

    def _write_documents(self, staging: Path, name: str, buffer: _ShardBuffer, metadata_sha256: str) -> dict[str, Any]:
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
        files["documents"] = _file_entry(name, "documents.bin", writer.commit())

        writer = AtomicFileWriter(staging / "metadata.bin", FileHeader(KIND_METADATA, width, 0, len(buffer.metadata), 1),
                                  known_sha256=metadata_sha256)
        writer.write(bytes(buffer.metadata))
        files["metadata"] = _file_entry(name, "metadata.bin", writer.commit())
        return files

    def _publish_shard(self, name: str, staging: Path, buffer: _ShardBuffer, pointer_width: int,
                       files: dict[str, Any]) -> dict[str, Any]:
        """Rename a finished shard's staging directory into place; returns its manifest entry."""
        num_positions = buffer.num_positions
        final = self.out / name
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
        return {
            "name": name,
            "num_documents": buffer.num_documents,
            "num_tokens": num_positions - buffer.num_documents,
            "num_positions": num_positions,
            "pointer_width": pointer_width,
            "files": files,
        }

    def manifest_extra(self) -> dict[str, Any]:
        """Fields an index kind adds to the manifest."""
        return {}

    def finish(self) -> BuildReport:
        self.finish_shard()
        if not self.shards:
            raise BuildError(
                f"nothing to index: all {self.report.records_read:,} records were blank or had problems"
                + (f" (first: {self.report.first_problems[0]})" if self.report.first_problems else "")
            )
        self.tokenizer.save(self.out)
        names = {shard["name"] for shard in self.shards}
        for stale in self.out.iterdir():
            if SHARD_NAME.match(stale.name) and stale.name not in names:
                shutil.rmtree(stale)
        write_json_atomically(self.out / REPORT_NAME, self.report.to_json())
        manifest = {
            "format": MANIFEST_FORMAT,
            "format_version": FORMAT_VERSION,
            "index_kind": self.index_kind,
            "tokenizer": self.tokenizer.manifest_entry(),
            "token_width": self.tokenizer.token_width,
            "separator_id": self.tokenizer.separator_id,
            "vocab_size": self.tokenizer.vocab_size,
            "num_documents": self.report.num_documents,
            "num_tokens": self.report.num_tokens,
            "shards": self.shards,
            "build": self.fingerprint,
            **self.manifest_extra(),
        }
        write_json_atomically(self.out / MANIFEST_NAME, manifest)
        (self.out / BUILD_STATE_NAME).unlink(missing_ok=True)
        self.report.num_shards = len(self.shards)
        return self.report


def _prepare_output(out: Path, fingerprint: dict[str, Any], overwrite: bool) -> BuildReport | None:
    """Check the output directory; returns a report when the index there is already up to date."""
    if out.exists() and not out.is_dir():
        raise BuildError(f"output {out} is a file; pass a directory for the index")
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / MANIFEST_NAME
    has_state = (out / BUILD_STATE_NAME).exists()
    if manifest_path.exists():
        try:
            existing = json.loads(manifest_path.read_text(encoding="utf-8"))
        except ValueError:
            existing = {}
        if existing.get("build") == fingerprint and fingerprint.get("inputs") is not None and not overwrite:
            report = BuildReport(directory=str(out), **json.loads((out / REPORT_NAME).read_text(encoding="utf-8")))
            report.num_shards = len(existing.get("shards", []))
            report.index_bytes = directory_bytes(out)
            report.up_to_date = True
            return report
        if existing.get("build") != fingerprint and not overwrite:
            raise BuildError(
                f"{out} already holds an index built from other inputs or options; "
                "pass --overwrite to replace it, or choose another --out"
            )
        # From here on the old index must not open: its shards are about to be replaced.
        manifest_path.unlink()
    elif not has_state and any(out.iterdir()):
        raise BuildError(f"{out} is not empty and holds no infgram index; choose an empty or new --out directory")
    return None


def _run(records: Iterable[Any], out: Path, tokenizer: Tokenizer, fingerprint: dict[str, Any], shard_positions: int,
         on_error: str, progress: bool, bar: tqdm, start: float) -> BuildReport:
    builder_class = _Builder
    if fingerprint.get("index_kind") == "fm":
        from .fm_build import FMBuilder as builder_class
    builder = builder_class(out, tokenizer, fingerprint, shard_positions, on_error, progress)
    batch: list[SourceDocument] = []
    batch_bytes = 0
    for record in records:
        builder.report.records_read += 1
        if isinstance(record, SourceDocument):
            batch.append(record)
            batch_bytes += len(record.text) if record.text is not None else len(record.ids)
            if len(batch) >= 2048 or batch_bytes >= (8 << 20):
                builder.add_documents(batch)
                batch, batch_bytes = [], 0
        elif isinstance(record, BlankLine):
            builder.report.blank_lines += 1
        else:
            # Documents before the problem may hold problems of their own (found when they
            # are tokenized): handle them first, so problems are reported in input order.
            if batch:
                builder.add_documents(batch)
                batch, batch_bytes = [], 0
            builder.problem(record)
    if batch:
        builder.add_documents(batch)
    bar.close()
    report = builder.finish()
    report.index_bytes = directory_bytes(out)
    report.seconds = time.perf_counter() - start
    return report


def _options(tokenizer: Tokenizer, text_field: str, on_error: str, memory_bytes: int | None,
             shard_tokens: int | None, kind: str = "sa", sample_rate: int | None = None) -> tuple[int, dict[str, Any]]:
    if on_error not in ("fail", "skip"):
        raise BuildError(f"on_error must be 'fail' or 'skip', found {on_error!r}")
    if kind not in INDEX_KINDS:
        raise BuildError(f"expected the index kind 'sa' (suffix array) or 'fm' (FM-index), found {kind!r}")
    if kind != "fm" and sample_rate is not None:
        raise BuildError(f"a sample rate ({sample_rate}) applies to FM-indexes only; pass --kind fm or drop --sample-rate")
    budget = None
    if shard_tokens is not None:
        if shard_tokens < 2:
            raise BuildError(f"shard_tokens must be at least 2, found {shard_tokens}")
        shard_positions = int(shard_tokens)
    else:
        budget = parse_memory(memory_bytes) if memory_bytes is not None else default_memory_budget()
        if kind == "fm":
            from .fm_build import fm_shard_positions_for_budget as positions_for_budget
        else:
            positions_for_budget = shard_positions_for_budget
        shard_positions = positions_for_budget(budget, tokenizer.token_width)
    fingerprint = {
        "format_version": FORMAT_VERSION,
        "tokenizer": tokenizer.manifest_entry(),
        "text_field": text_field,
        "on_error": on_error,
        "shard_positions": shard_positions,
        "memory_budget": budget,
    }
    if kind == "fm":
        from .fm_build import fm_fingerprint

        fingerprint.update(fm_fingerprint(tokenizer, sample_rate))
    return shard_positions, fingerprint


def build(inputs: Iterable[str | Path], out: str | Path, *, tokenizer: str | Path | Tokenizer | None = None,
          text_field: str = "text", on_error: str = "fail", memory: str | int | None = None,
          shard_tokens: int | None = None, overwrite: bool = False, progress: bool = True, kind: str = "sa",
          sample_rate: int | None = None) -> BuildReport:
    """Index files or directories of JSON Lines, text or Parquet into ``out``.

    ``tokenizer`` is ``None``/``"bytes"`` for byte mode or a ``tokenizer.json`` path.
    ``memory`` bounds the sort's working set (e.g. ``"8G"``; default half the machine's
    memory); ``shard_tokens`` sets the shard size directly. ``on_error="skip"`` indexes
    what it can and lists the rest in the report; ``"fail"`` stops at the first problem.
    ``kind="fm"`` builds a compressed FM-index over bytes instead of a suffix array (see
    ``fm_build.py``), sampling one text position in ``sample_rate``.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "corpus.jsonl").write_text('{"text": "a rose is a rose"}\\n{"text": "is it"}\\n')
    >>> report = build([folder / "corpus.jsonl"], folder / "index", progress=False)
    >>> report.num_documents, report.num_tokens
    (2, 21)
    """
    start = time.perf_counter()
    out = Path(out)
    tokenizer = load_tokenizer(tokenizer)
    files = inputs_module.expand_inputs(inputs, exclude=out)
    shard_positions, fingerprint = _options(tokenizer, text_field, on_error, memory, shard_tokens, kind, sample_rate)
    fingerprint["inputs"] = [[str(f), f.stat().st_size, f.stat().st_mtime_ns] for f in files]
    up_to_date = _prepare_output(out, fingerprint, overwrite)
    if up_to_date is not None:
        return up_to_date
    total_bytes = sum(f.stat().st_size for f in files)
    bar = tqdm(total=total_bytes, desc="reading and tokenizing", unit="B", unit_scale=True, disable=not progress)
    records = inputs_module.read_records(files, text_field, on_read=bar.update)
    report = _run(records, out, tokenizer, fingerprint, shard_positions, on_error, progress, bar, start)
    report.input_bytes = total_bytes
    if progress:
        tqdm.write(report.summary())
    return report


def build_from_documents(documents: Iterable[str | dict[str, Any] | SourceDocument | InputProblem], out: str | Path, *,
                         tokenizer: str | Path | Tokenizer | None = None, token_width: int | None = None,
                         vocab_size: int | None = None, on_error: str = "fail", memory: str | int | None = None,
                         shard_tokens: int | None = None, overwrite: bool = False,
                         progress: bool = True, kind: str = "sa", sample_rate: int | None = None) -> BuildReport:
    """Index documents given in Python: strings, ``{"text": ..., "metadata": {...}}`` or
    ``{"ids": [...], "metadata": {...}}``. Token ids need ``token_width`` (1, 2 or 4) and
    optionally ``vocab_size``; they make an index without a tokenizer.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> build_from_documents([{"ids": [1, 2, 1]}, {"ids": [2, 1]}], folder / "ids", token_width=2,
    ...                      vocab_size=3, progress=False).num_tokens
    5
    """
    start = time.perf_counter()
    out = Path(out)
    tokenizer = PretokenizedVocabulary(token_width, vocab_size) if token_width is not None else load_tokenizer(tokenizer)
    shard_positions, fingerprint = _options(tokenizer, "text", on_error, memory, shard_tokens, kind, sample_rate)
    fingerprint["inputs"] = None
    _prepare_output(out, fingerprint, overwrite)
    bar = tqdm(desc="reading and tokenizing", unit="doc", disable=not progress)

    def records() -> Iterator[SourceDocument | InputProblem]:
        for number, item in enumerate(documents, start=1):
            bar.update(1)
            if isinstance(item, (SourceDocument, InputProblem)):
                yield item
                continue
            if isinstance(item, str):
                item = {"text": item}
            metadata = dict(item.get("metadata") or {})
            if "ids" in item:
                ids = np.asarray(item["ids"])
                if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
                    yield InputProblem("<python>", number, inputs_module.TOKEN_OUT_OF_RANGE,
                                       f"expected a flat list of integer token ids, found {ids.dtype} of shape {ids.shape}")
                    continue
                yield SourceDocument(None, metadata, "<python>", number, ids.astype(np.int64))
            elif isinstance(tokenizer, PretokenizedVocabulary):
                yield InputProblem("<python>", number, inputs_module.MISSING_TEXT_FIELD,
                                   "expected 'ids' in every document of an index built from token ids")
            else:
                text = inputs_module.text_or_problem(item.get("text"), "<python>", number, "text")
                yield text if isinstance(text, InputProblem) else SourceDocument(text, metadata, "<python>", number)

    report = _run(records(), out, tokenizer, fingerprint, shard_positions, on_error, progress, bar, start)
    if progress:
        tqdm.write(report.summary())
    return report
