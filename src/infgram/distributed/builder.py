"""Building an index on a Ray cluster, byte for byte the index a local build writes.

A local build (:mod:`infgram.build.pipeline`) reads the records in order, tokenizes them,
and cuts a shard whenever the next document would not fit (``ShardBuffer.fits``); then it
sorts and writes that shard. Only the cutting is sequential, and it needs nothing but each
document's number of tokens and bytes of metadata. So the distributed build runs in three
steps:

1. **Read and tokenize, in parallel.** The inputs are cut into units (:func:`plan_units`),
   each read by a build worker (a :class:`UnitReader`, one tokenizer each) with the local build's own code
   (``read_records`` and ``Builder.add_records``: the same problems, messages and counts),
   which appends each document's tokens and metadata to the unit's files on the shared disk
   and returns per-document token counts and metadata lengths, with the unit's accounting.
2. **Cut, on the driver.** The driver merges the accounting in file order (the build report
   is the local one) and replays the cutting rule over the counts (:func:`plan_shards`), so
   the same inputs and options give the same shards on any number of machines.
3. **Sort and write, in parallel.** A build worker per shard (:func:`write_shard`) reads its
   documents back from the unit files, fills the same ``ShardBuffer`` and runs the index
   kind's writer on its node; suffix arrays go straight to the shared disk, never through
   the object store. The driver records each finished shard in ``build-state.json`` and
   writes the report, then the manifest, last: the index is complete or does not open. A
   unit's files are removed as soon as every shard reading them is written
   (:class:`UnitRelease`), so the index and all the unit files need not fit on disk at once.

A unit is a byte range of a file: a large JSON Lines file is cut into ranges of about
``range_bytes`` (by default a quarter of the inputs' share of one CPU of the cluster), each cut
moved forward to the next line start, so that a line belongs to the range where it starts and
is read once (:func:`infgram.build.inputs.byte_ranges`). A range's reader numbers its lines as
reading the whole file does, so problems name the same lines; the units are merged in input
order, so documents, the report and the index are the local build's, however the files were
cut. A file that cannot be entered in the middle is one unit, and the plan says why
(:func:`infgram.build.inputs.whole_file_reason`): a compressed stream, CSV (a quoted field may
hold line breaks), Parquet and Arrow, and the formats where a file is one document. A file
changed between the plan and the reading of one of its ranges stops the build with an
:class:`~infgram.errors.InputError`.

Faults: a unit or a shard whose worker dies is run again (actor restarts and method retries);
their files are written under temporary names and renamed when whole, so a rerun writes the
same bytes. Shards finished before the driver itself is killed are kept: rerunning the same
command reuses them, as a local rerun does (and either kind of build may resume the other's).

The three steps overlap, on one :class:`BuildWorker` actor per CPU of the cluster that lives
for the whole build and both reads and sorts (a process started per step would pay Ray's and
infgram's start, about half a second, between reading and sorting): a shard is cut and handed
to a free worker as soon as the units read make it whole (cuts are found in input order, and
a cut found is final), while one worker at a time reads on (see :func:`_read_and_write`).
Where each task ran, and when, is in the report's ``task_spans`` (for benchmarks).

The unit files live beside the index, in ``.NAME.ray-work/``, removed when the build ends.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import time
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
from tqdm.auto import tqdm

from ..build.inputs import ByteRange, byte_ranges, read_range_records, read_records, whole_file_reason
from ..build.pipeline import (
    MAX_LISTED_PROBLEMS,
    WRITERS,
    Builder,
    BuildReport,
    file_counts,
    plan_files_build,
    write_errors_named,
    write_or_reuse_shard,
)
from ..build.selection import Selection
from ..build.shard_writer import ShardBuffer, remove_path
from ..errors import BuildError, InfgramError, InputError
from ..format import AtomicFile, directory_bytes, token_dtype
from ..tokenizer import Tokenizer
from .cluster import cluster_cpus, connect, ray_errors_named

KILL_ONCE_VARIABLE = "INFGRAM_TEST_KILL_ONCE"
"""For tests: ``POINT:MARKER`` kills the first worker that reaches POINT (``unit-read`` or
``shard-written``) once in the whole cluster, the marker file recording that it happened."""

RETRIES = 3
"""How many times a unit or a shard is run again after its worker died."""


# -- step 1: reading and tokenizing ---------------------------------------------------------------
class _Spool:
    """Stands in for the shard buffer while a unit is read: every document fits, and is
    appended to the unit's token and metadata files instead of a shard in memory."""

    def __init__(self, tokens_path: Path, metadata_path: Path, token_width: int):
        self.dtype = token_dtype(token_width)
        self.files = [AtomicFile(tokens_path), AtomicFile(metadata_path)]
        self.tokens, self.metadata = (file.handle for file in self.files)
        self.token_counts = array("q")
        self.metadata_lengths = array("q")

    def fits(self, num_tokens: int, metadata_bytes: int) -> bool:
        return True

    def add(self, ids: np.ndarray, metadata: bytes) -> None:
        self.tokens.write(np.asarray(ids).astype(self.dtype).tobytes())
        self.metadata.write(metadata)
        self.token_counts.append(len(ids))
        self.metadata_lengths.append(len(metadata))

    def commit(self) -> None:
        """Both files renamed into place, whole."""
        for file in self.files:
            file.commit()

    def abort(self) -> None:
        """Both temporary files removed."""
        for file in self.files:
            file.abort()


class _UnitBuilder(Builder):
    """The local builder, filling a spool instead of shards."""

    def __init__(self, spool: _Spool, *arguments: Any):
        self.spool = spool
        super().__init__(*arguments)

    def new_buffer(self) -> Any:
        return self.spool


