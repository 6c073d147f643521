"""Exact-substring deduplication from the suffix array (Lee et al., 2022, "Deduplicating
Training Data Makes Language Models Better"), without an LCP array.

**Duplicates.** Fix a length L (``min_length``: tokens, which are bytes in a byte index).
An *L-gram* is L consecutive tokens inside one document (never across its separator). In
a suffix array, all the suffixes that begin with the same L-gram are one run of adjacent
rows, so "does the L-gram at position p occur elsewhere" is answered by comparing each row
with its neighbour: do the two suffixes begin with the same L tokens, none a separator?
That comparison is made token by token in C (``c/neighbours.h``, through
:meth:`~infgram.shards.SAShard.neighbours_share_prefix`); it needs no LCP array (Kasai's
costs more than 13 bytes a token while it is built), only one byte per row of the rows at
hand. A run of k >= 2 rows is an L-gram that occurs k times; its *first occurrence* is the
smallest position of the run (positions grow in corpus order, shard after shard).

Each position p that starts an L-gram is then marked:

- ``duplicated`` when its L-gram occurs at least twice in the corpus;
- ``later copy`` when its L-gram occurs at a smaller position too (it is not the first
  occurrence).

**Duplicated ranges.** With ``keep="none"`` a document loses the union of the windows
[p, p + L) of its duplicated positions: every copy of every repeated L-gram. With
``keep="first"`` it loses the union of the windows of its later copies, so the first
occurrence of every repeated span stays. Unions are taken per document, and windows that
overlap or touch merge into one range; a range never crosses a separator.

**Self-repeats** (an L-gram whose later copy overlaps its first occurrence, as in
``"aaaa"``: text periodic with a period shorter than L). Under ``keep="first"`` such a later
copy at p, whose first occurrence q is less than L before it, removes only [q + L, p + L),
the part beyond the first copy, so the first L tokens of the periodic stretch stay:
``"aaaaa"`` with L = 2 keeps ``"aa"``. Under ``keep="none"`` every window is removed, so
``"aaaaa"`` loses everything. (Every later copy still removes at least one token, so a pass
over a corpus with a repeat always removes something and the passes end.)

**Shards.** Each shard is a suffix array of its own documents, so the runs above only see
repeats inside a shard. Repeats across shards are found by merging: for every ordered pair
of shards (s, t), the rows of s and t are walked together in sorted order by a two-pointer
merge that compares the suffixes' first L tokens directly (``neighbours_across``), marking
every row of s whose L-gram also occurs in t, separately for t before s ("occurs earlier")
and after ("occurs later"). Because shards hold the documents in corpus order, an L-gram
that occurs in an earlier shard has its first occurrence there. The merge costs O(rows) token
comparisons per pair (so O(shards × rows) in all, each pair read sequentially) and one byte
per row of the shard at hand: within the build's memory budget, which already sized each
shard to fit.

**Memory.** The budget is ``memory`` (``--memory``), else the budget the build was given
(``memory_bytes`` in the manifest), else the build's default (half of the machine's memory). Within it: one byte
per token position of the shard at hand (the marks), one byte per row (the cross-shard marks,
with two or more shards), the tokens of the shard at hand and of the one it is merged with
(read at random, so kept resident), and chunks of rows sized from what is left (about
:data:`BYTES_PER_CHUNK_ROW` bytes a row, at most :data:`MAX_CHUNK_ROWS` rows). The suffix
array is read once, in order: the pages of each chunk are handed back to the page cache
(``madvise(MADV_DONTNEED)``) once the chunk is done, and so are the tokens of a shard once it
is marked, so the files' pages do not pile up in the process. :func:`dedup` streams its output
and gives its passes' builds the budget less what it holds.

**Passes.** Cutting a range joins the text around it, which can form a new repeat. Writing
(:func:`dedup`) therefore indexes its output again (in a temporary directory, with
:func:`infgram.build.build` and the original budget), finds the duplicated ranges of that
index, cuts them too, and repeats until a pass finds none: the output then holds no repeat of
L tokens or more. Removed ranges are reported as byte offsets of the original text.

**Text.** Writing needs a byte index: its tokens are the UTF-8 bytes of the text, so ranges
are byte offsets, widened to whole characters (a range that starts or ends inside a
character takes the whole character), which keeps the output valid UTF-8. A subword
tokenizer's tokens do not map to byte ranges that can be cut and re-tokenized alike, and
token-id indexes have no text: :func:`dedup` refuses them (:func:`find_duplicates` counts
their tokens). FM-indexes have no suffix array to walk and are refused by both.

>>> import tempfile, pathlib, infgram
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = infgram.build_from_documents(["the cat sat on the mat", "a cat sat on a hat"], folder / "i", progress=False)
>>> found = find_duplicates(infgram.Index.open(folder / "i"), min_length=8, progress=False)
>>> found.ranges("none")
[(0, 3, 15), (1, 1, 13)]
>>> found.ranges("first")
[(1, 1, 13)]
"""

from __future__ import annotations

import heapq
import json
import mmap
import shutil
from array import array
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
from tqdm.auto import tqdm

