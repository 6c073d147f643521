"""Building an index on a Ray cluster, byte for byte the index a local build writes.

A local build (:mod:`infgram.build.pipeline`) reads the records in order, tokenizes them,
and cuts a shard whenever the next document would not fit (``ShardBuffer.fits``); then it
sorts and writes that shard. Only the cutting is sequential, and it needs nothing but each
document's number of tokens and bytes of metadata. So the distributed build runs in three
steps:

1. **Read and tokenize, in parallel.** Each input file is one unit, read by a
   :class:`UnitReader` actor (one tokenizer per actor) with the local build's own code
   (``read_records`` and ``Builder.add_records``: the same problems, messages and counts),
   which appends each document's tokens and metadata to the unit's files on the shared disk
   and returns per-document token counts and metadata lengths, with the unit's accounting.
2. **Cut, on the driver.** The driver merges the accounting in file order (the build report
   is the local one) and replays the cutting rule over the counts (:func:`plan_shards`), so
   the same inputs and options give the same shards on any number of machines.
3. **Sort and write, in parallel.** One task per shard (:func:`write_shard`) reads its
   documents back from the unit files, fills the same ``ShardBuffer`` and runs the index
   kind's writer on its node; suffix arrays go straight to the shared disk, never through
   the object store. The driver records each finished shard in ``build-state.json`` and
   writes the report, then the manifest, last: the index is complete or does not open. A
   unit's files are removed as soon as every shard reading them is written
   (:class:`UnitRelease`), so the index and all the unit files need not fit on disk at once.

A unit is a whole file: one large input file is read by one worker, while the others wait
(split a large corpus into several files to read it in parallel).

Faults: a unit or a shard whose worker dies is run again (actor restarts and task retries);
their files are written under temporary names and renamed when whole, so a rerun writes the
same bytes. Shards finished before the driver itself is killed are kept: rerunning the same
command reuses them, as a local rerun does (and either kind of build may resume the other's).

The unit files live beside the index, in ``.NAME.ray-work/``, removed when the build ends.
"""

from __future__ import annotations

import functools
import os
import signal
import time
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
from tqdm.auto import tqdm

from ..build.inputs import read_records
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
from ..errors import BuildError, InfgramError
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
class UnitResult:
    """What reading one input file gave: its accounting (a partial build report) and, per
    document kept, its number of tokens and bytes of metadata, in input order."""

    report: BuildReport
    token_counts: np.ndarray
    metadata_lengths: np.ndarray


def unit_paths(work: Path, number: int) -> tuple[Path, Path]:
    """The token and metadata files of unit ``number``."""
    return work / f"unit-{number:06d}.tokens", work / f"unit-{number:06d}.metadata"


