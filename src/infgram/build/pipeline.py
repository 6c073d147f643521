"""The build pipeline: read → tokenize → buffer → shard → publish.

Records come from the input readers (``inputs.py``) or from Python; their documents are
tokenized in batches and appended to a shard buffer (``shard_writer.py``) until the shard
is full under the memory plan (``plan.py``); then the index kind's writer sorts and writes
the shard (``sa_writer.py`` or ``fm_writer.py``).

A corpus larger than the memory budget is cut into shards between documents; each shard is
an independent index, and queries add their answers up.

Pipelining. A full shard is handed to a background thread that sorts and writes it while
the main thread reads and tokenizes the next one (the sorters, file writes and hashing
release the GIL, so they run on cores of their own). Shards are sorted beside each other,
one per core this process may use (``INFGRAM_BUILD_THREADS`` sets another number): a full
shard is handed over at once when a core is free and its sort fits beside those in flight
within the budget, else it waits for the oldest. Each sort takes one thread, but the last
shard's takes the cores the others leave (a one-shard build sorts on every core: the
sorter's helper threads read the text ahead of its scans, ``c/sais.h``). The memory plan
counts a shard and a buffer (``plan.py``: a shard is cut so that sorting it beside a buffer
like it stays within the budget); the reader waits when the buffer being filled would not fit beside the shards
being written, and so does a hand-over; the cut points depend on the documents only, never
on timing or on the number of cores. Each shard's thread does what touches that shard on
disk (reusing, forgetting, writing, publishing, recording); shards are published and
recorded in order (each waits for the one before it), so the build state always lists a run
of shards from the first, as a sequential build leaves it, and after a failed shard none
behind it is published. Errors are raised in the main thread as they are, the oldest shard's
first (an ``OSError`` becomes a :class:`BuildError` there, as before); an error in the main
thread first lets the shards in flight finish, and an interrupt (Ctrl-C) stops them at their
next step. ``INFGRAM_BUILD_PIPELINE=0`` builds one step after another (same files).

Resuming. Before anything else is written (or an old index's manifest removed), the build
records its fingerprint (inputs, options) in ``build-state.json``; shards are then written
one at a time under temporary names (``shard_writer.py``) and recorded there as they
finish; the report, then the manifest are written last and the state removed. So at any
point where the process may be killed, the directory holds either a finished index or a
build state, and rerunning the same command resumes: it keeps the finished shards, discards
half-written ones and writes byte-identical files. With each shard the state records its
resume point (:meth:`Builder.resume_point`): the records read before the shard's cut, the
record count at the end of each input file, and the report's counts there. A rerun keeps
every shard up to the last resume point without reading their input again: the files read
whole before the cut are not opened, and the file holding it is read from its start to the
cut without tokenizing (input files are fingerprinted by size and modification time, so the
records are the same). When that is not possible (documents from Python, a kept shard gone),
it reads the inputs again and reuses every recorded shard whose tokens and metadata are
unchanged. A missing or damaged ``build-report.json`` or
``build-state.json`` makes the rerun build again; a damaged ``manifest.json`` (not one of
this build's) is a :class:`BuildError`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import stat
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
from tqdm.auto import tqdm

from ..errors import BuildError, InputError, MemoryBudgetWarning, shown
from ..format import (
    BUILD_STATE_NAME,
    FORMAT_VERSION,
    INDEX_KINDS,
    MANIFEST_FORMAT,
    MANIFEST_NORMALIZED_VERSION,
    MANIFEST_VERSION,
    MANIFEST_NAME,
    directory_bytes,
    kill_point,
    manifest_build_options,
    upgrade_build_options,
    index_kind,
    write_bytes_atomically,
    write_json_atomically,
    write_manifest,
)
from ..format.kinds import register_writer
from ..format.metadata import parse_shard_rule
from ..normalize import ORIGINALS_KEY, normalize_with_originals
from ..resources import available_cpus, available_memory_bytes
from ..tokenizer import TOKENIZER_FILE_NAME, PretokenizedVocabulary, Tokenizer, load_tokenizer, normalized_tokenizer
from . import inputs as inputs_module
from .fast_json import encode_metadata
from .fm_writer import FMWriter, fm_fingerprint
from .grouping import SPILL_NAME, DocumentNumbers, ValueGroups, check_field_present
from .inputs import BlankLine, InputProblem, SourceDocument
from .plan import (
    budget_warning,
    default_memory_budget,
    fits_beside,
    parse_memory,
    positions_for_budget,
)
from .sa_writer import SAWriter
from .shard_writer import InThread, ShardBuffer, ShardWriter, remove_path, shards_at_once

REPORT_NAME = "build-report.json"
SHARD_NAME = re.compile(r"^shard-\d{5}(\.partial)?$")
LEFTOVERS = frozenset({*(f"{name}.partial" for name in (BUILD_STATE_NAME, MANIFEST_NAME, REPORT_NAME, TOKENIZER_FILE_NAME)),
                       SPILL_NAME})
"""Temporary files of a killed build's JSON and tokenizer writes, and the spill files of a
``--shard-by`` build's first pass (``grouping.py``): discarded by the rerun."""
register_writer("sa", SAWriter)
register_writer("fm", FMWriter)
WRITERS: dict[str, type[ShardWriter]] = {name: index_kind(name).writer for name in INDEX_KINDS}
"""One writer per index kind, by the kind's name in the manifest (from the registry of kinds)."""
MAX_LISTED_PROBLEMS = 100
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
    files: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per input file: records read (lines of JSON Lines, rows of Parquet, 1 for text),
    documents, blank lines and problems (a truncated or unreadable file is one problem)."""
    read_as: dict[str, str] = field(default_factory=dict)
    """Per input file, how it was read: ``jsonl``, ``csv (gz)``, ``plain text (--format text)``, ..."""
    document_numbers: list[list[Any]] | None = None
    """With ``--shard-by`` (documents numbered by value, not in input order): runs ``[file, first
    line, number of lines, first document]`` mapping input lines to document numbers (see
    :class:`~infgram.build.grouping.DocumentNumbers`); None otherwise."""

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
        if self.read_as:
            kinds: dict[str, int] = {}
            for how in self.read_as.values():
                kinds[how] = kinds.get(how, 0) + 1
            lines.append("files read as: " + ", ".join(f"{how} {count:,}" for how, count in kinds.items()))
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
        if data["document_numbers"] is None:  # numbered in input order: nothing to map
            data.pop("document_numbers")
        return data


class Builder:
    """Fills shards from records, hands full ones to the index kind's writer, and keeps the
    build state that lets an interrupted build resume."""

    def __init__(self, out: Path, tokenizer: Tokenizer, fingerprint: dict[str, Any], shard_positions: int,
                 on_error: str, progress: bool, state: dict[str, Any], report: BuildReport):
        self.writer = index_kind(fingerprint.get("index_kind", "sa")).writer(out, tokenizer, fingerprint, progress)
        self.out = out
        self.tokenizer = tokenizer
        self.fingerprint = fingerprint
        self.shard_positions = shard_positions
        self.on_error = on_error
        self.progress = progress
        self.report = report
        self.shards: list[dict[str, Any]] = []
        self.state = state
        self.buffer = self.new_buffer()
        self.shards_handed_over = 0
        self.in_flight: list[tuple[InThread, int]] = []
        """The shards being sorted and written in the background, oldest first, each with what
        it holds as planned (``ShardBuffer.sorting_bytes``)."""
        self.max_in_flight = shards_at_once(available_cpus())
        """Shards sorted at once: one per core this process may use (see the module's docstring)."""
        self.state_lock = threading.Lock()
        """Held while the build state changes and is saved: shards in flight forget their old
        records beside each other."""
        self.stream: FileRecords | None = None
        """The input files' records, when they come from files (see :meth:`resume_point`)."""
        self.shard_by: dict[str, Any] | None = None
        """With ``--shard-by``: the rule and the value of the documents being buffered, recorded
        in the entries of their shards (see ``grouping.py``)."""
        self.numbering: DocumentNumbers | None = None
        """With ``--shard-by``: input lines to document numbers, for the report."""

    # -- build state (resume) -------------------------------------------------------------
    def save_state(self) -> None:
        """Record the build state (fingerprint and finished shards) in ``build-state.json``."""
        write_json_atomically(self.out / BUILD_STATE_NAME, self.state)

    def new_buffer(self) -> ShardBuffer:
        """An empty buffer for the next shard."""
        return ShardBuffer(self.tokenizer.token_width, self.shard_positions, self.tokenizer.separator_id,
                            self.fingerprint["memory_budget"])

    def count(self, source: str, what: str) -> None:
        """Count a record of an input file in the report's per-file accounting."""
        counts = self.report.files.get(source)
        if counts is not None:
            counts[what] += 1

    # -- records --------------------------------------------------------------------------
    def add_records(self, records: Iterable[Any]) -> None:
        """Account for every record (document, blank line or problem) and buffer the documents
        in batches, tokenizing each batch at once."""
        # Every record is accounted for in input order (a blank line waits in the batch with the
        # documents around it), so at a shard's cut the report counts exactly the records
        # before it: what a resumed build restores (see resume_point).
        batch: list[SourceDocument | BlankLine] = []
        batch_bytes = 0
        for record in records:
            if isinstance(record, (SourceDocument, BlankLine)):
                batch.append(record)
                if isinstance(record, SourceDocument):
                    batch_bytes += len(record.text) if record.text is not None else len(record.ids)
                if len(batch) >= 2048 or batch_bytes >= (8 << 20):
                    self.add_documents(batch)
                    batch, batch_bytes = [], 0
                    while self.in_flight and self.in_flight[0][0].done():
                        self.wait_for_shard()  # a failed shard stops the build now, not at the next one
            else:
                # Documents before the problem may hold problems of their own (found when they
                # are tokenized): handle them first, so problems are reported in input order.
                if batch:
                    self.add_documents(batch)
                    batch, batch_bytes = [], 0
                self.problem(record)
        if batch:
            self.add_documents(batch)

    def account(self, source: str) -> None:
        """Count one record read (in input order)."""
        self.report.records_read += 1
        self.count(source, "records_read")

    def problem(self, problem: InputProblem) -> None:
        self.account(problem.source)
        if self.on_error == "fail":
            raise InputError(f"{problem.describe()} (pass --on-error skip to index the rest and list such records)")
        self.count(problem.source, "problems")
        self.report.problems[problem.kind] = self.report.problems.get(problem.kind, 0) + 1
        if len(self.report.first_problems) < MAX_LISTED_PROBLEMS:
            self.report.first_problems.append(problem.describe())

    def add_documents(self, records: list[SourceDocument | BlankLine]) -> None:
        documents = [record for record in records if isinstance(record, SourceDocument)]
        texts = [d.text for d in documents if d.ids is None]
        form = getattr(self.tokenizer, "normalization", None)
        if form is not None and texts:  # see infgram.normalize: index the normalized text, keep what changed
            normalized = [normalize_with_originals(text, form) for text in texts]
            texts = [text for text, _ in normalized]
            changed = iter([originals for _, originals in normalized])
        encoded = iter((self.tokenizer.inner if form is not None else self.tokenizer).encode_batch(texts)) \
            if texts else iter(())
        for document in records:
            if isinstance(document, BlankLine):
                self.account(document.source)
                self.report.blank_lines += 1
                self.count(document.source, "blank_lines")
                continue
            if document.ids is None:
                ids = next(encoded)
                if form is not None:
                    originals = next(changed)
                    if originals:
                        document = SourceDocument(document.text, {**document.metadata, ORIGINALS_KEY: originals},
                                                  document.source, document.line)
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
                metadata = encode_metadata(document.metadata)
            except UnicodeEncodeError as error:
                self.problem(InputProblem(
                    document.source, document.line, inputs_module.INVALID_UTF8,
                    f"a metadata field holds an unpaired surrogate ({error.object[error.start:error.end]!r}) that has "
                    "no UTF-8 form; fix the record",
                ))
                continue
            except (ValueError, RecursionError) as error:  # a circular or too deeply nested structure
                self.problem(InputProblem(
                    document.source, document.line, inputs_module.INVALID_JSON,
                    f"expected metadata that JSON can hold, found {shown(error)}; fix the record",
                ))
                continue
            if not self.buffer.fits(len(ids), len(metadata)):
                self.finish_shard()
            while self.in_flight and not self.fits_beside_in_flight(len(ids), len(metadata)):
                self.wait_for_shard()  # the budget holds: wait rather than fill past it
            self.account(document.source)
            self.buffer.add(ids, metadata)
            if self.numbering is not None:
                self.numbering.add(document.source, document.line, self.report.num_documents)
            self.count(document.source, "documents")
            self.report.num_documents += 1
            self.report.num_tokens += len(ids)

    # -- shards ---------------------------------------------------------------------------
    def finish_shard(self, last: bool = False) -> None:
        """Hand the full buffer over to be sorted and written (in the background when
        pipelining, beside the shards in flight when a core and the budget allow it, else
        once the oldest is done) and start a new buffer. ``last``: no shard comes after this
        one, so its sort may take the cores that the shards in flight leave free."""
        buffer = self.buffer
        if buffer.num_documents == 0:
            return
        sorting_bytes = buffer.sorting_bytes()
        while self.in_flight and (len(self.in_flight) >= self.max_in_flight or not self.sorts_fit(sorting_bytes)):
            self.wait_for_shard()
        name = f"shard-{self.shards_handed_over:05d}"
        self.shards_handed_over += 1
        self.writer.cancelled.clear()
        resume = self.resume_point(name)
        previous = self.in_flight[-1][0] if self.in_flight else None
        if previous is not None:
            self.writer.ahead[name] = previous
        # A core a shard; the last one takes what the others leave (the sorter's result is
        # the same for any number of threads).
        sort_threads = max(1, self.max_in_flight - len(self.in_flight)) if last else 1
        shard = InThread(self.write_shard, name, buffer, resume, self.shard_by, sort_threads, name=f"write {name}")
        self.in_flight.append((shard, sorting_bytes))
        del buffer
        self.buffer = self.new_buffer()
        if shard.done():  # not pipelining: written already
            self.wait_for_shard()

    @property
    def in_flight_bytes(self) -> int:
        """What the shards in flight hold, as planned."""
        return sum(planned for _, planned in self.in_flight)

    def sorts_fit(self, sorting_bytes: int) -> bool:
        """Whether a shard holding ``sorting_bytes`` may sort beside the shards in flight:
        together they stay within the budget (half the memory this process may use when
        the shards are sized by ``--shard-tokens`` alone), as a buffer beside them must."""
        budget = self.buffer.budget if self.buffer.budget is not None else available_memory_bytes() // 2
        return fits_beside(self.in_flight_bytes + sorting_bytes, 0, 0, 0, self.buffer.token_width, budget)

    def write_shard(self, name: str, buffer: ShardBuffer, resume: dict[str, Any] | None = None,
                    shard_by: dict[str, Any] | None = None, sort_threads: int = 1) -> None:
        """Write (or reuse) shard ``name`` and record it: everything a shard does on disk,
        in a writer thread, its sort on ``sort_threads`` threads. ``resume`` (see
        :meth:`resume_point`) is recorded with it: where a rerun starts reading when this
        shard is the last one kept; ``shard_by`` (the rule and the shard's value) goes into
        its manifest entry. It is published and recorded only once
        the shard handed over before it is, and not at all if that one failed
        (:meth:`ShardWriter.wait_turn`), so the build state always lists a run of shards from
        the first."""

        def forget() -> None:
            with self.state_lock:
                if self.state["shards"].pop(name, None) is not None:
                    self.save_state()  # the record must not outlive the shard it names, which is replaced now

        with self.state_lock:
            old_record = self.state["shards"].get(name)
        entry, record = write_or_reuse_shard(self.writer, name, buffer, old_record, forget, sort_threads)
        self.writer.wait_turn(name)  # recorded after the shard before it, and not after a failed one
        with self.state_lock:
            if record is None:
                self.report.reused_shards += 1
            else:
                self.state["shards"][name] = record
            if record is not None or (resume is not None and self.state.get("resume") != resume):
                if resume is not None:
                    self.state["resume"] = resume
                self.save_state()
            self.add_shard(entry if shard_by is None else {**entry, "shard_by": shard_by})

    def resume_point(self, name: str) -> dict[str, Any] | None:
        """Where the input stands when shard ``name`` is cut: the records read before its
        cut, the record count at the end of each input file read so far, and the report's
        counts, so that a rerun keeping this shard (and those before it) starts reading
        right after it, with the report as it was here. None when the input is not a list of
        files with a fingerprint (documents from Python, a dataset without a version)."""
        stream = self.stream
        if stream is None:
            return None
        report = self.report
        return {"shard": name, "records_read": report.records_read, "file_ends": list(stream.ends),
                "report": {"num_documents": report.num_documents, "num_tokens": report.num_tokens,
                           "blank_lines": report.blank_lines, "problems": dict(report.problems),
                           "first_problems": list(report.first_problems),
                           "files": {path: dict(counts) for path, counts in report.files.items()
                                     if any(counts.values())}}}

    def resume_from(self, entries: list[dict[str, Any]], resume: dict[str, Any]) -> None:
        """Start after the kept shards ``entries`` (recorded by an earlier run, with
        ``resume`` the resume point of the last), the report restored to its counts there."""
        for entry in entries:
            self.add_shard({key: value for key, value in entry.items() if key != "first_document"})
        self.shards_handed_over = len(entries)
        report, saved = self.report, resume["report"]
        report.records_read = resume["records_read"]
        report.num_documents, report.num_tokens = saved["num_documents"], saved["num_tokens"]
        report.blank_lines = saved["blank_lines"]
        report.problems = dict(saved["problems"])
        report.first_problems = list(saved["first_problems"])
        for path, counts in saved["files"].items():
            if path in report.files:
                report.files[path] = dict(counts)
        report.reused_shards += len(entries)

    def wait_for_shard(self) -> None:
        """Wait for the oldest shard in flight, if any, raising its error here."""
        if not self.in_flight:
            return
        shard = self.in_flight[0][0]
        shard.wait()  # interrupted here, the shard is still in flight for abandon() to stop
        del self.in_flight[0]
        shard.result()

    def fits_beside_in_flight(self, num_tokens: int, metadata_bytes: int) -> bool:
        """Whether the buffer, with one more document, fits beside the shards in flight."""
        buffer = self.buffer
        if buffer.budget is None:
            return True
        return fits_beside(self.in_flight_bytes, buffer.num_positions + num_tokens + 1, buffer.num_documents + 1,
                           buffer.metadata_bytes + metadata_bytes, buffer.token_width, buffer.budget)

    def abandon(self, error: BaseException) -> None:
        """After an error in the main thread: let the shards in flight finish, so the build
        state is what a sequential build leaves, or on an interrupt stop them at their next
        step (they are then written again by the rerun). Their own errors, if any, give way
        to ``error``."""
        shards, self.in_flight = self.in_flight, []
        if shards and not isinstance(error, Exception):
            self.writer.cancel()
        for shard, _ in shards:
            shard.wait()

    def add_shard(self, entry: dict[str, Any]) -> None:
        """List a finished shard (the next one) in the manifest, numbering its first document."""
        self.shards.append({**entry, "first_document": sum(s["num_documents"] for s in self.shards)})

    def add_grouped(self, records: Iterable[Any], groups: ValueGroups) -> None:
        """A ``--shard-by`` build (see ``grouping.py``): the first pass spills the documents by
        value, accounting for the other records; the second buffers each value's documents
        in turn, cutting a shard where the value changes."""
        self.add_records(groups.route(records))
        check_field_present(groups)
        self.numbering = DocumentNumbers()
        for value in groups.values():
            self.shard_by = {"rule": groups.rule.text, "value": value}
            self.add_records(groups.documents(value))
            self.finish_shard()
        self.report.document_numbers = self.numbering.runs

    def finish(self) -> BuildReport:
        self.finish_shard(last=True)
        while self.in_flight:
            self.wait_for_shard()
        if not self.shards:
            raise BuildError(
                f"nothing to index: all {self.report.records_read:,} records were blank or had problems"
                + (f" (first: {self.report.first_problems[0]})" if self.report.first_problems else "")
            )
        save_tokenizer(self.tokenizer, self.out)
        names = {shard["name"] for shard in self.shards}
        for stale in self.out.iterdir():
            if SHARD_NAME.match(stale.name) and stale.name not in names:
                remove_path(stale)
        self.report.num_shards = len(self.shards)
        write_json_atomically(self.out / REPORT_NAME, self.report.to_json())
        write_manifest(self.out, self.manifest())
        (self.out / BUILD_STATE_NAME).unlink(missing_ok=True)
        return self.report

    def manifest(self) -> dict[str, Any]:
        """The manifest of the index built: its tokenizer, totals, shards and build options."""
        return {
            "format": MANIFEST_FORMAT,
            "format_version": MANIFEST_VERSION if getattr(self.tokenizer, "normalization", None) is None
            else MANIFEST_NORMALIZED_VERSION,
            "index_kind": self.writer.index_kind,
            "tokenizer": self.tokenizer.manifest_entry(),
            "token_width": self.tokenizer.token_width,
            "separator_id": self.tokenizer.separator_id,
            "vocab_size": self.tokenizer.vocab_size,
            "num_documents": self.report.num_documents,
            "num_tokens": self.report.num_tokens,
            "shards": self.shards,
            "build": manifest_build_options(self.fingerprint),
            **self.writer.manifest_extra(),
        }


def save_tokenizer(tokenizer: Tokenizer, out: Path) -> None:
    """Store the file the tokenizer needs (``tokenizer.json``) in the index, unless it is there already."""
    data = tokenizer.stored_file()
    target = out / TOKENIZER_FILE_NAME
    if data is not None and not (target.is_file() and target.read_bytes() == data):
        write_bytes_atomically(target, data)


def write_or_reuse_shard(writer: ShardWriter, name: str, buffer: ShardBuffer, previous: dict[str, Any] | None,
                         forget: Callable[[], None], sort_threads: int = 1) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Write shard ``name`` from a full buffer (its sort on ``sort_threads`` threads), unless
    ``previous`` (its build-state record) shows the same tokens and metadata already written
    and intact. Returns its manifest entry and its new build-state record, or None for the
    record when the shard was reused; ``forget()`` runs right before an old shard is replaced."""
    tokens = buffer.tokens[: buffer.num_positions]
    # These are also the payload checksums of tokens.bin and metadata.bin: hashed once here.
    tokens_sha256 = hashlib.sha256(tokens.view(np.uint8)).hexdigest()
    metadata_sha256 = hashlib.sha256(buffer.metadata).hexdigest()
    digest = tokens_sha256 + ":" + metadata_sha256
    if previous and previous["content_sha256"] == digest and _shard_intact(writer.out, previous["entry"]):
        return previous["entry"], None
    forget()
    entry = writer.write_shard(name, buffer, tokens, tokens_sha256, metadata_sha256, sort_threads)
    kill_point("shard-published")
    return entry, {"content_sha256": digest, "entry": entry}


def _shard_intact(out: Path, entry: dict[str, Any]) -> bool:
    """Whether a recorded shard is still there as recorded: its directory, and each of its
    files at its recorded size (files are renamed into place whole, so a size check suffices
    against a half-deleted or replaced shard; checksums are for ``Index.verify``)."""
    try:
        if not (out / entry["name"]).is_dir():
            return False
        return all((out / file["path"]).stat().st_size == file["bytes"] for file in entry["files"].values())
    except (OSError, KeyError, TypeError, AttributeError):
        return False


def _read_json(path: Path) -> tuple[Any, str | None]:
    """A JSON file's contents and None, or None and why it cannot be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except OSError as error:
        return None, error.strerror or str(error)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        return None, f"not valid JSON: {error}"


def _read_state(out: Path, fingerprint: dict[str, Any]) -> dict[str, Any] | None:
    """The build state in ``out`` when it is this build's (same fingerprint), with every
    well-formed shard record; None when there is none, it is another build's, or damaged."""
    state, _ = _read_json(out / BUILD_STATE_NAME)
    if not isinstance(state, dict) or state.get("fingerprint") != fingerprint or not isinstance(state.get("shards"), dict):
        return None
    shards = {name: record for name, record in state["shards"].items()
              if isinstance(record, dict) and isinstance(record.get("content_sha256"), str)
              and isinstance(record.get("entry"), dict)}
    kept = {"fingerprint": fingerprint, "shards": shards}
    if isinstance(state.get("resume"), dict):
        kept["resume"] = state["resume"]  # checked when used (kept_shards)
    return kept


def _normalized_inputs(build: Any) -> Any:
    """A fingerprint with its input paths made absolute, so that naming the same file by a
    relative and by an absolute path is the same build."""
    if not isinstance(build, dict) or not isinstance(build.get("inputs"), list):
        return build
    try:
        inputs = [[path if inputs_module.names_no_local_file(path) else os.path.abspath(path), *rest]
                  for path, *rest in build["inputs"]]
    except (TypeError, ValueError):
        return build
    return {**build, "inputs": inputs}


def _same_options(recorded: Any, fingerprint: dict[str, Any]) -> bool:
    """Whether a manifest's ``build`` entry records the options of this build's fingerprint.
    The plan resolved from them (:data:`~infgram.format.PLAN_KEYS`) does not count: an index
    built with the default budget is up to date on any machine. A manifest of an older
    version recorded a budget without saying whether the user gave it: then the budget is
    not compared."""
    options = manifest_build_options(fingerprint)
    if isinstance(recorded, dict) and isinstance(recorded.get("memory_budget"), int):
        options.pop("memory_bytes", None)
    return upgrade_build_options(_normalized_inputs(recorded)) == options


def _stored_report(out: Path, manifest: dict[str, Any]) -> BuildReport | None:
    """The report of the finished build in ``out``, or None when it is missing or damaged."""
    data, _ = _read_json(out / REPORT_NAME)
    if not isinstance(data, dict) or data.get("num_documents") != manifest.get("num_documents"):
        return None
    try:
        report = BuildReport(directory=str(out), **data)
    except TypeError:
        return None
    report.num_shards = len(manifest.get("shards", []))
    report.index_bytes = directory_bytes(out)
    report.up_to_date = True
    return report


def _discard_leftovers(out: Path) -> None:
    """Remove what a killed build leaves half-written: staging directories and temporary files."""
    for path in out.iterdir():
        if path.name in LEFTOVERS or (SHARD_NAME.match(path.name) and path.name.endswith(".partial")):
            remove_path(path)


def prepare_output(out: Path, fingerprint: dict[str, Any], overwrite: bool,
                    progress: bool) -> tuple[BuildReport | None, dict[str, Any]]:
    """Check the output directory. Returns the stored report when the index there is already
    up to date; else records this build's fingerprint (resuming a state of the same build)
    before anything else is written or removed, and returns that state."""
    if out.exists() and not out.is_dir():
        raise BuildError(f"output {shown(out)} is a file; pass a directory for the index")
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / MANIFEST_NAME
    state = _read_state(out, fingerprint)
    if manifest_path.exists() or manifest_path.is_symlink():
        existing, damage = _read_json(manifest_path)
        if not isinstance(existing, dict):
            if state is None and not overwrite:
                raise BuildError(
                    f"{shown(manifest_path)} cannot be read ({shown(damage or 'not a JSON object')}), so the index "
                    "there is damaged; pass --overwrite to build it again, or choose another --out"
                )
        else:
            same = _same_options(existing.get("build"), fingerprint)
            if same and fingerprint.get("inputs") is not None and not overwrite:
                report = _stored_report(out, existing)
                if report is not None:
                    # A build killed after writing its manifest may have left its state behind.
                    (out / BUILD_STATE_NAME).unlink(missing_ok=True)
                    _discard_leftovers(out)
                    return report, {}
                if progress:
                    tqdm.write(f"{shown(out / REPORT_NAME)} is missing or damaged: building the index again")
            elif not same and not overwrite:
                raise BuildError(
                    f"{shown(out)} already holds an index built from other inputs or options; "
                    "pass --overwrite to replace it, or choose another --out"
                )
    elif not (out / BUILD_STATE_NAME).exists() and any(p.name not in LEFTOVERS for p in out.iterdir()):
        raise BuildError(f"{shown(out)} is not empty and holds no infgram index; choose an empty or new --out directory")
    if state is None:
        state = {"fingerprint": fingerprint, "shards": {}}
    # Recorded first: from here on, a killed build leaves a state that the same command resumes.
    write_json_atomically(out / BUILD_STATE_NAME, state)
    kill_point("state-recorded")
    # The old index must not open any more: its shards are about to be replaced.
    manifest_path.unlink(missing_ok=True)
    _discard_leftovers(out)
    return None, state


class FileRecords:
    """The records of the input files, read one file after another, keeping the number of
    records read by the end of each file (``ends``): what a build's resume point records.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> files = [folder / "a.txt", folder / "b.jsonl"]
    >>> _ = files[0].write_text("one"), files[1].write_text('{"text": "x"}\\n\\n{"text": "y"}\\n')
    >>> stream = FileRecords(files, inputs_module.read_records)
    >>> [record.line for record in stream], stream.ends
    ([0, 1, 2, 3], [1, 4])
    >>> stream = FileRecords(files, inputs_module.read_records)
    >>> stream.skip(2, [1, 4]), [record.line for record in stream], stream.ends
    (1, [2, 3], [1, 4])
    """

    def __init__(self, files: list[Any], read: Callable[[list[Any]], Iterable[Any]]):
        self.files = files
        self.read = read
        self.ends: list[int] = []
        self._first_file = 0
        self._offset = 0
        self._total = 0

    def skip(self, records: int, file_ends: list[int]) -> int:
        """Start after the first ``records`` records, without opening the files that end by
        then (``file_ends``: the ends of the files an earlier run read, as it counted them).
        Returns the number of files not opened."""
        first = 0
        while first < min(len(file_ends), len(self.files)) and file_ends[first] <= records:
            first += 1
        self.ends = list(file_ends[:first])
        self._first_file = first
        self._total = self.ends[-1] if self.ends else 0
        self._offset = records - self._total
        return first

    def __iter__(self) -> Iterator[Any]:
        for number in range(self._first_file, len(self.files)):
            records = iter(self.read([self.files[number]]))
            if number == self._first_file and self._offset:
                # The part of this file before the cut: read again (never tokenized), not kept.
                self._total += sum(1 for _ in itertools.islice(records, self._offset))
            for record in records:
                self._total += 1
                yield record
            self.ends.append(self._total)


def kept_shards(out: Path, state: dict[str, Any], fingerprint: dict[str, Any],
                num_files: int) -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
    """The shards a resumed build keeps without reading their input again: those up to the
    build state's resume point (see :meth:`Builder.resume_point`), when every one of them is
    recorded and intact; with that resume point. None when there is nothing to keep this way
    (inputs without a fingerprint, no resume point, a shard missing or changed)."""
    resume = state.get("resume")
    if fingerprint.get("inputs") is None or not isinstance(resume, dict):
        return None
    try:
        last = int(str(resume["shard"]).removeprefix("shard-"))
        ends = resume["file_ends"]
        if not (isinstance(resume["records_read"], int) and isinstance(ends, list) and len(ends) <= num_files
                and all(isinstance(end, int) for end in ends) and ends == sorted(ends)
                and isinstance(resume["report"], dict)):
            return None
    except (KeyError, TypeError, ValueError):
        return None
    entries = []
    for number in range(last + 1):
        record = state["shards"].get(f"shard-{number:05d}")
        if record is None or not _shard_intact(out, record["entry"]):
            return None
        entries.append(record["entry"])
    return entries, resume


def _run(records: Iterable[Any], out: Path, tokenizer: Tokenizer, fingerprint: dict[str, Any], shard_positions: int,
         on_error: str, progress: bool, bar: tqdm, start: float, state: dict[str, Any],
         report: BuildReport, kept: tuple[list[dict[str, Any]], dict[str, Any]] | None = None) -> BuildReport:
    builder = Builder(out, tokenizer, fingerprint, shard_positions, on_error, progress, state, report)
    rule = fingerprint.get("shard_by")
    # Grouped by value, shards do not follow the input's order: a rerun reads the input again.
    if isinstance(records, FileRecords) and fingerprint.get("inputs") is not None and rule is None:
        builder.stream = records
    if kept is not None and rule is None:
        builder.resume_from(*kept)
    groups = ValueGroups(out, parse_shard_rule(rule)) if rule is not None else None
    try:
        if groups is not None:
            builder.add_grouped(records, groups)
        else:
            builder.add_records(records)
        bar.close()
        report = builder.finish()
    except BaseException as error:
        builder.abandon(error)
        raise
    finally:
        if groups is not None:
            groups.close()
    report.index_bytes = directory_bytes(out)
    report.seconds = time.perf_counter() - start
    return report


@contextmanager
def write_errors_named(out: Path) -> Iterator[None]:
    """Turn an OS error on the output side into a :class:`BuildError` (input files' errors
    are problems already, see ``inputs.py``)."""
    try:
        yield
    except OSError as error:
        where = f" ({shown(error.filename)})" if error.filename else ""
        raise BuildError(
            f"cannot write the index in {shown(out)}: {error.strerror or error}{where}; check the output "
            "directory's permissions and free space (rerun the same command to resume)"
        ) from error


def input_fingerprint(files: list[Any]) -> tuple[list[list[Any]] | None, int]:
    """Each input's absolute path, size and modification time (a URL's or a dataset's own
    version), and their total size; no entries when an input (an iterable dataset) has no version."""
    entries = []
    for path in files:
        if not isinstance(path, Path):  # a remote file or a datasets object
            entries.append(path.fingerprint())
            continue
        try:
            # A link to nothing is kept only to be listed as skipped (--on-error skip): the link itself.
            status = path.lstat() if path.is_symlink() and not path.exists() else path.stat()
            if stat.S_ISLNK(status.st_mode):
                entries.append([os.path.abspath(path), 0, status.st_mtime_ns])
                continue
        except OSError as error:
            raise InputError(f"cannot read input {shown(path)}: {error.strerror or error}; check that it still exists "
                             "and is readable") from None
        entries.append([os.path.abspath(path), status.st_size, status.st_mtime_ns])
    return (None if None in entries else entries), sum(entry[1] for entry in entries if entry is not None)


def build_options(tokenizer: Tokenizer, text_field: str, on_error: str, memory_bytes: int | None,
                  shard_tokens: int | None, kind: str = "sa", sample_rate: int | None = None,
                  stacklevel: int = 3, shard_by: str | None = None) -> tuple[int, dict[str, Any]]:
    """Check the build options; returns the shard size in positions and the build's fingerprint
    (inputs not yet included), which fixes the shard layout. A memory budget warning names the
    caller ``stacklevel`` frames up (3: the caller of this function's caller). ``shard_by``
    is a ``--shard-by`` rule (see ``grouping.py``), recorded as given."""
    if on_error not in ("fail", "skip"):
        raise BuildError(f"on_error must be 'fail' or 'skip', found {on_error!r}")
    if kind not in INDEX_KINDS:
        raise BuildError(f"expected the index kind 'sa' (suffix array) or 'fm' (FM-index), found {kind!r}")
    writes = index_kind(kind)
    if writes.settings_section is None and sample_rate is not None:
        raise BuildError(f"a sample rate ({sample_rate}) applies to FM-indexes only; pass --kind fm or drop --sample-rate")
    budget = None
    if shard_tokens is not None:
        if shard_tokens < 2:
            raise BuildError(f"shard_tokens must be at least 2, found {shard_tokens}")
        shard_positions = int(shard_tokens)
    else:
        budget = parse_memory(memory_bytes) if memory_bytes is not None else default_memory_budget()
        shard_positions = positions_for_budget(kind, budget, tokenizer.token_width)
        # Only a budget the user set is a promise to keep; the default is a share of the machine.
        warning = budget_warning(budget, tokenizer.kind) if memory_bytes is not None else None
        if warning:
            warnings.warn(warning, MemoryBudgetWarning, stacklevel=stacklevel)
    fingerprint: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "tokenizer": tokenizer.manifest_entry(),
        "text_field": text_field,
        "on_error": on_error,
    }
    if shard_by is not None:
        fingerprint["shard_by"] = parse_shard_rule(shard_by).text
    # The options as the user gave them (the manifest records these), then the plan resolved
    # from them on this machine (PLAN_KEYS: the build state only, for resuming).
    if shard_tokens is not None:
        fingerprint["shard_tokens"] = shard_positions
    elif memory_bytes is not None:
        fingerprint["memory_bytes"] = budget
    fingerprint.update(shard_positions=shard_positions, memory_budget=budget)
    if kind == "fm":
        fingerprint.update(fm_fingerprint(tokenizer, sample_rate))
    return shard_positions, fingerprint