from .. import _dedup
from ..build.pipeline import build as build_index
from ..build.plan import default_memory_budget, parse_memory
from ..errors import InputError, UnsupportedOperationError
from ..format import write_text_atomically
from ..query.index import Index, IndexLocation
from .charts import Bar, log_bar_chart_svg

MIN_LENGTH = 50
"""The default minimum length of a duplicate, in tokens (bytes in a byte index), as in Lee et al."""

KEEP_FIRST, KEEP_NONE = "first", "none"
KEEP_MODES = (KEEP_FIRST, KEEP_NONE)

DUPLICATED = np.uint8(1)
"""Mark of a position whose L-gram occurs at least twice."""
LATER_COPY = np.uint8(2)
"""Mark of a position whose L-gram occurs at a smaller position too."""
OCCURS_EARLIER, OCCURS_LATER = np.uint8(1), np.uint8(2)
"""Cross-shard marks of a row: its L-gram occurs in an earlier / a later shard."""

BYTES_PER_CHUNK_ROW = 96
"""Working memory per row of a chunk (positions, run ids and masks, as int64 and bool arrays)."""
MIN_CHUNK_ROWS, MAX_CHUNK_ROWS = 1 << 12, 1 << 22
"""Chunks of rows: more than 4 M rows (about 400 MB of work arrays) is no faster."""
PROCESS_BYTES = 256 << 20
"""What the interpreter and its libraries hold, kept out of the chunks' share of the budget."""
RELEASE_BYTES = 1 << 26
"""How much of a file is read in order before its pages are handed back (see :func:`_release`)."""
TOP_SPANS = 20
"""The most repeated spans reported."""
TOP_CANDIDATES = 2000
"""The most repeated L-grams kept while walking (many are overlapping L-grams of one span)."""
OUTPUT_NAME = "deduped.jsonl"
REPORT_NAME = ".dedup-report.json"
"""The report beside the output: hidden, so that ``infgram build`` of the folder skips it."""


# -- finding duplicated ranges ------------------------------------------------------------------
@dataclass
class ShardMarks:
    """The marks of one shard: per position, ``DUPLICATED`` / ``LATER_COPY`` bits, and the
    self-repeat cuts of ``keep="first"``: a later copy at ``cut_positions[i]`` that removes
    [``cut_starts[i]``, ``cut_positions[i]`` + L) instead of its whole window."""

    marks: np.ndarray
    cut_positions: np.ndarray
    cut_starts: np.ndarray


@dataclass
class Duplicates:
    """The duplicated ranges of an index, for both keep modes, and the most repeated L-grams.

    Ranges are (global document number, start, end) in tokens of the document (bytes in a
    byte index), sorted, merged where they touch."""

    min_length: int
    num_documents: int
    num_tokens: int
    documents: dict[str, np.ndarray]
    starts: dict[str, np.ndarray]
    ends: dict[str, np.ndarray]
    top: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def ranges(self, keep: str = KEEP_NONE) -> list[tuple[int, int, int]]:
        """The ranges of a keep mode as (document, start, end) tuples."""
        return list(zip(self.documents[keep].tolist(), self.starts[keep].tolist(), self.ends[keep].tolist()))

    def statistics(self) -> dict[str, Any]:
        """Counts, covered tokens, the share of documents touched, a length histogram and the
        most repeated spans (see :func:`find_duplicates`)."""
        lengths = self.ends[KEEP_NONE] - self.starts[KEEP_NONE]
        removed = int((self.ends[KEEP_FIRST] - self.starts[KEEP_FIRST]).sum())
        covered = int(lengths.sum())
        return {
            "min_length": self.min_length,
            "num_documents": self.num_documents,
            "num_tokens": self.num_tokens,
            "duplicated_spans": int(len(lengths)),
            "duplicated_tokens": covered,
            "duplicated_fraction": covered / self.num_tokens if self.num_tokens else 0.0,
            "documents_touched": int(len(np.unique(self.documents[KEEP_NONE]))),
            "documents_touched_fraction": (len(np.unique(self.documents[KEEP_NONE])) / self.num_documents
                                           if self.num_documents else 0.0),
            "removed_keep_first_spans": int(len(self.starts[KEEP_FIRST])),
            "removed_keep_first_tokens": removed,
            "removed_keep_first_fraction": removed / self.num_tokens if self.num_tokens else 0.0,
            "length_histogram": length_histogram(lengths, self.min_length),
            "most_repeated": self.top,
            "seconds": round(self.seconds, 3),
        }


def length_histogram(lengths: np.ndarray, min_length: int) -> list[dict[str, int]]:
    """Counts of duplicated-span lengths in doubling bins [min_length * 2^k, min_length * 2^(k+1)).

    >>> length_histogram(np.array([50, 60, 120, 400]), 50)
    [{'from': 50, 'to': 100, 'count': 2}, {'from': 100, 'to': 200, 'count': 1}, {'from': 200, 'to': 400, 'count': 0}, {'from': 400, 'to': 800, 'count': 1}]
    """
    if not len(lengths):
        return []
    bins = np.floor(np.log2(np.asarray(lengths, dtype=np.float64) / min_length)).astype(np.int64)
    counts = np.bincount(bins)
    return [{"from": min_length << k, "to": min_length << (k + 1), "count": int(c)} for k, c in enumerate(counts)]