@dataclass
class Unit:
    """One unit of reading: a whole input file (``byte_range`` None, and ``whole_reason``
    saying why when the file could not be split), or the lines of one byte range of it."""

    path: Path
    byte_range: ByteRange | None = None
    whole_reason: str | None = None

    @property
    def num_bytes(self) -> int:
        """The bytes this unit reads (a whole file's size; 0 when it cannot be looked at)."""
        if self.byte_range is not None:
            return self.byte_range.byte_end - self.byte_range.byte_start
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def describe(self) -> str:
        """The unit in messages: the file, and its bytes when it is a range of it."""
        if self.byte_range is None:
            return str(self.path)
        return f"{self.path} (bytes {self.byte_range.byte_start:,} to {self.byte_range.byte_end:,})"


MIN_RANGE_BYTES = 4 << 20
"""The smallest default range: below it, a reader's start-up would cost more than the split gains."""
MAX_RANGE_BYTES = 256 << 20
"""The largest default range: a failed range is read again, and progress moves range by range."""


def default_range_bytes(total_bytes: int, num_cpus: int) -> int:
    """How many bytes a range of a large file holds when the build is not told: a quarter of
    each CPU's share of the inputs (so the last ranges read leave few readers idle), within
    :data:`MIN_RANGE_BYTES` and :data:`MAX_RANGE_BYTES`. The index does not depend on it.

    >>> default_range_bytes(60_000_000, 2) >> 20, default_range_bytes(10**12, 100) >> 20
    (7, 256)
    """
    return min(MAX_RANGE_BYTES, max(MIN_RANGE_BYTES, total_bytes // (4 * max(1, num_cpus))))


def plan_units(files: Sequence[Path], range_bytes: int, selection: Selection | None = None) -> list[Unit]:
    """The units of reading, in input order: every JSON Lines file larger than ``range_bytes``
    cut into ranges at line starts (:func:`infgram.build.inputs.byte_ranges`); every other
    file whole, with the reason when it is large and could not be cut.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.jsonl").write_text('{"text": "a rose"}\\n' * 4)
    >>> _ = (folder / "b.csv").write_text("text\\n" + "a rose\\n" * 10)
    >>> [(unit.path.name, unit.num_bytes, unit.whole_reason) for unit in
    ...  plan_units([folder / "a.jsonl", folder / "b.csv"], 38)]
    [('a.jsonl', 38, None), ('a.jsonl', 38, None), ('b.csv', 75, 'a quoted field may hold line breaks')]
    """
    units = []
    for path in files:
        reason = whole_file_reason(path, selection)
        size = Unit(path).num_bytes if isinstance(path, Path) else 0
        if size <= range_bytes or (reason is None and (path.is_symlink() or not path.is_file())):
            units.append(Unit(path))  # small, or a problem read_records reports as a local build does
        elif reason is not None:
            units.append(Unit(path, whole_reason=reason))
        else:
            units.extend(Unit(path, byte_range) for byte_range in byte_ranges(path, range_bytes))
    return units


def describe_units(units: Sequence[Unit]) -> str:
    """One line on how the inputs were cut into units, for the progress output.

    >>> describe_units([Unit(Path("a.jsonl"), ByteRange(Path("a.jsonl"), 0, 9, 1, 20, 0)),
    ...                 Unit(Path("a.jsonl"), ByteRange(Path("a.jsonl"), 9, 20, 3, 20, 0)),
    ...                 Unit(Path("b.jsonl.gz"), whole_reason="compressed (gz)")])
    'reading 2 file(s) as 3 unit(s): a.jsonl in 2 byte ranges; b.jsonl.gz whole: compressed (gz)'
    """
    ranges: dict[str, int] = {}
    for unit in units:
        if unit.byte_range is not None:
            ranges[str(unit.path)] = ranges.get(str(unit.path), 0) + 1
    notes = [f"{path} in {count} byte ranges" for path, count in ranges.items() if count > 1]
    notes += [f"{unit.path} whole: {unit.whole_reason}" for unit in units if unit.whole_reason]
    files = len(dict.fromkeys(str(unit.path) for unit in units))
    return f"reading {files} file(s) as {len(units)} unit(s)" + (": " + "; ".join(notes) if notes else "")


@dataclass
class TaskSpan:
    """When and where one task of the build ran (wall-clock seconds since the epoch, and the
    Ray node's id), for benchmarks: not part of the build report's JSON."""

    what: str
    node: str
    start: float
    end: float


def node_id() -> str:
    """The id of the Ray node this process runs on ("" outside a Ray worker or driver)."""
    ray = sys.modules.get("ray")  # in a Ray worker it is imported already; elsewhere there is no node
    return ray.get_runtime_context().get_node_id() if ray is not None and ray.is_initialized() else ""


def task_span(what: str, start: float) -> TaskSpan:
    """The span of the task ``what`` that started at ``start`` and ends now, on this node."""
    return TaskSpan(what, node_id(), start, time.time())


def reading_order(units: Sequence[Unit], range_bytes: int) -> list[int]:
    """The numbers of ``units`` in the order they are given out: whole files larger than a
    range first, largest first (they could not be cut, and the longest reads should not start
    last), then the rest in input order, in which the shards they complete are cut. Ranges of
    a file cut at line starts may be a little larger than ``range_bytes``: they keep their place.

    >>> import tempfile
    >>> compressed = Path(tempfile.mkdtemp()) / "b.jsonl.gz"
    >>> _ = compressed.write_bytes(bytes(12))
    >>> ranges = [Unit(Path("a.jsonl"), ByteRange(Path("a.jsonl"), start, start + 11, 1, 33, 0)) for start in (0, 11, 22)]
    >>> reading_order(ranges + [Unit(compressed, whole_reason="compressed (gz)")], 10)
    [3, 0, 1, 2]
    """
    sizes = [unit.num_bytes for unit in units]
    return sorted(range(len(units)), key=lambda number: (
        -sizes[number] if units[number].byte_range is None and sizes[number] > range_bytes else 0, number))


@dataclass
class UnitResult:
    """What reading one unit gave: its accounting (a partial build report) and, per
    document kept, its number of tokens and bytes of metadata, in input order."""

    report: BuildReport
    token_counts: np.ndarray
    metadata_lengths: np.ndarray
    span: TaskSpan | None = None


def unit_paths(work: Path, number: int) -> tuple[Path, Path]:
    """The token and metadata files of unit ``number``."""
    return work / f"unit-{number:06d}.tokens", work / f"unit-{number:06d}.metadata"


class UnitReader:
    """A Ray actor that reads and tokenizes units (whole files or byte ranges of them) into
    unit files, with one tokenizer for all the units it is given. It works in the driver's directory, so that
    input paths and the messages naming them are the local build's."""

    def __init__(self, tokenizer: Tokenizer, fingerprint: dict[str, Any], shard_positions: int, on_error: str,
                 text_field: str, work: str, directory: str, kill_once: str | None, selection: Selection | None = None):
        try:
            os.chdir(directory)
        except OSError as error:
            raise InputError(f"expected the build's working directory {directory} on every node of the cluster, found "
                             f"it missing on node {node_id() or 'of this worker'} ({error.strerror or error}); inputs "
                             "and the index must be on a filesystem every node sees at the same path: mount it "
                             "there, or run the build from a directory every node has") from None
        self.selection = selection  # which files of unknown kind an --include pattern names (read as text)
        self.tokenizer = tokenizer
        self.fingerprint = fingerprint
        self.shard_positions = shard_positions
        self.on_error = on_error
        self.text_field = text_field
        self.work = Path(work)
        self.kill_once = kill_once

    def read_unit(self, number: int, unit: Unit) -> UnitResult:
        """Read ``unit`` as unit ``number``; raises the local build's InputError on a problem
        under ``on_error="fail"``, and an InputError when a range's file changed since it was cut."""
        start = time.time()
        tokens_path, metadata_path = unit_paths(self.work, number)
        spool = _Spool(Path(tokens_path), Path(metadata_path), self.tokenizer.token_width)
        report = BuildReport(directory=str(self.work), files={str(unit.path): file_counts()})
        builder = _UnitBuilder(spool, self.work, self.tokenizer, self.fingerprint, self.shard_positions,
                               self.on_error, False, {"shards": {}}, report)
        if unit.byte_range is None:
            records = read_records([unit.path], self.text_field, selection=self.selection)
        else:
            records = read_range_records(unit.byte_range, self.text_field)
        try:
            builder.add_records(records)
        except BaseException:
            spool.abort()
            raise
        spool.commit()
        kill_once(self.kill_once, "unit-read")
        return UnitResult(report, np.frombuffer(spool.token_counts, dtype=np.int64),
                          np.frombuffer(spool.metadata_lengths, dtype=np.int64), task_span(f"read unit {number}", start))

    def pid(self) -> int:
        """The process id of the actor (tests kill it)."""
        return os.getpid()


def kill_once(spec: str | None, point: str) -> None:
    """Kill this process at ``point`` if ``spec`` (see :data:`KILL_ONCE_VARIABLE`) names it
    and no process has been killed there yet; else nothing."""
    if not spec:
        return
    target, _, marker = spec.partition(":")
    if target != point:
        return
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return
    os.kill(os.getpid(), signal.SIGKILL)


def merge_reports(report: BuildReport, parts: Iterable[BuildReport]) -> BuildReport:
    """Add the accounting of units, in input order, to ``report``: the local build's report."""
    for part in parts:
        report.records_read += part.records_read
        report.blank_lines += part.blank_lines
        report.num_documents += part.num_documents
        report.num_tokens += part.num_tokens
        for kind, count in part.problems.items():
            report.problems[kind] = report.problems.get(kind, 0) + count
        report.first_problems = (report.first_problems + part.first_problems)[:MAX_LISTED_PROBLEMS]
        for source, counts in part.files.items():
            totals = report.files.setdefault(source, file_counts())
            for what, count in counts.items():
                totals[what] += count
    return report


# -- step 2: cutting ------------------------------------------------------------------------------
class _Tally(ShardBuffer):
    """A shard buffer that only counts, so that :meth:`ShardBuffer.fits` decides as it does
    in a local build."""

    def __init__(self, limit_positions: int, budget_bytes: int | None):
        self.limit = limit_positions
        self.budget = budget_bytes
        self.num_positions = 0
        self.documents = 0
        self.metadata_size = 0

    @property
    def num_documents(self) -> int:
        return self.documents

    @property
    def metadata_bytes(self) -> int:
        return self.metadata_size


def plan_shards(token_counts: np.ndarray, metadata_lengths: np.ndarray, shard_positions: int,
                budget_bytes: int | None) -> list[int]:
    """The global number of the first document of every shard, cut as a local build cuts: a
    shard takes documents while the next one fits (``ShardBuffer.fits``), and always its first.
    Whether the next document fits only turns from yes to no as a shard grows, so each cut is
    found by a galloping search over prefix sums: O(log documents) checks per shard.

    >>> plan_shards(np.array([3, 3, 3]), np.array([0, 0, 0]), 8, None)
    [0, 2]
    """
    count = len(token_counts)
    positions = np.concatenate(([0], np.cumsum(np.asarray(token_counts, dtype=np.int64) + 1)))
    metadata = np.concatenate(([0], np.cumsum(np.asarray(metadata_lengths, dtype=np.int64))))

    def fits(first: int, last: int) -> bool:
        """Whether document ``last`` fits a shard holding documents first..last-1."""
        tally = _Tally(shard_positions, budget_bytes)
        tally.num_positions = int(positions[last] - positions[first])
        tally.documents = last - first
        tally.metadata_size = int(metadata[last] - metadata[first])
        return tally.fits(int(token_counts[last]), int(metadata_lengths[last]))

    firsts, first = [], 0
    while first < count:
        firsts.append(first)
        step = 1  # gallop: the shard ends within (first + step // 2, first + step]
        while first + step < count and fits(first, first + step):
            step *= 2
        lo, hi = first + step // 2 + 1, min(first + step, count)  # the end is the first `last` that does not fit
        while lo < hi:
            middle = (lo + hi) // 2
            if fits(first, middle):
                lo = middle + 1
            else:
                hi = middle
        first = lo
    return firsts


@dataclass
class Piece:
    """Documents of one shard that come from one unit: the unit's files, where they start
    (in tokens and in bytes of metadata) and each document's token count and metadata length."""

    tokens_path: str
    metadata_path: str
    token_offset: int
    metadata_offset: int
    token_counts: np.ndarray
    metadata_lengths: np.ndarray


def shard_pieces(units: Sequence[UnitResult], work: Path, firsts: list[int], num_documents: int) -> list[list[Piece]]:
    """For every planned shard, its pieces of unit files, in order."""
    unit_firsts = np.cumsum([0] + [len(unit.token_counts) for unit in units])
    bounds = firsts + [num_documents]
    shards = []
    for first, last in zip(bounds[:-1], bounds[1:]):
        pieces = []
        for number, unit in enumerate(units):
            lo, hi = max(first, unit_firsts[number]) - unit_firsts[number], min(last, unit_firsts[number + 1]) - unit_firsts[number]
            if hi <= lo:
                continue
            tokens_path, metadata_path = unit_paths(work, number)
            pieces.append(Piece(str(tokens_path), str(metadata_path), int(unit.token_counts[:lo].sum()),
                                int(unit.metadata_lengths[:lo].sum()), unit.token_counts[lo:hi],
                                unit.metadata_lengths[lo:hi]))
        shards.append(pieces)
    return shards


class UnitRelease:
    """Which unit files are no longer needed as shards finish: a unit's files are removed
    once every shard that reads them is written (the index and the unit files need not fit
    on the disk together). A shard still running, or run again, keeps its units, and so does
    the part of the input not cut into shards yet (:meth:`hold`): shards are planned while
    units are still being read, and a unit read by the last planned shard may be read by the
    next one too.

    >>> release = UnitRelease([[Piece("a.tokens", "a.metadata", 0, 0, np.ones(1), np.ones(1))],
    ...                        [Piece("a.tokens", "a.metadata", 1, 1, np.ones(1), np.ones(1)),
    ...                         Piece("b.tokens", "b.metadata", 0, 0, np.ones(1), np.ones(1))]])
    >>> release.hold({("b.tokens", "b.metadata")})  # b's last documents are not in a shard yet
    >>> release.finished(1), release.finished(0)
    ([], ['a.tokens', 'a.metadata'])
    """

    def __init__(self, pieces: Sequence[Sequence[Piece]] = ()):
        self.readers: dict[tuple[str, str], set[int]] = {}
        self.units_of: dict[int, list[tuple[str, str]]] = {}
        self.held: set[tuple[str, str]] = set()
        for number, shard in enumerate(pieces):
            self.add(number, shard)

    def add(self, number: int, shard: Sequence[Piece]) -> None:
        """Shard ``number`` is planned: it reads the units of its pieces."""
        units = [(piece.tokens_path, piece.metadata_path) for piece in shard]
        self.units_of[number] = units
        for unit in units:
            self.readers.setdefault(unit, set()).add(number)

    def hold(self, units: set[tuple[str, str]]) -> None:
        """The units (token and metadata paths) holding documents not planned into a shard yet:
        kept whatever finishes. Each call replaces the last one's set; a unit it leaves out is
        read by a shard already added, and released when that shard finishes."""
        self.held = set(units)

    def finished(self, number: int) -> list[str]:
        """Shard ``number`` is written: the paths of the unit files no shard needs any more."""
        released = []
        for unit in self.units_of[number]:
            readers = self.readers.get(unit)
            if readers is None:
                continue
            readers.discard(number)
            if not readers and unit not in self.held:
                del self.readers[unit]
                released.extend(unit)
        return released


# -- step 3: sorting and writing ------------------------------------------------------------------
def write_shard(out: str, tokenizer: Tokenizer, fingerprint: dict[str, Any], shard_positions: int, name: str,
                pieces: Sequence[Piece], previous: dict[str, Any] | None,
                kill_spec: str | None) -> tuple[dict[str, Any], dict[str, Any] | None, TaskSpan]:
    """Fill shard ``name`` from its pieces and write it with the index kind's writer (or
    reuse it when ``previous``, its build-state record, shows it written already). Returns
    its manifest entry, its new build-state record (None when reused) and its span."""
    start = time.time()
    buffer = ShardBuffer(tokenizer.token_width, shard_positions, tokenizer.separator_id, fingerprint["memory_budget"])
    dtype = token_dtype(tokenizer.token_width)
    for piece in pieces:
        tokens = np.fromfile(piece.tokens_path, dtype=dtype, count=int(piece.token_counts.sum()),
                             offset=piece.token_offset * dtype.itemsize)
        with open(piece.metadata_path, "rb") as file:
            file.seek(piece.metadata_offset)
            metadata = file.read(int(piece.metadata_lengths.sum()))
        token_ends = np.cumsum(piece.token_counts).tolist()
        metadata_ends = np.cumsum(piece.metadata_lengths).tolist()
        token_start = metadata_start = 0
        for token_end, metadata_end in zip(token_ends, metadata_ends):
            buffer.add(tokens[token_start:token_end], metadata[metadata_start:metadata_end])
            token_start, metadata_start = token_end, metadata_end
        del tokens, metadata, token_ends, metadata_ends  # not kept through the next read or the sort
    writer = WRITERS[fingerprint.get("index_kind", "sa")](Path(out), tokenizer, fingerprint, False)
    entry, record = write_or_reuse_shard(writer, name, buffer, previous, lambda: None)
    kill_once(kill_spec, "shard-written")
    return entry, record, task_span(f"write {name}", start)


class BuildWorker(UnitReader):
    """A Ray actor that reads units and writes shards, as the driver hands them out: one per
    CPU of the cluster, for the whole build. Its process starts once (about half a second to
    start Ray and import infgram); a build with reader actors, let go after reading, and a task
    per shard paid that start again between reading and sorting, on every node."""

    def __init__(self, out: str, *reader_arguments: Any):
        self.out = out
        self.start_error: InfgramError | None = None
        try:
            super().__init__(*reader_arguments)
        except InfgramError as error:  # an actor that fails to start leaves only the error's text: kept for node()
            self.start_error = error

    def node(self) -> str:
        """The id of the node this worker runs on: the driver's first call, answered once the
        worker is up; raises the error that kept the worker from starting, if any."""
        if self.start_error is not None:
            raise self.start_error
        return node_id()

    def write_shard(self, name: str, pieces: Sequence[Piece],
                    previous: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any] | None, TaskSpan]:
        """:func:`write_shard` in this worker's process."""
        return write_shard(self.out, self.tokenizer, self.fingerprint, self.shard_positions, name, pieces, previous,
                           self.kill_once)


DOCUMENT_WORK_TOKENS = 200
"""What a document adds to a shard's work, in tokens sorted: its entry in ``documents.bin`` and
its metadata columns cost about 10 µs to write, and sorting costs about 0.05 µs a token (wiki +
prose, bytes: a shard of 8 M tokens and 19,000 documents took 0.6 s, one of 2,000 0.4 s)."""


def shard_work(pieces: Sequence[Piece]) -> int:
    """How much work writing a shard of these pieces is, in tokens: its tokens, and
    :data:`DOCUMENT_WORK_TOKENS` per document. Shards are handed out the largest first, so
    that the longest is not the last to start; the index does not depend on it.

    >>> shard_work([Piece("a.tokens", "a.metadata", 0, 0, np.array([5, 3]), np.array([0, 0]))])
    408
    """
    return sum(int(piece.token_counts.sum()) + DOCUMENT_WORK_TOKENS * len(piece.token_counts) for piece in pieces)


def sort_slots(nodes: Iterable[dict[str, Any]], budget_bytes: int | None) -> dict[str, int]:
    """How many shards each live node (by id) may sort at once: one per whole CPU, and with a
    memory budget no more than its memory holds at the budget each (or at the memory of the
    largest node with a CPU, when that is less: it sorts one shard at a time). A node whose
    memory holds none still reads units. Nodes as ``ray.nodes()`` lists them.

    >>> nodes = [{"NodeID": "a", "Alive": True, "Resources": {"CPU": 4.0, "memory": 5e9}},
    ...          {"NodeID": "b", "Alive": True, "Resources": {"CPU": 2.0, "memory": 1e9}},
    ...          {"NodeID": "c", "Alive": False, "Resources": {"CPU": 8.0, "memory": 9e9}}]
    >>> sort_slots(nodes, 2_000_000_000), sort_slots(nodes, 8_000_000_000), sort_slots(nodes, None)
    ({'a': 2, 'b': 0}, {'a': 1, 'b': 0}, {'a': 4, 'b': 2})
    """
    live = [node for node in nodes if node.get("Alive")]
    reserve = budget_bytes
    if budget_bytes:
        reserve = min(budget_bytes, max((node["Resources"].get("memory", 0) for node in live
                                         if node["Resources"].get("CPU", 0) >= 1), default=0)) or None
    slots = {}
    for node in live:
        resources = node.get("Resources", {})
        count = int(resources.get("CPU", 0))
        if reserve:
            count = min(count, int(resources.get("memory", 0) // reserve))
        slots[node["NodeID"]] = count
    return slots


def worker_nodes(nodes: Iterable[dict[str, Any]], slots: dict[str, int], count: int) -> list[str]:
    """The nodes (by id) of ``count`` build workers, at most one per CPU of each live node:
    spread over the nodes in turn, the nodes that may sort shards (``slots``, from
    :func:`sort_slots`) first, so that however few workers there are, some of them can sort.

    >>> nodes = [{"NodeID": "a", "Alive": True, "Resources": {"CPU": 1.0}},
    ...          {"NodeID": "b", "Alive": True, "Resources": {"CPU": 3.0}},
    ...          {"NodeID": "c", "Alive": True, "Resources": {}}]
    >>> worker_nodes(nodes, {"a": 0, "b": 1, "c": 0}, 3), worker_nodes(nodes, {"a": 1, "b": 1, "c": 0}, 9)
    (['b', 'a', 'b'], ['a', 'b', 'b', 'b'])
    """
    cpus = {node["NodeID"]: int(node.get("Resources", {}).get("CPU", 0)) for node in nodes if node.get("Alive")}
    order = sorted(cpus, key=lambda node: (slots.get(node, 0) == 0, node))
    placed = [node for turn in range(max(cpus.values(), default=0)) for node in order if cpus[node] > turn]
    return placed[:count]


@functools.lru_cache(maxsize=None)
def _remote(ray: Any, what: Any) -> Any:
    return ray.remote(what)


def _cause(error: BaseException) -> BaseException:
    """The error a Ray task raised, as it was raised."""
    cause = getattr(error, "cause", None)
    return cause if isinstance(cause, BaseException) else error


class ShardCuts:
    """The shards planned so far, while units are still being read: as read units make a
    longer prefix of the input (in input order), the shards that prefix completes are cut by
    :func:`plan_shards` from the last cut. A cut found before the end of the prefix is final
    (whether a document fits depends only on the documents before it in its shard); the
    documents after the last cut wait for more units, or for the end of the input.

    >>> cuts = ShardCuts(3, Path("work"), 8, None)  # 3 units; 2 documents of 3 tokens fill a shard
    >>> unit = UnitResult(BuildReport(directory="work"), np.array([3, 3, 3]), np.zeros(3, np.int64))
    >>> def sizes(shards): return [[len(piece.token_counts) for piece in shard] for shard in shards]
    >>> sizes(cuts.extend({1: unit})), sizes(cuts.extend({0: unit, 1: unit}))  # the last 2 documents wait
    ([], [[2], [1, 1]])
    >>> sorted(cuts.waiting_units()), sizes(cuts.extend({0: unit, 1: unit, 2: unit}))
    ([('work/unit-000001.tokens', 'work/unit-000001.metadata')], [[2], [2], [1]])
    """

    def __init__(self, num_units: int, work: Path, shard_positions: int, budget_bytes: int | None):
        self.results: list[UnitResult] = []
        self.num_units = num_units
        self.work = work
        self.shard_positions = shard_positions
        self.budget_bytes = budget_bytes
        self.token_counts = np.zeros(0, np.int64)
        self.metadata_lengths = np.zeros(0, np.int64)
        self.unit_ends: list[int] = []  # the global number after each read unit's last document
        self.cut = 0  # the first document not in a planned shard
        self.num_shards = 0

    def extend(self, results: dict[int, UnitResult]) -> list[list[Piece]]:
        """Take the units of ``results`` that extend the read prefix; the pieces of every
        shard this completes (all the rest once every unit is read), in order."""
        grown = []
        while len(self.results) in results:
            unit = results[len(self.results)]
            self.results.append(unit)
            grown.append(unit)
            self.unit_ends.append((self.unit_ends[-1] if self.unit_ends else 0) + len(unit.token_counts))
        if not grown:
            return []
        self.token_counts = np.concatenate([self.token_counts, *(unit.token_counts for unit in grown)])
        self.metadata_lengths = np.concatenate([self.metadata_lengths, *(unit.metadata_lengths for unit in grown)])
        known = len(self.token_counts)
        firsts = [self.cut + first for first in plan_shards(self.token_counts[self.cut:], self.metadata_lengths[self.cut:],
                                                            self.shard_positions, self.budget_bytes)]
        complete = len(self.results) == self.num_units
        bounds = firsts + [known] if complete else firsts  # else the last shard may take more documents
        if len(bounds) < 2:
            return []
        pieces = shard_pieces(self.results, self.work, bounds[:-1], bounds[-1])
        self.cut = bounds[-1]
        self.num_shards += len(pieces)
        return pieces

    def waiting_units(self) -> set[tuple[str, str]]:
        """The files of the read units that hold documents after the last cut."""
        starts = [0] + self.unit_ends[:-1]
        return {tuple(str(path) for path in unit_paths(self.work, number))  # type: ignore[misc]
                for number, (start, end) in enumerate(zip(starts, self.unit_ends)) if end > self.cut and end > start}


def _read_and_write(ray: Any, files: list[Path], range_bytes: int | None, selection: Selection | None,
                    reader_arguments: tuple, total_bytes: int, out: Path, tokenizer: Tokenizer,
                    fingerprint: dict[str, Any], shard_positions: int, builder: Builder, work: Path, progress: bool,
                    kill_spec: str | None, spans: list[TaskSpan]) -> tuple[list[UnitResult], int, float]:
    """Steps 1 to 3, overlapped, on one :class:`BuildWorker` per CPU of the cluster: the units
    (:func:`plan_units`) are read in :func:`reading_order`; as soon as the units read make a
    shard whole (:class:`ShardCuts`) it is ready to sort. One worker at a time reads, unit
    after unit, so that the cut moves on while the others sort; a worker that comes free sorts
    the largest ready shard (:func:`shard_work`) when its node has a sort slot free (:func:`sort_slots`), and reads
    too when it has none to sort. So sorts start as early as the input allows, and reading
    fills the time of the worker that has fewer shards to sort, not the time of the last shard
    (shards are indivisible: 7 shards on 2 workers are 4 and 3 sorts; the reading goes beside
    the 3). No worker waits for a phase to end, and work is handed out only to workers that
    are up, one task at a time, so a slow node never holds a queue. Workers are placed by
    :func:`worker_nodes`. Each finished shard is recorded in the build state as it comes in.
    Under ``on_error="fail"`` the first problem in input order is raised. Returns the units'
    results in input order, how many shards were reused from an earlier run, and when the last
    unit was read; every task's span is appended to ``spans``."""
    cpus = cluster_cpus(ray)
    if range_bytes is None:
        range_bytes = default_range_bytes(total_bytes, cpus)
    units = plan_units(files, range_bytes, selection)
    if progress:
        tqdm.write(describe_units(units))
    sizes = [unit.num_bytes for unit in units]
    nodes = ray.nodes()
    slots = sort_slots(nodes, fingerprint.get("memory_budget"))
    # No more workers than pieces of work: the units, and the shards (a position per input byte at most).
    count = min(cpus, len(units) + 1 + total_bytes // max(1, shard_positions)) if units else 0
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    options = {"num_cpus": 1, "max_restarts": RETRIES, "max_task_retries": RETRIES}
    # soft: a worker restarted after its node died starts on another one
    workers = [_remote(ray, BuildWorker).options(**options, scheduling_strategy=NodeAffinitySchedulingStrategy(
        node, soft=True)).remote(str(out), *reader_arguments) for node in worker_nodes(nodes, slots, count)]
    starting: dict[Any, int] = {workers[number].node.remote(): number for number in range(len(workers))}
    node_of: dict[int, str] = {}  # the workers up, by number: their node
    start_errors: list[BaseException] = []
    idle: list[int] = []
    sorting_on: dict[str, int] = {}  # per node, its shards being sorted

    waiting = reading_order(units, range_bytes)
    reading: dict[Any, tuple[int, int]] = {}
    results: dict[int, UnitResult] = {}
    errors: dict[int, BaseException] = {}
    cuts = ShardCuts(len(units), work, shard_positions, fingerprint["memory_budget"])

    ready: list[int] = []  # shards cut, not yet given to a worker
    writing: dict[Any, tuple[int, int, str]] = {}
    names: list[str] = []
    pieces_of: list[list[Piece]] = []
    work_of: list[int] = []  # per shard: shard_work, worked out once when it is cut
    previous: list[dict[str, Any] | None] = []
    tokens_of: list[int] = []
    entries: dict[int, dict[str, Any]] = {}
    release = UnitRelease()
    reused = 0
    read_at = time.perf_counter()

    def sort_slot_free(worker: int) -> bool:
        node = node_of[worker]
        if node not in slots:  # a node that joined during the build
            slots.update(sort_slots(ray.nodes(), fingerprint.get("memory_budget")))
        return sorting_on.get(node, 0) < slots.get(node, 1)

    def give_work() -> None:
        """Every idle worker the next unit to read when no other worker reads, or when it has no
        shard to sort; else the largest ready shard, if its node may sort one more."""
        # After a failure only the units before it are read (the first failure in input order is
        # raised), and no more shards are started.
        wanted = [number for number in waiting if not errors or number < min(errors)]
        for worker in list(idle):
            can_sort = bool(ready) and not errors and sort_slot_free(worker)
            if wanted and (not reading or not can_sort):
                number = wanted.pop(0)
                waiting.remove(number)
                reading[workers[worker].read_unit.remote(number, units[number])] = (number, worker)
            elif can_sort:
                shard = min(ready, key=lambda number: (-work_of[number], number))  # the largest first
                ready.remove(shard)
                node = node_of[worker]
                sorting_on[node] = sorting_on.get(node, 0) + 1
                reference = workers[worker].write_shard.remote(names[shard], pieces_of[shard], previous[shard])
                writing[reference] = (shard, worker, node)
            else:
                continue
            idle.remove(worker)

    read_bar = tqdm(total=total_bytes, desc="reading and tokenizing", unit="B", unit_scale=True, disable=not progress)
    write_bar = tqdm(total=0, desc="sorting and writing", unit="tok", unit_scale=True, disable=not progress)
    try:
        while True:
            give_work()
            if not reading and not writing and not starting:
                break
            done, _ = ray.wait([*starting, *reading, *writing], num_returns=1)
            if done[0] in starting:
                worker = starting.pop(done[0])
                try:
                    node_of[worker] = ray.get(done[0])
                    idle.append(worker)
                except ray.exceptions.RayError as error:
                    start_errors.append(_cause(error))
                    if progress:
                        tqdm.write(f"a build worker failed to start: {start_errors[-1]}")
                continue
            if done[0] in writing:
                number, worker, node = writing.pop(done[0])
                sorting_on[node] -= 1
                try:
                    entry, record, span = ray.get(done[0])
                except ray.exceptions.RayError as error:
                    cause = _cause(error)
                    if isinstance(cause, (InfgramError, OSError)):
                        raise cause from None
                    raise BuildError(f"expected shard {names[number]} to be written on the cluster, found it failed "
                                     f"{RETRIES + 1} times: {cause}; rerun the same command to resume") from None
                node_of[worker] = span.node or node  # a worker restarted after a crash may be on another node
                idle.append(worker)
                give_work()  # before the bookkeeping: the worker waits for nothing of the driver's
                spans.append(span)
                for path in release.finished(number):
                    Path(path).unlink(missing_ok=True)
                if record is None:
                    reused += 1
                    record = previous[number]
                builder.state["shards"][names[number]] = record
                builder.save_state()
                entries[number] = entry
                write_bar.update(tokens_of[number])
                continue
            number, worker = reading.pop(done[0])
            try:
                results[number] = ray.get(done[0])
                spans.append(results[number].span)
                node_of[worker] = results[number].span.node or node_of[worker]
                idle.append(worker)
            except ray.exceptions.RayError as error:
                errors[number] = _cause(error)
                if not isinstance(error, ray.exceptions.RayActorError):
                    idle.append(worker)  # its own error (a bad record): the worker is still up
            give_work()  # the reader reads on at once; the shards this unit completes are handed out below
            read_bar.update(sizes[number])
            if errors:
                if all(unit in results or unit in errors for unit in range(min(errors))):
                    break  # every unit before the first failure has been read: that failure is the first
                continue
            if len(results) == len(units):
                read_at = time.perf_counter()
            cut = cuts.extend(results)
            for shard in cut:
                number = len(names)
                names.append(f"shard-{number:05d}")
                # No record outlives a shard that may be replaced now; finished ones come back as they finish.
                previous.append(builder.state["shards"].pop(names[number], None))
                pieces_of.append(shard)
                work_of.append(shard_work(shard))
                tokens_of.append(sum(int(piece.token_counts.sum()) for piece in shard))
                release.add(number, shard)
                ready.append(number)
                write_bar.total += tokens_of[number]
                write_bar.refresh()
            if cut:
                builder.save_state()  # before any of these shards is started
            release.hold(cuts.waiting_units())
    finally:
        read_bar.close()
        write_bar.close()
        for worker in workers:  # a shard still being sorted stops with its worker (its files are temporary)
            ray.kill(worker, no_restart=True)
        in_flight = [*starting, *reading, *writing]
        if in_flight:  # their calls end once the workers are gone: none writes in the unit folder after this
            ray.wait(in_flight, num_returns=len(in_flight), timeout=60)
    if errors:
        first = errors[min(errors)]
        if isinstance(first, InfgramError):
            raise first
        raise BuildError(f"expected every input file to be read on the cluster, found {units[min(errors)].describe()} "
                         f"failed: {first}; check the workers' logs, then rerun the same command") from first
    if waiting or ready:  # work was left with no worker to do it
        cause = start_errors[0] if start_errors and not node_of else None
        if isinstance(cause, InfgramError):
            raise cause
        found = "none left" if node_of else (f"none started ({cause})" if cause is not None else
                                              "no node with a CPU to start one on")
        raise BuildError(f"expected build workers on the cluster to read and sort, found {found}; check the "
                         "cluster (`ray status`) and the workers' logs, then rerun the same command")
    for number in range(len(names)):
        builder.add_shard(entries[number])
    return [results[number] for number in range(len(units))], reused, read_at


def build(inputs: Iterable[str | Path], out: str | Path, *, address: str | None = "auto",
          tokenizer: str | Path | Tokenizer | None = None, text_field: str = "text", on_error: str = "fail",
          memory: str | int | None = None, shard_tokens: int | None = None, overwrite: bool = False,
          progress: bool = True, kind: str = "sa", sample_rate: int | None = None, include: list[str] | None = None,
          exclude: list[str] | None = None, normalize: str | None = None,
          range_bytes: int | None = None, shard_by: str | None = None) -> BuildReport:
    """:func:`infgram.build` on the Ray cluster at ``address`` (see
    :mod:`infgram.distributed.cluster`): the same options, report and index bytes. JSON Lines
    files larger than ``range_bytes`` are read in ranges of about that many bytes, in parallel
    (default: :func:`default_range_bytes`; it changes how the work is shared, never the index). Inputs and
    ``out`` must be on a filesystem every node sees, at the same paths. With ``normalize``,
    every reader normalizes its documents as a local build does (the tokenizer it is given
    normalizes, and keeps the changed pieces in the metadata; see :mod:`infgram.normalize`),
    so the index is byte for byte the local one. ``shard_by`` is refused: the cluster cuts
    shards from per-unit counts in input order (:func:`plan_shards`), not grouped by value."""
    if shard_by is not None:
        raise BuildError(f"expected no --shard-by with --ray, found --shard-by {shard_by}: a build on a Ray cluster "
                         "cuts shards in input order and cannot group documents by value; build on one machine "
                         "(drop --ray)")
    start = time.perf_counter()
    out = Path(out)
    ray = connect(address)  # before the output is touched
    selection = Selection(include, exclude, skip_unknown=on_error == "skip")  # as the local build chooses files
    plan = plan_files_build(inputs, out, tokenizer, text_field, on_error, memory, shard_tokens, overwrite, progress,
                            kind, sample_rate, selection if include or exclude or on_error == "skip" else None,
                            normalize)
    if plan.up_to_date is not None:
        return plan.up_to_date
    tokenizer, files, fingerprint, shard_positions = plan.tokenizer, plan.files, plan.fingerprint, plan.shard_positions
    with ray_errors_named(ray, f"the index {out.name} built"), write_errors_named(out):
        work = out.resolve().parent / f".{out.name}.ray-work"
        remove_path(work)
        work.mkdir(parents=True)
        kill_spec = os.environ.get(KILL_ONCE_VARIABLE)
        phases = {"start": time.perf_counter()}
        spans: list[TaskSpan] = []
        try:
            report = plan.new_report(out)
            builder = Builder(out, tokenizer, fingerprint, shard_positions, on_error, progress, plan.state, report)
            units, report.reused_shards, phases["read"] = _read_and_write(
                ray, files, range_bytes, plan.selection,
                (tokenizer, fingerprint, shard_positions, on_error, text_field, str(work), os.getcwd(), kill_spec,
                 plan.selection), plan.total_bytes, out.resolve(), tokenizer, fingerprint, shard_positions, builder,
                work, progress, kill_spec, spans)
            merge_reports(report, (unit.report for unit in units))
            phases["plan"] = phases["read"]
            phases["write"] = time.perf_counter()
            report = builder.finish()
        finally:
            remove_path(work)
        report.index_bytes = directory_bytes(out)
        report.seconds = time.perf_counter() - start
        # Not part of the report's JSON: where the time went, for benchmarks.
        report.phase_seconds = {"prepare": phases["start"] - start, "read_and_tokenize": phases["read"] - phases["start"],
                                "plan": phases["plan"] - phases["read"], "sort_and_write": phases["write"] - phases["plan"],
                                "finish": report.seconds - (phases["write"] - start)}
        report.task_spans = spans
    if progress:
        tqdm.write(report.summary())
    return report