def file_counts() -> dict[str, int]:
    """The per-file accounting of the report for a file not read yet."""
    return {"records_read": 0, "documents": 0, "blank_lines": 0, "problems": 0}


@dataclass
class FilesBuild:
    """A build of input files, planned and with its output prepared (see :func:`plan_files_build`)."""

    tokenizer: Tokenizer
    files: list[Path]
    shard_positions: int
    fingerprint: dict[str, Any]
    total_bytes: int
    state: dict[str, Any]
    up_to_date: BuildReport | None
    selection: inputs_module.Selection | None = None

    def new_report(self, out: Path) -> BuildReport:
        """The report before any record is read: every file listed, in reading order, with how it is read."""
        return BuildReport(directory=str(out), input_bytes=self.total_bytes,
                           files={str(f): file_counts() for f in self.files},
                           read_as={str(f): inputs_module.reading_of(f, self.selection)[2] for f in self.files})


def plan_files_build(inputs: Iterable[str | Path], out: Path, tokenizer: str | Path | Tokenizer | None, text_field: str,
                     on_error: str, memory: str | int | None, shard_tokens: int | None, overwrite: bool,
                     progress: bool, kind: str, sample_rate: int | None,
                     selection: inputs_module.Selection | None = None, normalize: str | None = None,
                     shard_by: str | None = None) -> FilesBuild:
    """Everything :func:`build` settles before reading: the tokenizer, the input files, the
    shard size and the fingerprint; then the output is prepared (:func:`prepare_output`). When
    the index there is up to date, its report is printed (with ``progress``) and returned as
    ``up_to_date``."""
    tokenizer = normalized_tokenizer(load_tokenizer(tokenizer), normalize)
    files = inputs_module.expand_inputs(inputs, exclude=out, **({"selection": selection} if selection else {}))
    shard_positions, fingerprint = build_options(tokenizer, text_field, on_error, memory, shard_tokens, kind, sample_rate,
                                                 stacklevel=4, shard_by=shard_by)
    fingerprint["inputs"], total_bytes = input_fingerprint(files)
    if selection is not None and selection.format != "auto":
        fingerprint["format"] = selection.format  # another reading of the same files is another index
    with write_errors_named(out):
        up_to_date, state = prepare_output(out, fingerprint, overwrite, progress)
    if up_to_date is not None and progress:
        tqdm.write(up_to_date.summary())
    return FilesBuild(tokenizer, files, shard_positions, fingerprint, total_bytes, state, up_to_date, selection)