def _check_index(index: Index, need_text: bool) -> None:
    if index.kind != "sa":
        raise UnsupportedOperationError(
            f"deduplication walks a suffix array, and this is a {index.kind} index (an FM-index keeps no suffix "
            "array to compare neighbours in); build a suffix-array index of the corpus with `infgram build --kind sa` "
            "and deduplicate that")
    if any(shard.removals.rows is not None for shard in index.shards):
        raise UnsupportedOperationError(
            "deduplication compares neighbouring suffixes in the shards' files, which still hold the documents "
            "taken down with `infgram remove`; run `infgram compact` on the index first, then deduplicate")
    if need_text and not index.tokenizer.tokens_are_bytes:
        raise UnsupportedOperationError(
            f"writing a deduplicated corpus cuts the text at byte offsets, and this index holds "
            f"{index.tokenizer.kind} tokens, which do not map to byte ranges that can be cut and tokenized again "
            "alike (and token-id indexes have no text); build a byte index (`infgram build` without --tokenizer) "
            "to deduplicate, or use `infgram duplicates` for statistics in tokens")


def memory_budget(index: Index, memory: str | int | None = None) -> int:
    """The memory budget of deduplicating ``index``: ``memory`` (bytes, or a size such as
    ``"8G"``), else the budget the build was given (``memory_bytes`` in the manifest), else the
    build's default."""
    if memory is not None:
        budget = parse_memory(memory)
        if budget is None or budget <= 0:
            raise InputError(f"expected a memory budget above 0 bytes, such as 8G, found {memory!r}")
        return budget
    budget = index.manifest.build_options.get("memory_bytes")
    return int(budget) if isinstance(budget, int) and budget > 0 else default_memory_budget()


def _chunk_rows(index: Index, budget: int) -> int:
    """Rows per chunk: what the budget leaves after the per-position arrays of the largest
    shard (marks, cross-shard marks) and the tokens held while it is merged with another."""
    shards = index.shards
    largest = max((s.num_positions for s in shards), default=0)
    width = max((s.token_width for s in shards), default=1)
    fixed = largest * ((2 if len(shards) > 1 else 1) + width * (2 if len(shards) > 1 else 1))
    marks = largest * (2 if len(shards) > 1 else 1)
    if marks + PROCESS_BYTES // 4 > budget:
        raise InputError(
            f"expected a memory budget of at least {_size(marks + PROCESS_BYTES // 4)} to deduplicate this index "
            f"(one byte per position of its largest shard, {largest:,} positions, for the marks"
            f"{' and one for the cross-shard marks' if len(shards) > 1 else ''}), found {_size(budget)}; pass a "
            "larger --memory, or rebuild the index in smaller shards (--memory or --shard-tokens of `infgram build`)")
    rows = (budget - fixed - PROCESS_BYTES) // BYTES_PER_CHUNK_ROW
    return int(min(max(rows, MIN_CHUNK_ROWS), MAX_CHUNK_ROWS))


def _size(count: int) -> str:
    return f"{count / 2**30:.2f} GiB" if count >= 2**30 else f"{count / 2**20:.0f} MiB"