class UnitReader:
    """A Ray actor that reads and tokenizes whole input files into unit files, with one
    tokenizer for all the files it is given. It works in the driver's directory, so that
    input paths and the messages naming them are the local build's."""

    def __init__(self, tokenizer: Tokenizer, fingerprint: dict[str, Any], shard_positions: int, on_error: str,
                 text_field: str, work: str, directory: str, kill_once: str | None, selection: Selection | None = None):
        os.chdir(directory)
        self.selection = selection  # which files of unknown kind an --include pattern names (read as text)
        self.tokenizer = tokenizer
        self.fingerprint = fingerprint
        self.shard_positions = shard_positions
        self.on_error = on_error
        self.text_field = text_field
        self.work = Path(work)
        self.kill_once = kill_once

    def read_unit(self, number: int, path: str) -> UnitResult:
        """Read file ``path`` as unit ``number``; raises the local build's InputError on a
        problem under ``on_error="fail"``."""
        tokens_path, metadata_path = unit_paths(self.work, number)
        spool = _Spool(Path(tokens_path), Path(metadata_path), self.tokenizer.token_width)
        report = BuildReport(directory=str(self.work), files={path: file_counts()})
        builder = _UnitBuilder(spool, self.work, self.tokenizer, self.fingerprint, self.shard_positions,
                               self.on_error, False, {"shards": {}}, report)
        try:
            builder.add_records(read_records([Path(path)], self.text_field, selection=self.selection))
        except BaseException:
            spool.abort()
            raise
        spool.commit()
        kill_once(self.kill_once, "unit-read")
        return UnitResult(report, np.frombuffer(spool.token_counts, dtype=np.int64),
                          np.frombuffer(spool.metadata_lengths, dtype=np.int64))

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
    on the disk together). A shard still running, or run again, keeps its units.

    >>> release = UnitRelease([[Piece("a.tokens", "a.metadata", 0, 0, np.ones(1), np.ones(1))],
    ...                        [Piece("a.tokens", "a.metadata", 1, 1, np.ones(1), np.ones(1)),
    ...                         Piece("b.tokens", "b.metadata", 0, 0, np.ones(1), np.ones(1))]])
    >>> release.finished(1)
    ['b.tokens', 'b.metadata']
    >>> release.finished(0)
    ['a.tokens', 'a.metadata']
    """

    def __init__(self, pieces: Sequence[Sequence[Piece]]):
        self.readers: dict[tuple[str, str], set[int]] = {}
        self.units_of: list[list[tuple[str, str]]] = []
        for number, shard in enumerate(pieces):
            units = [(piece.tokens_path, piece.metadata_path) for piece in shard]
            self.units_of.append(units)
            for unit in units:
                self.readers.setdefault(unit, set()).add(number)

    def finished(self, number: int) -> list[str]:
        """Shard ``number`` is written: the paths of the unit files no shard needs any more."""
        released = []
        for unit in self.units_of[number]:
            readers = self.readers.get(unit)
            if readers is None:
                continue
            readers.discard(number)
            if not readers:
                del self.readers[unit]
                released.extend(unit)
        return released


# -- step 3: sorting and writing ------------------------------------------------------------------
def write_shard(out: str, tokenizer: Tokenizer, fingerprint: dict[str, Any], shard_positions: int, name: str,
                pieces: Sequence[Piece], previous: dict[str, Any] | None,
                kill_spec: str | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Fill shard ``name`` from its pieces and write it with the index kind's writer (or
    reuse it when ``previous``, its build-state record, shows it written already). Returns
    its manifest entry and its new build-state record (None when reused)."""
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
    return entry, record


@functools.lru_cache(maxsize=None)
def _remote(ray: Any, what: Any) -> Any:
    return ray.remote(what)


def _cause(error: BaseException) -> BaseException:
    """The error a Ray task raised, as it was raised."""
    cause = getattr(error, "cause", None)
    return cause if isinstance(cause, BaseException) else error


def _read_units(ray: Any, files: list[Path], reader_arguments: tuple, total_bytes: int,
                progress: bool) -> list[UnitResult]:
    """Step 1: every file read by a pool of readers, largest first; results in input order.
    Under ``on_error="fail"`` the first problem in input order is raised."""
    sizes = [path.stat().st_size for path in files]
    count = min(len(files), cluster_cpus(ray))
    options = {"num_cpus": 1, "max_restarts": RETRIES, "max_task_retries": RETRIES, "scheduling_strategy": "SPREAD"}
    readers = [_remote(ray, UnitReader).options(**options).remote(*reader_arguments) for _ in range(count)]
    waiting = sorted(range(len(files)), key=lambda number: -sizes[number])
    running: dict[Any, tuple[int, Any]] = {}
    results: dict[int, UnitResult] = {}
    errors: dict[int, BaseException] = {}
    bar = tqdm(total=total_bytes, desc="reading and tokenizing", unit="B", unit_scale=True, disable=not progress)
    try:
        idle = list(readers)
        while waiting or running:
            while idle and waiting and not errors:
                number, reader = waiting.pop(0), idle.pop()
                running[reader.read_unit.remote(number, str(files[number]))] = (number, reader)
            if not running:
                break
            done, _ = ray.wait(list(running), num_returns=1)
            number, reader = running.pop(done[0])
            idle.append(reader)
            try:
                results[number] = ray.get(done[0])
            except ray.exceptions.RayError as error:
                errors[number] = _cause(error)
            bar.update(sizes[number])
            if errors and all(unit in results or unit in errors for unit in range(min(errors))):
                break  # every unit before the first failure has been read: that failure is the first
    finally:
        bar.close()
        for reader in readers:
            ray.kill(reader, no_restart=True)
    if errors:
        first = errors[min(errors)]
        if isinstance(first, InfgramError):
            raise first
        raise BuildError(f"expected every input file to be read on the cluster, found {files[min(errors)]} failed: "
                         f"{first}; check the workers' logs, then rerun the same command") from first
    return [results[number] for number in range(len(files))]