def build(inputs: Any, out: str | Path, *, tokenizer: str | Path | Tokenizer | None = None,
          text_field: str | list[str] = "text", on_error: str = "fail", memory: str | int | None = None,
          shard_tokens: int | None = None, overwrite: bool = False, progress: bool = True, kind: str = "sa",
          sample_rate: int | None = None, include: list[str] | None = None,
          exclude: list[str] | None = None, normalize: str | None = None, format: str = "auto",
          shard_by: str | None = None) -> BuildReport:
    """Index files, directories, URLs or ``datasets`` objects into ``out``.

    ``inputs`` is one or a list of: files (JSON Lines, JSON, CSV/TSV, Parquet, Arrow, text,
    Markdown, HTML; see ``inputs.py``), directories, URLs (``s3://``, ``hf://``, ...) and
    ``datasets.Dataset``/``IterableDataset`` objects. ``text_field`` names the field(s)
    holding the text: ``"meta.body"`` a nested one, a list several joined by newlines, or
    a template ``"{title}: {body}"`` (see ``fields.py``). ``include``/``exclude`` are glob
    patterns choosing files below input directories (see ``selection.py``); a file of an
    unknown kind that an include pattern names is read as plain text, and ``format="text"``
    reads every file as one plain-text document (see ``inputs.py``).

    ``tokenizer`` is ``None``/``"bytes"`` for byte mode or a ``tokenizer.json`` path.
    ``memory`` bounds the sort's working set (e.g. ``"8G"``; default half the machine's
    memory); ``shard_tokens`` sets the shard size directly. ``on_error="skip"`` indexes
    what it can and lists the rest in the report; ``"fail"`` stops at the first problem.
    ``kind="fm"`` builds a compressed FM-index over bytes instead of a suffix array (see
    ``fm_writer.py``), sampling one text position in ``sample_rate``. ``normalize`` (``"lowercase"``,
    ``"nfkc"``, ``"nfkc_casefold"``) indexes normalized text; string queries are normalized
    the same way and documents are shown as written (see :mod:`infgram.normalize`).
    ``shard_by`` (``"lang"``, ``"year(date)"``) puts each value's documents in shards of their
    own, numbered by value (see ``grouping.py``): a count per value is then a count per shard.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "corpus.jsonl").write_text('{"text": "a rose is a rose"}\\n{"text": "is it"}\\n')
    >>> report = build([folder / "corpus.jsonl"], folder / "index", progress=False)
    >>> report.num_documents, report.num_tokens
    (2, 21)
    """
    start = time.perf_counter()
    out = Path(out)
    if not isinstance(text_field, str):
        text_field = list(text_field) if len(text_field) != 1 else text_field[0]
    selection = inputs_module.Selection(include, exclude, skip_unknown=on_error == "skip", format=format)
    plan = plan_files_build(inputs, out, tokenizer, text_field, on_error, memory, shard_tokens, overwrite, progress,
                            kind, sample_rate,
                            selection if include or exclude or on_error == "skip" or format != "auto" else None,
                            normalize, shard_by)
    if plan.up_to_date is not None:
        return plan.up_to_date
    tokenizer, files, total_bytes = plan.tokenizer, plan.files, plan.total_bytes
    with write_errors_named(out):
        compressed = any(inputs_module.is_compressed(f) for f in files)
        # Counted in bytes on disk, as read: compressed ones for .gz and .zst inputs.
        bar = tqdm(total=total_bytes, desc="reading and tokenizing" + (" (bytes on disk, compressed)" if compressed else ""),
                   unit="B", unit_scale=True, disable=not progress)
        records = FileRecords(files, lambda chosen: inputs_module.read_records(chosen, text_field, on_read=bar.update,
                                                                               selection=plan.selection))
        kept = kept_shards(out, plan.state, plan.fingerprint, len(files))
        if kept is not None:
            # The kept shards' input is not read again: the files before the cut are not opened.
            skipped = records.skip(kept[1]["records_read"], kept[1]["file_ends"])
            bar.update(sum(entry[1] for entry in plan.fingerprint["inputs"][:skipped]
                           if isinstance(entry, list) and len(entry) > 1 and isinstance(entry[1], int)))
        report = _run(records, out, tokenizer, plan.fingerprint, plan.shard_positions, on_error, progress, bar, start,
                      plan.state, plan.new_report(out), kept)
    if progress:
        tqdm.write(report.summary())
    return report