def _release(data: Any, start: int = 0, end: int | None = None) -> None:
    """Hand the resident pages of bytes [start, end) of a memory-mapped index array back to the
    page cache (``madvise(MADV_DONTNEED)`` on a read-only file mapping: the next read maps them
    again), so that reading a file once does not keep it in the process's memory. Does nothing
    on arrays that are not file mappings, or where the system has no ``madvise``."""
    handle = getattr(data, "_mmap", None)
    if handle is None or not hasattr(mmap, "MADV_DONTNEED"):
        return
    end = data.nbytes if end is None else min(end, data.nbytes)
    try:
        base = np.frombuffer(handle, dtype=np.uint8).ctypes.data
        offset = data.ctypes.data - base
        first = -(-(offset + start) // mmap.PAGESIZE) * mmap.PAGESIZE
        last = (offset + end) // mmap.PAGESIZE * mmap.PAGESIZE
        if end >= data.nbytes:  # the tail of the last page belongs to this file too
            last = -(-(offset + end) // mmap.PAGESIZE) * mmap.PAGESIZE
            last = min(last, len(handle))
        if last > first:
            handle.madvise(mmap.MADV_DONTNEED, first, last - first)
    except (AttributeError, BufferError, OSError, ValueError):
        pass


def _release_index(index: Index) -> None:
    for shard in index.shards:
        _release(shard.tokens)
        _release(shard.suffix_array_bytes)


def _cross_marks(shards: list, number: int, length: int, chunk: int, bar: tqdm) -> np.ndarray | None:
    """For every row of shard ``number``: OCCURS_EARLIER / OCCURS_LATER when its L-gram occurs
    in an earlier / later shard, by a merge walk against each other shard (``neighbours_across``)."""
    if len(shards) < 2:
        return None
    shard = shards[number]
    marks = np.zeros(shard.num_positions, dtype=np.uint8)
    rows = shard.unigram_range[1]
    tokens = shard.tokens.view(np.uint8)
    for other_number, other in enumerate(shards):
        if other_number == number:
            continue
        bit = OCCURS_EARLIER if other_number < number else OCCURS_LATER
        other_row = 0  # the merge pointer, carried from chunk to chunk
        for lo in range(0, rows, chunk):
            hi = min(lo + chunk, rows)
            other_before = other_row
            found, other_row = _dedup.neighbours_across(
                tokens, shard.suffix_array_bytes, other.tokens.view(np.uint8), other.suffix_array_bytes,
                shard.token_width, shard.pointer_width, other.pointer_width, lo, hi, length, other_row)
            marks[lo:hi] |= np.frombuffer(found, dtype=np.uint8) * bit
            _release(shard.suffix_array_bytes, lo * shard.pointer_width, hi * shard.pointer_width)
            _release(other.suffix_array_bytes, other_before * other.pointer_width, other_row * other.pointer_width)
            bar.update(hi - lo)
        _release(other.suffix_array_bytes)
        _release(other.tokens)
    return marks


def _chunks_of_whole_runs(shard, length: int, chunk: int) -> Iterator[tuple[int, int, np.ndarray]]:
    """(lo, hi, shared) for consecutive row chunks that end where a run ends, so that no run of
    rows sharing an L-gram is split between chunks; ``shared`` has hi - lo - 1 entries."""
    rows = shard.unigram_range[1]
    lo = 0
    while lo < rows:
        size = chunk
        while True:
            hi = min(lo + size, rows)
            shared = shard.neighbours_share_prefix(lo, min(hi + 1, rows), length)
            if hi == rows or not shared[hi - lo - 1]:  # the chunk ends at a run's end
                break
            breaks = np.flatnonzero(~shared[: hi - lo - 1])
            if len(breaks):  # end after the last run that closes inside the chunk
                hi = lo + int(breaks[-1]) + 1
                break
            size *= 2  # one run longer than the chunk: take more rows
        yield lo, hi, shared[: hi - lo - 1]
        lo = hi


def _mark_shard(shards: list, number: int, length: int, chunk: int, bar: tqdm,
                candidates: list[tuple[int, int, int]]) -> ShardMarks:
    """The marks of one shard (see the module docstring), and its most repeated L-grams
    pushed onto ``candidates`` (a heap of (count, shard, position))."""
    shard = shards[number]
    cross = _cross_marks(shards, number, length, chunk, bar)
    marks = np.zeros(shard.num_positions, dtype=np.uint8)
    cut_positions: list[np.ndarray] = []
    cut_starts: list[np.ndarray] = []
    for lo, hi, shared in _chunks_of_whole_runs(shard, length, chunk):
        positions = shard.positions(lo, hi)
        run_starts = np.flatnonzero(np.concatenate(([True], ~shared)))
        sizes = np.diff(np.append(run_starts, hi - lo))
        firsts = np.minimum.reduceat(positions, run_starts)
        run_of_row = np.repeat(np.arange(len(run_starts)), sizes)
        size_of_row, first_of_row = sizes[run_of_row], firsts[run_of_row]
        earlier = np.zeros(hi - lo, dtype=bool) if cross is None else (cross[lo:hi] & OCCURS_EARLIER) > 0
        later = np.zeros(hi - lo, dtype=bool) if cross is None else (cross[lo:hi] & OCCURS_LATER) > 0
        duplicated = (size_of_row >= 2) | earlier | later
        not_first = positions != first_of_row  # implies size >= 2
        # A later copy within L of its first occurrence (same document, necessarily) cuts short.
        self_repeat = not_first & ~earlier & (first_of_row + length > positions)
        later_copy = (not_first | earlier) & ~self_repeat
        marks[positions[duplicated]] |= DUPLICATED
        marks[positions[later_copy]] |= LATER_COPY
        if self_repeat.any():
            cut_positions.append(positions[self_repeat])
            cut_starts.append(first_of_row[self_repeat] + length)
        _release(shard.suffix_array_bytes, lo * shard.pointer_width, (hi + 1) * shard.pointer_width)
        repeated = np.flatnonzero(sizes >= 2)
        if len(repeated):
            best = repeated[np.argsort(-sizes[repeated], kind="stable")[:TOP_CANDIDATES]]
            for run in best.tolist():
                item = (int(sizes[run]), -number, -int(firsts[run]))
                if len(candidates) < TOP_CANDIDATES:
                    heapq.heappush(candidates, item)
                elif item > candidates[0]:
                    heapq.heapreplace(candidates, item)
        bar.update(hi - lo)
    _release(shard.tokens)
    empty = np.zeros(0, dtype=np.int64)
    return ShardMarks(marks, np.concatenate(cut_positions) if cut_positions else empty,
                      np.concatenate(cut_starts) if cut_starts else empty)


def _covered_ranges(marks: np.ndarray, bit: np.uint8, length: int, cut_positions: np.ndarray,
                    cut_starts: np.ndarray, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """The union of the windows [p, p + L) of the positions marked with ``bit`` and of the cut
    windows [cut_start, p + L), as sorted, disjoint, non-touching (start, end) arrays.

    Position x is covered when some window starting at or before x ends after it: a running
    maximum of window ends, computed chunk by chunk with the maximum carried over."""
    order = np.argsort(cut_starts, kind="stable")
    cut_starts, cut_ends = cut_starts[order], cut_positions[order] + length
    starts, ends = [], []
    reach, open_start = 0, -1  # reach: the farthest window end so far; open_start: a range not yet closed
    for lo in range(0, len(marks), chunk):
        hi = min(lo + chunk, len(marks))
        x = np.arange(lo, hi, dtype=np.int64)
        window_end = np.where((marks[lo:hi] & bit) > 0, x + length, 0)
        a, b = np.searchsorted(cut_starts, [lo, hi])
        if b > a:
            np.maximum.at(window_end, cut_starts[a:b] - lo, cut_ends[a:b])
        running = np.maximum.accumulate(np.maximum(window_end, reach))
        reach = int(running[-1])
        covered = running > x
        edges = np.diff(covered.astype(np.int8), prepend=np.int8(open_start >= 0), append=np.int8(0))
        opened, closed = np.flatnonzero(edges == 1) + lo, np.flatnonzero(edges == -1) + lo
        if open_start >= 0:
            opened = np.concatenate(([open_start], opened))
        if covered[-1]:  # the last range continues into the next chunk
            open_start, closed_here = int(opened[-1]), opened[:-1]
            starts.append(closed_here)
            ends.append(closed[: len(closed_here)])
        else:
            open_start = -1
            starts.append(opened)
            ends.append(closed)
    if open_start >= 0:
        starts.append(np.array([open_start]))
        ends.append(np.array([len(marks)]))
    if not starts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(starts).astype(np.int64), np.concatenate(ends).astype(np.int64)


def find_duplicates(index: Index | IndexLocation, min_length: int = MIN_LENGTH, progress: bool = True,
                    memory: str | int | None = None) -> Duplicates:
    """Every duplicated range of an index (open, or its location; suffix array, any tokenizer),
    for both keep modes.

    ``min_length`` counts tokens (bytes in a byte index). See the module docstring for the
    definitions; memory: within ``memory`` (see :func:`memory_budget`), one byte per position
    and one per row of a shard, its tokens, and chunks of rows sized from what is left.

    >>> import tempfile, pathlib, infgram
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = infgram.build_from_documents(["xaaaaay", "zaaaaw"], folder / "i", progress=False)
    >>> found = find_duplicates(infgram.Index.open(folder / "i"), min_length=3, progress=False)
    >>> found.ranges("none"), found.ranges("first")
    ([(0, 1, 6), (1, 1, 5)], [(0, 4, 6), (1, 1, 5)])
    >>> found.statistics()["most_repeated"][0]["count"]
    5
    """
    if min_length < 1:
        raise InputError(f"expected a minimum length of 1 or more tokens, found {min_length}")
    if not isinstance(index, Index):
        index = Index.open(index)
    _check_index(index, need_text=False)
    started = time.perf_counter()
    shards = index.shards
    chunk = _chunk_rows(index, memory_budget(index, memory))
    work = sum(s.unigram_range[1] for s in shards) * (len(shards) if len(shards) > 1 else 1)
    parts: dict[str, dict[str, list[np.ndarray]]] = {keep: {"documents": [], "starts": [], "ends": []}
                                                     for keep in KEEP_MODES}
    candidates: list[tuple[int, int, int]] = []
    with tqdm(total=work, desc=f"finding duplicates of {min_length}+ tokens", unit="row", unit_scale=True,
              disable=not progress) as bar:
        for number, shard in enumerate(shards):
            found = _mark_shard(shards, number, min_length, chunk, bar, candidates)
            document_starts = shard.documents.starts
            for keep, bit in ((KEEP_NONE, DUPLICATED), (KEEP_FIRST, LATER_COPY)):
                cuts = (found.cut_positions, found.cut_starts) if keep == KEEP_FIRST else \
                    (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
                starts, ends = _covered_ranges(found.marks, bit, min_length, *cuts, chunk)
                local = shard.documents.document_of(starts)
                parts[keep]["documents"].append(local + shard.first_document)
                parts[keep]["starts"].append(starts - document_starts[local])
                parts[keep]["ends"].append(ends - document_starts[local])
            del found
    merged = {name: {keep: np.concatenate(parts[keep][name]).astype(np.int64) for keep in KEEP_MODES}
              for name in ("documents", "starts", "ends")}
    top = _describe_top(index, sorted(candidates, reverse=True), min_length, merged["documents"][KEEP_NONE],
                        merged["starts"][KEEP_NONE], merged["ends"][KEEP_NONE])
    return Duplicates(min_length, index.num_documents, index.num_tokens, merged["documents"], merged["starts"],
                      merged["ends"], top, time.perf_counter() - started)


def _describe_top(index: Index, candidates: list[tuple[int, int, int]], length: int, documents: np.ndarray,
                  starts: np.ndarray, ends: np.ndarray) -> list[dict[str, Any]]:
    """The most repeated spans: for each candidate L-gram (most repeated first), the duplicated
    range (``keep="none"``) around its first occurrence, once per range, with the L-gram's
    count over the whole index (a shard's run size misses the other shards) and that first
    occurrence's document as the example."""
    shards = index.shards
    seen: set[int] = set()
    described: list[dict[str, Any]] = []
    for _, negative_shard, negative_position in candidates:
        if len(described) == TOP_SPANS:
            break
        shard = shards[-negative_shard]
        position = -negative_position
        local = int(shard.documents.document_of(np.array([position]))[0])
        document, offset = shard.first_document + local, position - int(shard.documents.starts[local])
        lo, hi = np.searchsorted(documents, [document, document + 1])
        inside = lo + int(np.searchsorted(starts[lo:hi], offset, side="right")) - 1
        if inside < lo or inside in seen:  # the range of an L-gram already shown
            continue
        seen.add(inside)
        span_start, span_end = int(starts[inside]), int(ends[inside])
        ids = np.asarray(shard.tokens[position : position + length]).astype(np.int64).tolist()
        span = np.asarray(shard.document_slice(local, span_start, span_end)).astype(np.int64).tolist()
        item: dict[str, Any] = {"count": index.count(ids), "length": span_end - span_start, "document": document,
                                "start": span_start}
        if index.tokenizer.tokens_are_bytes:
            item["text"] = bytes(span).decode("utf-8", errors="replace")
        else:
            item["ids"] = span
        described.append(item)
    described.sort(key=lambda item: (-item["count"], item["document"], item["start"]))
    return described


# -- the plot -------------------------------------------------------------------------------------
def histogram_svg(histogram: Sequence[dict[str, int]], title: str = "duplicated spans by length") -> str:
    """A bar chart of a :func:`length_histogram` as an SVG document (log-scaled counts).

    >>> svg = histogram_svg([{"from": 50, "to": 100, "count": 3}])
    >>> svg.startswith("<svg") and "50–99" in svg
    True
    """
    bars = [Bar(f"{item['from']}–{item['to'] - 1}", item["count"], tooltip=f"{item['count']:,} spans")
            for item in histogram]
    return log_bar_chart_svg(bars, title, "length (tokens)", y_label="spans (log scale)")


# -- writing the deduplicated corpus --------------------------------------------------------------
def widen_to_characters(text: bytes, start: int, end: int) -> tuple[int, int]:
    """Widen a byte range of UTF-8 text to whole characters: a range that starts or ends inside
    a character (at a continuation byte 0b10xxxxxx) takes the whole character.

    >>> widen_to_characters("aéb".encode(), 2, 3)
    (1, 3)
    """
    while start > 0 and (text[start] & 0xC0) == 0x80:
        start -= 1
    while end < len(text) and (text[end] & 0xC0) == 0x80:
        end += 1
    return start, end


BOUNDARIES = ("character", "word")
"""Where ``dedup`` cuts: at the edges of the duplicated range widened to whole characters, or
to whole words (whitespace), so that no cut joins the words on either side of it."""

_WHITESPACE = frozenset(b" \t\n\r\x0b\x0c")


def widen_to_words(text: bytes, start: int, end: int) -> tuple[int, int]:
    """Widen a byte range to whole words: a word it touches goes whole, and when whitespace is
    left on its left (or the text starts there), the whitespace after it goes too, so the
    words kept on either side stay one space apart instead of running together.

    >>> text = b"the opening flutes play"
    >>> start, end = widen_to_words(text, 8, 15)  # "ning fl"
    >>> text[:start] + text[end:]
    b'the play'
    >>> widen_to_words(b"abc def", 0, 1)
    (0, 4)
    """
    while start > 0 and text[start - 1] not in _WHITESPACE:
        start -= 1
    while end < len(text) and text[end] not in _WHITESPACE:
        end += 1
    if start == 0 or text[start - 1] in _WHITESPACE:
        while end < len(text) and text[end] in _WHITESPACE:
            end += 1
    return start, end


def cut_pieces(pieces: list[tuple[int, int]], ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Remove ``ranges`` (offsets of the text the pieces make up, sorted, disjoint) from
    ``pieces`` (the kept (start, end) offsets of the original text, in order).

    >>> cut_pieces([(0, 4), (6, 10)], [(2, 5)])
    [(0, 2), (7, 10)]
    """
    kept, offset = [], 0
    ranges = list(ranges)
    for start, end in pieces:
        # The piece is [offset, offset + end - start) of the current text.
        here = offset
        for cut_start, cut_end in ranges:
            low, high = max(cut_start, offset), min(cut_end, offset + end - start)
            if low >= high:
                continue
            if low > here:
                kept.append((start + here - offset, start + low - offset))
            here = high
        if here < offset + end - start:
            kept.append((start + here - offset, end))
        offset += end - start
    return kept


def removed_ranges(pieces: list[tuple[int, int]], length: int) -> list[list[int]]:
    """The complement of the kept pieces in [0, length).

    >>> removed_ranges([(0, 2), (7, 10)], 12)
    [[2, 7], [10, 12]]
    """
    removed, here = [], 0
    for start, end in pieces:
        if start > here:
            removed.append([here, start])
        here = end
    if here < length:
        removed.append([here, length])
    return removed


@dataclass
class DedupReport:
    """What :func:`dedup` did: passes, sizes, dropped documents, times and peak memory."""

    output: str
    min_length: int
    keep: str
    passes: int = 0
    removed_per_pass: list[int] = field(default_factory=list)
    num_documents: int = 0
    num_documents_written: int = 0
    dropped_documents: list[int] = field(default_factory=list)
    input_bytes: int = 0
    output_bytes: int = 0
    removed_bytes: int = 0
    seconds: float = 0.0
    boundary: str = "character"

    def to_json(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.__dataclass_fields__}

    def summary(self) -> str:
        share = self.removed_bytes / self.input_bytes if self.input_bytes else 0.0
        return (f"removed {self.removed_bytes:,} of {self.input_bytes:,} bytes ({share:.2%}) in {self.passes} passes "
                f"(bytes removed per pass: {self.removed_per_pass}); wrote {self.num_documents_written:,} of "
                f"{self.num_documents:,} documents to {self.output}, dropped {len(self.dropped_documents):,} left "
                f"empty; {self.seconds:.1f} s; the report (passes, dropped documents) is "
                f"{Path(self.output).parent / REPORT_NAME} (a dot file, so that building from the folder indexes "
                "the output alone)")


def _document_bytes(index: Index, number: int) -> bytes:
    shard, local = _locate(index, number)
    return bytes(np.asarray(shard.document_tokens(local), dtype=np.uint8))


def _locate(index: Index, number: int) -> tuple[Any, int]:
    for shard in index.shards:
        if shard.first_document <= number < shard.first_document + shard.num_documents:
            return shard, number - shard.first_document
    raise IndexError(number)


def _text_ranges(found: Duplicates, keep: str) -> Iterator[tuple[int, list[tuple[int, int]]]]:
    """(document, its ranges) for every document with a range, in order (the ranges are
    sorted by document), without making tuples of all the ranges at once."""
    documents, starts, ends = found.documents[keep], found.starts[keep], found.ends[keep]
    bounds = np.concatenate(([0], np.flatnonzero(np.diff(documents)) + 1, [len(documents)])) if len(documents) \
        else np.zeros(1, dtype=np.int64)
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        yield int(documents[lo]), list(zip(starts[lo:hi].tolist(), ends[lo:hi].tolist()))


def _texts(index: Index, bar_description: str, progress: bool) -> Iterator[tuple[int, Any, int, bytes]]:
    """(global number, shard, local number, bytes) of every document, in order, reading the
    tokens once and handing their pages back as it goes (see :func:`_release`)."""
    with tqdm(total=index.num_documents, desc=bar_description, unit="doc", disable=not progress) as bar:
        for shard in index.shards:
            released = 0
            for local in range(shard.num_documents):
                text = bytes(np.asarray(shard.document_tokens(local), dtype=np.uint8))
                yield shard.first_document + local, shard, local, text
                bar.update(1)
                end = int(shard.documents.starts[local]) + len(text)
                if end - released >= RELEASE_BYTES:
                    _release(shard.tokens, released, end)
                    released = end
            _release(shard.tokens)


def _resident_bytes() -> int:
    """This process's resident memory now (Linux; 0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * mmap.PAGESIZE
    except (OSError, ValueError, IndexError):
        return 0


def _widened(text: bytes, ranges: list[tuple[int, int]], boundary: str = "character") -> list[tuple[int, int]]:
    """Ranges widened to whole characters (or whole words), merged where they overlap or touch."""
    merged: list[tuple[int, int]] = []
    for start, end in ranges:
        start, end = widen_to_characters(text, start, end)
        if boundary == "word":
            start, end = widen_to_words(text, start, end)
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def dedup(location: IndexLocation, out: str | Path, min_length: int = MIN_LENGTH, keep: str = KEEP_FIRST,
          progress: bool = True, shard_tokens: int | None = None, max_passes: int = 100,
          memory: str | int | None = None, boundary: str = "character") -> DedupReport:
    """Write the corpus of a byte index without its duplicated ranges, to ``out/deduped.jsonl``
    (each line ``text``, the original metadata and ``removed``: the original text's removed
    [start, end) byte offsets), passing again over the output until it holds no repeat of
    ``min_length`` bytes or more; the report goes to ``out/.dedup-report.json``. Documents
    left empty are dropped and listed there. ``memory`` is the budget (see
    :func:`memory_budget`): of finding the duplicates, and of the passes' builds less what this
    process holds; ``shard_tokens`` sets the shard size of the passes' indexes instead.
    ``boundary="word"`` cuts at whitespace (:func:`widen_to_words`): a word a duplicate
    touches goes whole, and the words on either side of a cut are never joined.

    >>> import tempfile, pathlib, json, infgram
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = infgram.build_from_documents(["the cat sat on the mat", "a cat sat on a hat", " cat sat on "],
    ...                                  folder / "i", progress=False)
    >>> report = dedup(folder / "i", folder / "out", min_length=8, progress=False)
    >>> [json.loads(line) for line in (folder / "out" / "deduped.jsonl").read_text().splitlines()]
    [{'text': 'the cat sat on the mat', 'removed': []}, {'text': 'aa hat', 'removed': [[1, 13]]}]
    >>> report.dropped_documents, report.passes
    ([2], 2)
    """
    if keep not in KEEP_MODES:
        raise InputError(f"expected --keep first or none, found {keep!r}")
    if boundary not in BOUNDARIES:
        raise InputError(f"expected --boundary character or word, found {boundary!r}")
    if min_length < 1:
        raise InputError(f"expected a minimum length of 1 or more bytes, found {min_length}")
    started = time.perf_counter()
    index = Index.open(location)
    _check_index(index, need_text=True)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest_build = index.manifest.build_options
    budget = memory_budget(index, memory)
    if shard_tokens is None and memory is None:
        shard_tokens = manifest_build.get("shard_tokens")
    report = DedupReport(str(out / OUTPUT_NAME), min_length, keep, num_documents=index.num_documents,
                         boundary=boundary)
    # pieces[n]: the kept byte ranges of original document n; untouched documents are absent.
    lengths = {}
    pieces: dict[int, list[tuple[int, int]]] = {}
    current = index
    # current_number[i]: the original number of document i of the index of the current pass.
    current_number: array | None = None
    with tempfile.TemporaryDirectory(prefix="infgram-dedup-", dir=out) as scratch:
        while True:
            report.passes += 1
            found = find_duplicates(current, min_length, progress=progress, memory=budget)
            removed_now = cut_documents = 0
            for number, ranges in _text_ranges(found, keep):
                original = number if current_number is None else current_number[number]
                text = _document_bytes(current, number)
                widened = _widened(text, ranges, boundary)
                removed_now += sum(end - start for start, end in widened)
                if original not in pieces:
                    lengths[original] = len(text)
                    pieces[original] = [(0, len(text))]
                pieces[original] = cut_pieces(pieces[original], widened)
                cut_documents += 1
            del found
            _release_index(current)
            if not cut_documents:
                break
            report.removed_per_pass.append(removed_now)
            if report.passes >= max_passes:
                raise UnsupportedOperationError(f"expected deduplication to end within {max_passes} passes, but pass "
                                                f"{report.passes} still removed {removed_now} bytes; raise max_passes")
            # Index the text as it now stands, and pass over it again.
            folder = Path(scratch) / f"pass-{report.passes}"
            folder.mkdir()
            survivors = array("q")

            def lines() -> Iterator[str]:
                for number, _, _, text in _texts(index, f"pass {report.passes}: writing the cut text", progress):
                    if number in pieces:
                        text = b"".join(text[start:end] for start, end in pieces[number])
                    if text:
                        survivors.append(number)
                        yield json.dumps({"text": text.decode("utf-8"), "document": number}, ensure_ascii=False) + "\n"

            write_text_atomically(folder / "corpus.jsonl", lines())
            if not survivors:
                break
            # The pass's build gets the budget less what this process holds (the kept pieces).
            build_memory = max(budget - _resident_bytes(), budget // 4)
            options: dict[str, Any] = {"shard_tokens": shard_tokens} if shard_tokens else {"memory": build_memory}
            current = None
            build_index([folder / "corpus.jsonl"], folder / "index", progress=progress, **options)
            current = Index.open(folder / "index")
            current_number = survivors
            if report.passes > 1:  # the previous pass's text and index are no longer read
                shutil.rmtree(Path(scratch) / f"pass-{report.passes - 1}", ignore_errors=True)
    # Write the output: every document in corpus order, cut, with its metadata.
    dropped: list[int] = []

    def output_lines() -> Iterator[str]:
        for number, shard, local, text in _texts(index, "writing the deduplicated corpus", progress):
            report.input_bytes += len(text)
            kept = pieces.get(number, [(0, len(text))])
            cut = b"".join(text[start:end] for start, end in kept)
            if not cut:
                dropped.append(number)
                continue
            report.num_documents_written += 1
            report.output_bytes += len(cut)
            record = {"text": cut.decode("utf-8"), **shard.documents.metadata(local),
                      "removed": removed_ranges(kept, len(text))}
            yield json.dumps(record, ensure_ascii=False) + "\n"

    write_text_atomically(out / OUTPUT_NAME, output_lines())
    report.dropped_documents = dropped
    report.removed_bytes = report.input_bytes - report.output_bytes
    report.seconds = round(time.perf_counter() - started, 3)
    write_text_atomically(out / REPORT_NAME, json.dumps(report.to_json(), indent=1) + "\n")
    return report