def _write_shards(ray: Any, out: Path, tokenizer: Tokenizer, fingerprint: dict[str, Any], shard_positions: int,
                  pieces: list[list[Piece]], builder: Builder, progress: bool, kill_spec: str | None) -> int:
    """Step 3: one task per shard; each finished shard is recorded in the build state as it
    comes in. Returns how many shards were reused from an earlier run."""
    names = [f"shard-{number:05d}" for number in range(len(pieces))]
    previous = {name: builder.state["shards"].pop(name, None) for name in names}
    builder.save_state()  # no record outlives a shard that may be replaced now; finished ones come back below
    options: dict[str, Any] = {"num_cpus": 1, "max_retries": RETRIES}
    budget = fingerprint.get("memory_budget")
    if budget:
        largest = max((node["Resources"].get("memory", 0) for node in ray.nodes() if node.get("Alive")), default=0)
        options["memory"] = min(budget, largest) or None
    task = _remote(ray, write_shard).options(**options)
    tokens_of = [sum(int(piece.token_counts.sum()) for piece in shard) for shard in pieces]
    running = {task.remote(str(out), tokenizer, fingerprint, shard_positions, name, shard, previous[name], kill_spec):
               number for number, (name, shard) in enumerate(zip(names, pieces))}
    entries: list[dict[str, Any] | None] = [None] * len(pieces)
    release = UnitRelease(pieces)
    reused = 0
    bar = tqdm(total=sum(tokens_of), desc=f"sorting and writing {len(pieces)} shard(s)", unit="tok", unit_scale=True,
               disable=not progress)
    try:
        while running:
            done, _ = ray.wait(list(running), num_returns=1)
            number = running.pop(done[0])
            try:
                entry, record = ray.get(done[0])
            except ray.exceptions.RayError as error:
                cause = _cause(error)
                if isinstance(cause, (InfgramError, OSError)):
                    raise cause from None
                raise BuildError(f"expected shard {names[number]} to be written on the cluster, found it failed "
                                 f"{RETRIES + 1} times: {cause}; rerun the same command to resume") from None
            for path in release.finished(number):
                Path(path).unlink(missing_ok=True)
            if record is None:
                reused += 1
                record = previous[names[number]]
            builder.state["shards"][names[number]] = record
            builder.save_state()
            entries[number] = entry
            bar.update(tokens_of[number])
            bar.set_postfix_str(f"{sum(e is not None for e in entries)}/{len(pieces)} shards")
    finally:
        bar.close()
        for reference in running:
            ray.cancel(reference, force=True)
    for entry in entries:
        builder.add_shard(entry)  # type: ignore[arg-type]
    return reused


def build(inputs: Iterable[str | Path], out: str | Path, *, address: str | None = "auto",
          tokenizer: str | Path | Tokenizer | None = None, text_field: str = "text", on_error: str = "fail",
          memory: str | int | None = None, shard_tokens: int | None = None, overwrite: bool = False,
          progress: bool = True, kind: str = "sa", sample_rate: int | None = None, include: list[str] | None = None,
          exclude: list[str] | None = None, normalize: str | None = None, shard_by: str | None = None) -> BuildReport:
    """:func:`infgram.build` on the Ray cluster at ``address`` (see
    :mod:`infgram.distributed.cluster`): the same options, report and index bytes. Inputs and
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
        try:
            units = _read_units(ray, files, (tokenizer, fingerprint, shard_positions, on_error, text_field, str(work),
                                             os.getcwd(), kill_spec, plan.selection), plan.total_bytes, progress)
            report = merge_reports(plan.new_report(out), (unit.report for unit in units))
            builder = Builder(out, tokenizer, fingerprint, shard_positions, on_error, progress, plan.state, report)
            token_counts = np.concatenate([unit.token_counts for unit in units] or [np.zeros(0, np.int64)])
            metadata_lengths = np.concatenate([unit.metadata_lengths for unit in units] or [np.zeros(0, np.int64)])
            phases["read"] = time.perf_counter()
            firsts = plan_shards(token_counts, metadata_lengths, shard_positions, fingerprint["memory_budget"])
            pieces = shard_pieces(units, work, firsts, len(token_counts))
            phases["plan"] = time.perf_counter()
            report.reused_shards = _write_shards(ray, out.resolve(), tokenizer, fingerprint, shard_positions, pieces,
                                                 builder, progress, kill_spec)
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
    if progress:
        tqdm.write(report.summary())
    return report