def python_records(documents: Iterable[str | dict[str, Any] | SourceDocument | InputProblem], tokenizer: Tokenizer,
                   on_record: Callable[[int], Any] | None = None) -> Iterator[SourceDocument | InputProblem]:
    """The records of documents given in Python (see :func:`build_from_documents`): each a
    document or the problem that keeps it out; ``on_record(1)`` is called for each.

    >>> [type(r).__name__ for r in python_records(["ab", {"text": 3}], load_tokenizer(None))]
    ['SourceDocument', 'InputProblem']
    """
    for number, item in enumerate(documents, start=1):
        if on_record is not None:
            on_record(1)
        if isinstance(item, (SourceDocument, InputProblem)):
            yield item
            continue
        if isinstance(item, str):
            item = {"text": item}
        metadata = inputs_module.python_metadata(item, number)
        if isinstance(metadata, InputProblem):
            yield metadata
        elif "ids" in item:
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


def build_from_documents(documents: Iterable[str | dict[str, Any] | SourceDocument | InputProblem], out: str | Path, *,
                         tokenizer: str | Path | Tokenizer | None = None, token_width: int | None = None,
                         vocab_size: int | None = None, on_error: str = "fail", memory: str | int | None = None,
                         shard_tokens: int | None = None, overwrite: bool = False,
                         progress: bool = True, kind: str = "sa", sample_rate: int | None = None,
                         normalize: str | None = None, shard_by: str | None = None) -> BuildReport:
    """Index documents given in Python: strings, ``{"text": ..., "metadata": {...}}`` or
    ``{"ids": [...], "metadata": {...}}``. Token ids need ``token_width`` (1, 2 or 4) and
    optionally ``vocab_size``; they make an index without a tokenizer. Other keys of a
    dict are metadata too (``{"text": ..., "url": ...}``); a key given both ways with two
    values is a ``conflicting_metadata`` problem. ``shard_by`` is that of :func:`build`.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> build_from_documents([{"ids": [1, 2, 1]}, {"ids": [2, 1]}], folder / "ids", token_width=2,
    ...                      vocab_size=3, progress=False).num_tokens
    5
    """
    start = time.perf_counter()
    out = Path(out)
    tokenizer = PretokenizedVocabulary(token_width, vocab_size) if token_width is not None else load_tokenizer(tokenizer)
    tokenizer = normalized_tokenizer(tokenizer, normalize)
    shard_positions, fingerprint = build_options(tokenizer, "text", on_error, memory, shard_tokens, kind, sample_rate,
                                                 shard_by=shard_by)
    fingerprint["inputs"] = None
    with write_errors_named(out):
        _, state = prepare_output(out, fingerprint, overwrite, progress)
    bar = tqdm(desc="reading and tokenizing", unit="doc", disable=not progress)
    with write_errors_named(out):
        report = _run(python_records(documents, tokenizer, bar.update), out, tokenizer, fingerprint, shard_positions,
                      on_error, progress, bar, start, state, BuildReport(directory=str(out)))
    if progress:
        tqdm.write(report.summary())
    return report
