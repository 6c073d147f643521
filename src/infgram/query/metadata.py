"""Where in the corpus: counts by a metadata field, queries filtered by metadata, and what
the metadata holds.

``count(query, by="lang")`` answers how many occurrences of a phrase lie in documents of
each value of a field; ``where={"lang": "de"}`` (on ``count``, ``documents`` and ``next_tokens``; on the
∞-gram operations, probability, search, attribution and contamination see :mod:`infgram.query.filtering`) keeps only
the occurrences (or documents) whose document meets conditions (the syntax of :mod:`infgram.format.metadata`, the same
as ``remove --where``). Both are exact; past the budget, ``estimate=True`` estimates instead
(:mod:`infgram.query.estimation`).

**How.** The occurrences of a query in a shard are one suffix-array run per form
(:mod:`infgram.query.documents`); their token positions map to documents by binary search
over the document starts, and each document to its value through the shard's value column
(``metadata_values.bin``, one small integer per document and field, written at build
time). So the cost is one position read per occurrence, as for ``documents``, plus a
gather and a histogram: it grows with the occurrences, not the documents. The empty query
weighs each live document by its length instead (no position is read).

**The budget.** Reading positions costs work units (:mod:`infgram.query.budget`); a shard
without the column (an index built before it existed, or a field with too many values to
keep in one) reads every document's metadata once instead, ``METADATA_UNITS_PER_DOCUMENT``
units a document, kept for the next question. The whole cost is known from run lengths
before anything is read: past the budget the answer is a
:class:`~infgram.errors.LimitError`, never a partial count.

**Shards of one value.** On an index built with ``--shard-by`` (:mod:`infgram.build.grouping`),
each shard's manifest entry names its value (:func:`shard_value`). A count by that field is
then a count per shard: the suffix-array runs that a plain count finds, added up per value,
no position read (:func:`count_by_shards`); a condition on it keeps or drops whole shards
(:func:`shard_selected`), so the work of a filtered question is that of the shards kept.

**Keys.** A field that no document of the index has is an error naming those that exist
(a misspelled key would otherwise count everything as missing).

>>> import tempfile, pathlib, infgram
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = infgram.build_from_documents([{"text": "a rose", "lang": "en"}, {"text": "eine rose", "lang": "de"},
...                                   {"text": "rose"}], folder / "i", progress=False)
>>> index = infgram.Index.open(folder / "i")
>>> result = index.count("rose", by="lang")
>>> result.count, result.by, result.missing
(3, {'de': 1, 'en': 1}, 1)
>>> index.count("rose", where={"lang": {"not": "en"}}), index.count("rose", where=["lang in de,en"])
(1, 2)
"""

from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np

from ..errors import LimitError, QueryError
from ..format.manifest import ShardEntry
from ..format.metadata import (
    ValueColumn,
    ValueColumns,
    Where,
    columns_of,
    field_name,
    field_path,
    lookup,
    parse_shard_rule,
    parse_where,
    read_value_columns,
)
from ..sampling import page_order
from ..shards import Shard
from .budget import charge, refuse
from .corpus import Corpus
from .documents import drawn_occurrences, first_matches, occurrence_runs, read_document
from .estimation import estimated_fields, sample_numbers
from .encoding import MAX_DOCUMENTS_LIMIT, Query, check_whole_number
from .options import Matching
from .partials import count as shard_count
from .partials import merge_distributions, run_of
from .results import DocumentsResult, NextTokensResult
from .words import WordTest, whole_word_mask, whole_word_positions

METADATA_UNITS_PER_DOCUMENT = 8
"""Reading one document's metadata (a JSON parse, a few microseconds) in work units, each
about one position read."""

_MAX_KEYS_SHOWN = 40
"""Keys named at most by the error for a key no document has."""

_COLUMNS: "weakref.WeakKeyDictionary[Any, ValueColumns]" = weakref.WeakKeyDictionary()
"""Value columns read from metadata.bin (shards without the column file), kept per shard."""

_TAGS: "weakref.WeakKeyDictionary[Any, tuple[tuple[str, ...] | None, str | None] | None]" = weakref.WeakKeyDictionary()
"""Per shard, the field its ``--shard-by`` rule keeps whole (None for a bucket) and its value
(None when it has no rule), read once from its manifest entry."""

_LAYOUTS: dict[int, tuple[Any, list[Any], int, dict[tuple[str, ...], tuple[str | None, ...] | None]]] = {}
"""Per set of shards (by id, with a weak reference to it, its list of shards and their
number) and field, every shard's ``--shard-by`` value (see :func:`count_by_shards`)."""

_READ_FIELDS: "weakref.WeakKeyDictionary[Any, dict[tuple[str, ...], ValueColumn]]" = weakref.WeakKeyDictionary()
"""Fields the columns leave out (too many values, or objects), once read from metadata.bin."""


# -- results ---------------------------------------------------------------------------------------
@dataclass
class CountByResult:
    """Occurrences of a query (``count``), per value of a field (``by``: value shown as a
    string -> count, most frequent first) and in documents lacking it (``missing``)."""

    count: int
    by: dict[str, int] = field(default_factory=dict)
    missing: int = 0
    estimated: bool | None = None
    """With ``estimate=True``: whether the counts are estimates from a sample (past the work
    budget; see :mod:`infgram.query.estimation`) or exact (False); None when not asked."""
    sample_size: int | None = None
    """Of an estimate: the occurrences drawn."""
    population: int | None = None
    """Of an estimate: the occurrences drawn from (every occurrence of the query's forms)."""
    sample: dict[str, Any] | None = None
    """Of an estimate: the counts seen in the sample (``count``, ``by``, ``missing``)."""
    intervals: dict[str, Any] | None = None
    """Of an estimate: 95% intervals [low, high] of ``count``, of each value of ``by`` and of ``missing``."""

    def to_dict(self) -> dict[str, Any]:
        """The reply of a batch or HTTP request."""
        reply: dict[str, Any] = {"count": self.count, "by": dict(self.by), "missing": self.missing}
        if self.estimated is not None:
            reply["estimated"] = self.estimated
        for name in ("sample_size", "population", "sample", "intervals"):
            if getattr(self, name) is not None:
                reply[name] = getattr(self, name)
        return reply


# -- a shard's columns -------------------------------------------------------------------------------
def _stored(shard: Shard) -> ValueColumns | None:
    """The shard's value columns when it has them without reading metadata."""
    cached = _COLUMNS.get(shard)
    if cached is not None:
        return cached
    files = getattr(shard, "files", None)
    path = files.get("metadata_values") if isinstance(files, dict) else None
    if path is None:
        return None
    entry = getattr(shard, "entry", None)  # the shard's manifest entry: the file's checksum
    file_entry = entry["files"].get("metadata_values") if entry is not None else None
    columns = read_value_columns(path, shard.token_width, shard.num_documents, file_entry)
    _COLUMNS[shard] = columns
    return columns


def _covers(columns: ValueColumns | None, paths: Sequence[tuple[str, ...]]) -> bool:
    """Whether stored columns answer questions on these fields without reading metadata:
    each is a column, or no document of the shard has it (nor fields inside it)."""
    if columns is None:
        return False
    for path in paths:
        if path in columns.fields:
            continue
        if path in columns.skipped or any(key[: len(path)] == path for key in columns.keys):
            return False
    return True


def metadata_cost(shard: Shard, paths: Sequence[tuple[str, ...]]) -> int:
    """A per-shard partial: the work units of knowing these fields' values in the shard
    (0 when its columns hold them)."""
    read = _READ_FIELDS.get(shard, {})
    paths = [path for path in paths if path not in read]
    return 0 if _covers(_stored(shard), paths) else shard.num_documents * METADATA_UNITS_PER_DOCUMENT


def _columns(shard: Shard) -> ValueColumns:
    """The shard's columns: stored, or read from its metadata once (then kept)."""
    columns = _stored(shard)
    if columns is None:
        metadata = (shard.documents.metadata(local) for local in range(shard.num_documents))
        columns = _COLUMNS[shard] = columns_of(metadata, shard.num_documents)
    return columns


def _column(shard: Shard, path: tuple[str, ...]) -> ValueColumn:
    """The values of one field in a shard, from its column, else from its metadata."""
    columns = _columns(shard)
    if path in columns.fields:
        return columns.fields[path]
    if not any(key[: len(path)] == path for key in columns.keys):  # no document of the shard has it
        return ValueColumn([], np.zeros(shard.num_documents, dtype=np.uint8))
    read = _READ_FIELDS.setdefault(shard, {})
    if path not in read:
        values: dict[str, int] = {}
        numbers = np.zeros(shard.num_documents, dtype=np.int64)
        for local in range(shard.num_documents):
            text = lookup(shard.documents.metadata(local), path)
            if text is not None:
                numbers[local] = values.setdefault(text, len(values) + 1)
        read[path] = ValueColumn(list(values), numbers)
    return read[path]


@functools.lru_cache(maxsize=64)
def _rule_path(rule: str) -> tuple[str, ...] | None:
    """The field whose values a ``--shard-by`` rule keeps whole (None: a bucket rule)."""
    parsed = parse_shard_rule(rule)
    return parsed.path if parsed.bucket is None else None


def shard_value(shard: Shard, path: tuple[str, ...]) -> tuple[bool, str | None]:
    """(True, value) when every document of the shard has this value of the field (None:
    every one lacks it), as its ``--shard-by`` entry says; (False, None) when that is not
    known (another index, another field, or a bucket rule)."""
    try:
        tag = _TAGS[shard]
    except KeyError:
        entry = getattr(shard, "entry", None)
        found = getattr(entry, "shard_by", None) if isinstance(entry, ShardEntry) else \
            entry.get("shard_by") if entry is not None else None
        tag = _TAGS[shard] = (_rule_path(found["rule"]), found.get("value")) if isinstance(found, dict) else None
    if tag is None or tag[0] != path:
        return False, None
    return True, tag[1]


def _value_accepted(where: Where, path: tuple[str, ...], value: str | None) -> bool:
    """Whether a document whose field ``path`` is ``value`` (None: lacking) meets the conditions on it."""
    return all(condition.accepts(value) for condition in where.conditions if condition.path == path)


def shard_selected(shard: Shard, where: Where | None) -> bool | None:
    """A per-shard partial: False when no document of the shard can meet the conditions (a
    condition on its ``--shard-by`` field rejects its value), True when every one meets them
    all that way, None when documents must be looked at one by one."""
    if where is None:
        return True
    decided: bool | None = True
    for path in where.paths:
        known, value = shard_value(shard, path)
        if not known:
            decided = None
        elif not _value_accepted(where, path, value):
            return False
    return decided


def _shard_values(corpus: Corpus, path: tuple[str, ...]) -> tuple[str | None, ...] | None:
    """Every shard's value of field ``path`` when all are ``--shard-by`` shards of that field
    and some document has it (None otherwise), worked out once per set of shards."""
    shard_set = corpus.shard_set
    shards = shard_set.shards
    cached = _LAYOUTS.get(id(shard_set))
    # A weak reference (no new one per question), and the shards as they were: another list is worked out again.
    if cached is None or cached[0]() is not shard_set or cached[1] is not shards or cached[2] != len(shards):
        cached = _LAYOUTS[id(shard_set)] = (weakref.ref(shard_set, lambda _, key=id(shard_set): _LAYOUTS.pop(key, None)),
                                            shards, len(shards), {})
    known = cached[3]
    if path not in known:
        values = [shard_value(shard, path) for shard in shards]
        decided = all(found for found, _ in values) and any(value is not None for _, value in values)
        known[path] = tuple(value for _, value in values) if decided else None
    return known[path]


_MAX_REMEMBERED = 1024
"""Filters and fields remembered per set of shards at most (each a list of a few per-shard values)."""


def _shard_selection(corpus: Corpus, where: Where) -> list[bool | None] | None:
    """:func:`shard_selected` of every shard when every field of ``where`` is a ``--shard-by``
    field of every shard (None otherwise), remembered beside :func:`_shard_values` (a filter is
    asked again and again; its conditions are values, so they key the memory)."""
    paths = where.paths
    if any(_shard_values(corpus, path) is None for path in paths):
        return None
    known = _LAYOUTS[id(corpus.shard_set)][3]  # made fresh by _shard_values just now
    key = ("where", where)
    selected = known.get(key)
    if selected is None:
        if len(known) > _MAX_REMEMBERED:  # many different filters (a server's): start again, bounded
            known.clear()
        selected = known[key] = [shard_selected(shard, where) for shard in corpus.shard_set.shards]
    return selected


def count_by_shards(corpus: Corpus, query: Query, by: tuple[str, ...] | None, where: Where | None,
                    matching: Matching) -> CountByResult | int | None:
    """A count by the ``--shard-by`` field of every shard (and conditions only on it) as
    counts per shard: each shard's runs, as a plain count finds them, added up per value. None
    when the shards do not decide it (then the occurrences are read)."""
    if matching.whole_words:
        return None
    values = _shard_values(corpus, by) if by is not None else None
    if by is not None and values is None:
        return None
    shard_set = corpus.shard_set
    selected: list[bool | None] | None = None
    if where is not None:
        selected = _shard_selection(corpus, where)
        if selected is None:
            return None  # decided document by document (or a field no document has: named there)
    if matching.ignore_case or (isinstance(query, str) and not matching.exact_tokens and corpus.tokenizer.text_has_forms):
        searched = corpus.plan(query, matching).searched  # the forms of a string, or its case variants
    else:  # ids, or a byte index: the one encoding, as a plain count searches it
        searched = [corpus.encoder.encode(query)]
    if searched == [b""]:
        return None  # the empty query weighs documents: the general path
    if not searched:
        counts = [0] * len(shard_set)
    elif selected is None:  # every shard, as a plain count asks them
        counts = shard_set.map(shard_count, searched[0])
        for encoded in searched[1:]:
            counts = [a + b for a, b in zip(counts, shard_set.map(shard_count, encoded))]
    else:
        counts = [sum(shard_set.call(number, shard_count, encoded) for encoded in searched) if keep else 0
                  for number, keep in enumerate(selected)]
    if values is None:
        return sum(counts)
    by_value: dict[str, int] = {}
    missing = 0
    for value, number in zip(values, counts):
        if value is None:
            missing += number
        elif number:
            by_value[value] = by_value.get(value, 0) + number
    ordered = sorted(by_value.items(), key=_by_frequency) if len(by_value) > 1 else by_value.items()
    return CountByResult(sum(counts), dict(ordered), missing)


def _by_frequency(item: tuple[str, int]) -> tuple[int, str]:
    """The order of per-value counts: most frequent first, then by value."""
    return -item[1], item[0]


def shard_keys(shard: Shard) -> list[tuple[str, ...]]:
    """A per-shard partial: every field some document of the shard has."""
    return _columns(shard).keys


def _accepted(shard: Shard, where: Where | None, documents: np.ndarray) -> np.ndarray:
    """Which of the shard's documents meet the conditions."""
    keep = np.ones(len(documents), dtype=bool)
    if where is None:
        return keep
    for path in where.paths:
        known, value = shard_value(shard, path)
        if known:  # one value for the whole shard (--shard-by): no column read
            keep &= _value_accepted(where, path, value)
            continue
        column = _column(shard, path)
        keep &= where.accepted(path, column.values)[np.asarray(column.numbers)[documents]]
    return keep


def documents_meeting(shard: Shard, where: Where | None, documents: np.ndarray) -> np.ndarray:
    """A per-shard partial: which of these shard-local documents meet the conditions."""
    return _accepted(shard, where, np.asarray(documents, dtype=np.int64))


def live_documents_meeting(shard: Shard, where: Where | None, documents: np.ndarray) -> np.ndarray:
    """A per-shard partial: which of these shard-local documents are not removed and meet the conditions."""
    documents = np.asarray(documents, dtype=np.int64)
    keep = _accepted(shard, where, documents)
    if not shard.removals.is_empty:
        keep &= ~shard.removals.removed_of(documents)
    return keep


def count_by_shard(shard: Shard, forms: list[bytes], rows: list[tuple[int, int]],
                   words: tuple[WordTest, list[bool]] | None, by: tuple[str, ...] | None,
                   where: Where | None) -> tuple[dict[str, int], int, int]:
    """A per-shard partial: the occurrences in the given rows of each form's run, in live
    documents that meet ``where``, per value of ``by`` (value -> count), in documents
    lacking it, and in all. The empty query (``forms == [b""]``) weighs every live
    document by its length."""
    weights: np.ndarray | None = None  # None: one occurrence per entry of documents
    if forms == [b""]:
        documents = np.arange(shard.num_documents, dtype=np.int64)
        weights = shard.documents.lengths().astype(np.int64)
    else:
        if words is not None:
            positions = whole_word_positions(shard, words[0], forms, words[1], rows)[0]
        else:
            pieces = [shard.positions(lo, hi) for lo, hi in rows if hi > lo]
            positions = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
        # Unsorted: the document starts are few and cached, and a histogram needs no order.
        documents = shard.documents.document_of(positions)
    keep = live_documents_meeting(shard, where, documents)
    if not keep.all():
        documents = documents[keep]
        weights = weights[keep] if weights is not None else None
    total = int(weights.sum()) if weights is not None else len(documents)
    if by is None:
        return {}, 0, total
    known, value = shard_value(shard, by)
    if known:  # every document of the shard has one value (--shard-by)
        return ({value: total} if value is not None and total else {}), (total if value is None else 0), total
    column = _column(shard, by)
    sums = np.bincount(np.asarray(column.numbers)[documents], weights=weights, minlength=len(column.values) + 1)
    sums = sums.astype(np.int64)
    counted = {column.values[number - 1]: int(sums[number]) for number in np.flatnonzero(sums[1:]) + 1}
    return counted, int(sums[0]), total


# -- the questions --------------------------------------------------------------------------------------
def _check_keys(corpus: Corpus, paths: Sequence[tuple[str, ...]], what: str) -> None:
    """A field no document has is an error naming those that exist."""
    keys: set[tuple[str, ...]] = set()
    for shard_keys_found in corpus.shard_set.map(shard_keys):
        keys.update(shard_keys_found)
    for path in paths:
        if path not in keys and not any(key[: len(path)] == path for key in keys):
            names = sorted(field_name(key) for key in keys)
            shown = ", ".join(names[:_MAX_KEYS_SHOWN]) + (f" and {len(names) - _MAX_KEYS_SHOWN} more"
                                                          if len(names) > _MAX_KEYS_SHOWN else "")
            raise QueryError(f"expected {what} to name a metadata field of the index, found {field_name(path)!r}, "
                             f"which no document has; the fields are: {shown or 'none (the documents have no metadata)'}")


def check_where_keys(corpus: Corpus, where: Where | None) -> None:
    """A condition on a field no document of the corpus has is a
    :class:`~infgram.errors.QueryError` naming the fields that exist (as for ``count``)."""
    _check_keys(corpus, where.paths if where else [], "every condition of where")


def _field(by: Any) -> tuple[str, ...] | None:
    if by is None:
        return None
    if not isinstance(by, str) or not by:
        raise QueryError(f"expected by to be a metadata field name such as 'lang' or 'meta.lang', found {by!r:.80}")
    return _path_of(by)


@functools.lru_cache(maxsize=256)
def _path_of(name: str) -> tuple[str, ...]:
    """:func:`~infgram.format.metadata.field_path`, remembered: the same few fields are asked again and again."""
    return field_path(name)


def _plan(corpus: Corpus, query: Query, matching: Matching, budget: int, by: tuple[str, ...] | None,
          where: Where | None, what: str, estimate: bool = False
          ) -> tuple[list[bytes], list[list[tuple[int, int]]] | None, tuple[WordTest, list[bool]] | None]:
    """The forms of a query and every row of their runs, once the work they take (positions
    and metadata read) is known to fit the budget, and charged. Past the budget, with
    ``estimate``, the rows are None (nothing charged): the caller samples them instead."""
    plan = corpus.plan(query, matching)
    searched = plan.searched
    shard_set = corpus.shard_set
    paths = ([by] if by else []) + (where.paths if where else [])
    kept = [keep is not False for keep in shard_set.map(shard_selected, where)]  # a condition may drop whole shards
    needed = sum(cost for cost, keep in zip(shard_set.map(metadata_cost, paths), kept) if keep)
    if searched == [b""]:
        if matching.whole_words:
            raise QueryError("expected a non-empty query with whole_words, found an empty one; pass a word or phrase")
        needed += corpus.num_documents  # one document length each
        rows: list[list[tuple[int, int]]] = [[(0, 0)] for _ in range(len(shard_set))]
    else:
        runs = occurrence_runs(corpus, searched) if searched else np.zeros((len(shard_set), 0, 2), dtype=np.int64)
        rows = [[(lo, hi) if keep else (lo, lo) for lo, hi in shard_runs.tolist()] for shard_runs, keep in zip(runs, kept)]
        needed += sum((hi - lo) * cost for shard_rows, cost in zip(rows, shard_set.locate_costs)
                      for lo, hi in shard_rows)
    fits = needed <= budget
    if not fits and not estimate:
        raise refuse(what, needed, budget)
    if fits:
        charge(needed)
    _check_keys(corpus, [by] if by else [], "by")
    check_where_keys(corpus, where)
    words = plan.words if matching.whole_words else None
    return searched, rows if fits else None, words


def count_by(corpus: Corpus, query: Query, by: Any, where: Any, matching: Matching, budget: int,
             estimate: bool = False) -> CountByResult | int:
    """See :meth:`infgram.Index.count`: a :class:`CountByResult` with ``by`` (or with
    ``estimate``), else the count of the occurrences in documents that meet ``where``. With
    ``estimate``, an answer past the budget is estimated from a sample
    (:func:`estimated_count_by`); under it, it is exact and says so (``estimated`` False)."""
    if not isinstance(estimate, bool):
        raise QueryError(f"expected estimate to be true or false, found {estimate!r:.40}")
    by_path = _field(by)
    conditions = parse_where(where)
    by_shards = count_by_shards(corpus, query, by_path, conditions, matching)
    if by_shards is not None:  # decided per shard (--shard-by): no occurrence read, exact at any frequency
        if not estimate:
            return by_shards
        if isinstance(by_shards, int):
            return CountByResult(by_shards, estimated=False)
        return replace(by_shards, estimated=False)
    searched, rows, words = _plan(corpus, query, matching, budget, by_path, conditions, "this count by metadata",
                                  estimate)
    if rows is None:
        return estimated_count_by(corpus, searched, words, by_path, conditions, budget)
    if not searched:  # no form occurs
        return CountByResult(0, estimated=False if estimate else None) if by_path or estimate else 0
    parts = [corpus.shard_set.call(number, count_by_shard, searched, shard_rows, words, by_path, conditions)
             for number, shard_rows in enumerate(rows)]
    total = sum(part[2] for part in parts)
    if by_path is None and not estimate:
        return total
    return CountByResult(total, _merged([part[0] for part in parts]), sum(part[1] for part in parts),
                         estimated=False if estimate else None)


def sampled_by_shard(shard: Shard, forms: list[bytes], form_numbers: np.ndarray, rows: np.ndarray,
                     words: tuple[WordTest, list[bool]] | None, by: tuple[str, ...] | None,
                     where: Where | None) -> tuple[dict[str, int], int, int]:
    """A per-shard partial of an estimate: of the drawn occurrences (row ``rows[i]`` of the
    run of ``forms[form_numbers[i]]``), those in live documents meeting ``where`` (and whole
    words, with ``words``), per value of ``by``, lacking it, and in all."""
    documents = drawn_occurrences(shard, forms, form_numbers, rows, words)[0]
    documents = documents[documents >= 0]  # removed documents, or not whole words
    documents = documents[_accepted(shard, where, documents)]
    if by is None:
        return {}, 0, len(documents)
    counted, lacking = documents_by_value(shard, by, documents)  # one entry per drawn occurrence
    return counted, lacking, len(documents)


def _numbered_runs(corpus: Corpus, searched: list[bytes]) -> list[tuple[int, int, int, int]]:
    """The non-empty runs of every form in every shard, (shard, form, lo, hi), in the order
    an estimate numbers their occurrences (shard by shard, form by form)."""
    runs = []
    for number in range(len(corpus.shard_set)):
        for form, encoded in enumerate(searched):
            lo, hi = corpus.shard_set.call(number, run_of, encoded)
            if hi > lo:
                runs.append((number, form, lo, hi))
    return runs


def _drawn_rows(runs: list[tuple[int, int, int, int]], drawn: np.ndarray) -> tuple[np.ndarray, ...]:
    """The shard, form and suffix-array row of each drawn occurrence number (in the order drawn)."""
    ends = np.cumsum([hi - lo for _, _, lo, hi in runs])
    which = np.searchsorted(ends, drawn, side="right")  # the run of each drawn occurrence
    firsts = ends - np.array([hi - lo for _, _, lo, hi in runs])
    rows = np.array([lo for _, _, lo, _ in runs], dtype=np.int64)[which] + drawn - firsts[which]
    shards = np.array([number for number, _, _, _ in runs], dtype=np.int64)[which]
    forms = np.array([form for _, form, _, _ in runs], dtype=np.int64)[which]
    return shards, forms, rows


def _metadata_units(corpus: Corpus, by: tuple[str, ...] | None, where: Where | None) -> int:
    """The work units of reading the metadata an estimate looks at (its field and conditions)."""
    return sum(corpus.shard_set.map(metadata_cost, ([by] if by else []) + (where.paths if where else [])))


def estimated_count_by(corpus: Corpus, searched: list[bytes], words: tuple[WordTest, list[bool]] | None,
                       by: tuple[str, ...] | None, where: Where | None, budget: int) -> CountByResult:
    """A count by metadata past the budget, estimated from as many occurrences, drawn
    uniformly with a fixed seed, as the budget affords (see :mod:`infgram.query.estimation`);
    a budget that affords none is a :class:`~infgram.errors.LimitError`."""
    shard_set = corpus.shard_set
    metadata_units = _metadata_units(corpus, by, where)
    runs = _numbered_runs(corpus, searched)
    population = sum(hi - lo for _, _, lo, hi in runs)
    cost = max(shard_set.locate_costs) if len(shard_set) else 1
    size = min(population, max(budget - metadata_units, 0) // cost)
    if size < 1:
        raise refuse("this estimated count by metadata (its metadata and one occurrence at least)",
                     metadata_units + cost, budget)
    charge(metadata_units + size * cost)
    shards, forms, rows = _drawn_rows(runs, np.sort(sample_numbers(population, size)))
    by_parts, missing, kept = [], 0, 0
    for number in np.unique(shards).tolist():
        chosen = shards == number
        counted, lacking, total = shard_set.call(number, sampled_by_shard, searched, forms[chosen], rows[chosen],
                                                 words, by, where)
        by_parts.append(counted)
        missing, kept = missing + lacking, kept + total
    fields = estimated_fields(population, size, kept, _merged(by_parts) if by else {}, missing)
    return CountByResult(fields["count"], _merged([fields["by"]]), fields["missing"], True, size, population,
                         fields["sample"], fields["intervals"])


def documents_by_value(shard: Shard, by: tuple[str, ...], documents: np.ndarray) -> tuple[dict[str, int], int]:
    """A per-shard partial: how many of these shard-local documents have each value of a
    field, and how many lack it."""
    known, value = shard_value(shard, by)
    if known:  # every document of the shard has one value (--shard-by)
        return ({value: len(documents)} if value is not None and len(documents) else {}), \
            (len(documents) if value is None else 0)
    column = _column(shard, by)
    sums = np.bincount(np.asarray(column.numbers)[np.asarray(documents, dtype=np.int64)],
                       minlength=len(column.values) + 1)
    return {column.values[number - 1]: int(sums[number]) for number in np.flatnonzero(sums[1:]) + 1}, int(sums[0])


def _merged(parts: Sequence[dict[str, int]]) -> dict[str, int]:
    """Per-value counts of several shards added up, most frequent first (then by value)."""
    merged: dict[str, int] = {}
    for counted in parts:
        for value, number in counted.items():
            merged[value] = merged.get(value, 0) + number
    return dict(sorted(merged.items(), key=lambda item: (-item[1], item[0])))


SCANNED_TOKENS_PER_UNIT = 64
"""Tokens of a document scanned for an earlier occurrence, per work unit: a vectorised byte
search, far cheaper than one position read."""


def _earlier_match(shard: Shard, forms: list[bytes], form: int, local: int, offset: int,
                   words: tuple[WordTest, list[bool]] | None) -> bool:
    """Whether an occurrence of a form (a whole word, with ``words``) starts in shard-local
    document ``local`` before offset ``offset``, or at it with a form number below ``form``."""
    width = shard.token_width
    longest = max(len(encoded) // width for encoded in forms)
    end = min(offset + longest, shard.documents.length(local))
    window = np.asarray(shard.document_slice(local, 0, end))
    # The bytes as the shard stores them (its byte order), which is how the forms are encoded.
    text = window.astype(shard.tokens.dtype).tobytes() if width > 1 else window.astype(np.uint8).tobytes()
    base = int(shard.documents.starts[local])
    for number, encoded in enumerate(forms):
        last = offset if number < form else offset - 1  # the latest start that comes first
        at = text.find(encoded, 0, (last * width) + len(encoded)) if last >= 0 else -1
        while at >= 0:
            # Token-aligned starts only; each candidate narrows the search to what follows it.
            if at % width == 0 and (words is None or whole_word_mask(
                    shard, words[0], np.array([base + at // width]),
                    np.array([base + at // width + len(encoded) // width]), words[1][number])[0]):
                return True
            at = text.find(encoded, at + 1, (last * width) + len(encoded))
    return False


def sampled_documents_by_shard(shard: Shard, forms: list[bytes], form_numbers: np.ndarray, documents: np.ndarray,
                               offsets: np.ndarray, words: tuple[WordTest, list[bool]] | None,
                               by: tuple[str, ...] | None) -> tuple[np.ndarray, dict[str, int], int]:
    """A per-shard partial of an estimated document count: which of the drawn occurrences
    (of ``forms[form_numbers[i]]`` at ``offsets[i]`` of shard-local document
    ``documents[i]``, each counted and meeting ``where``) are the first of their document,
    and of those documents, how many per value of ``by`` and lacking it."""
    first = np.array([not _earlier_match(shard, forms, int(form), int(local), int(offset), words)
                      for form, local, offset in zip(form_numbers, documents, offsets)], dtype=bool)
    if by is None:
        return first, {}, 0
    counted, lacking = documents_by_value(shard, by, np.asarray(documents, dtype=np.int64)[first])
    return first, counted, lacking


def sampled_whole_documents(shard: Shard, documents: np.ndarray, where: Where | None,
                            by: tuple[str, ...] | None) -> tuple[np.ndarray, dict[str, int], int]:
    """A per-shard partial of an estimated count of every document (the empty query): which
    of these shard-local documents are live and meet ``where``, and of those, how many per
    value of ``by`` and lacking it."""
    documents = np.asarray(documents, dtype=np.int64)
    keep = live_documents_meeting(shard, where, documents)
    counted, lacking = documents_by_value(shard, by, documents[keep]) if by is not None else ({}, 0)
    return keep, counted, lacking


def estimated_documents(corpus: Corpus, searched: list[bytes], words: tuple[WordTest, list[bool]] | None,
                        by: tuple[str, ...] | None, where: Where | None, budget: int, limit: int, offset: int,
                        context: int | None, forms: Any) -> DocumentsResult:
    """The documents holding a query by metadata past the budget, estimated from a sample.

    **What is estimated.** Every document holding the query has exactly one *first*
    occurrence (the lowest offset; at one offset, the lowest form number). Drawing
    occurrences uniformly (seeded, as :func:`estimated_count_by` does), a document counts
    when the drawn occurrence is its first one: a yes/no property of each occurrence, so the
    number of matching documents with a value is N k / n with the Wilson interval of k / n
    (:mod:`infgram.query.estimation`), exactly as a count's, and a document with many
    occurrences is not favoured (only one of them counts). Whether an occurrence is the
    first is decided by scanning its document up to it (``SCANNED_TOKENS_PER_UNIT`` tokens a
    work unit). The empty query, held by every live document, draws document numbers
    instead (one unit each). ``population`` is then the number of occurrences (documents)
    drawn from.

    **The budget.** Half of it (after the metadata's cost) locates the drawn occurrences;
    the seeded draws are then kept in order while their scans fit the rest, so the sample is
    a prefix of the seeded order, still uniform. A budget that affords no draw is a
    :class:`~infgram.errors.LimitError`.

    **The page** lists the documents found in the sample, in the order drawn (a uniform
    sample of the matching documents), from ``offset``; ``seed`` does not apply."""
    shard_set = corpus.shard_set
    metadata_units = _metadata_units(corpus, by, where)
    whole = searched == [b""]
    if whole:
        population, cost = corpus.num_documents, 1
    else:
        runs = _numbered_runs(corpus, searched)
        population = sum(hi - lo for _, _, lo, hi in runs)
        cost = 2 * (max(shard_set.locate_costs) if len(shard_set) else 1)  # half the budget locates
    located = min(population, max(budget - metadata_units, 0) // cost)
    what = "these estimated documents by metadata (its metadata and one draw at least)"
    if located < 1:
        raise refuse(what, metadata_units + cost, budget)
    drawn = sample_numbers(population, located)  # in the seeded order: any prefix is a uniform sample
    if whole:
        size, spent = located, metadata_units + located
        numbers = drawn
        shards = np.searchsorted(shard_set.first_documents, numbers, side="right") - 1
        locals_ = numbers - np.asarray(shard_set.first_documents)[shards]
        counts, starts = np.zeros(size, dtype=bool), np.zeros(size, dtype=np.int64)
        lengths = np.zeros(size, dtype=np.int64)
    else:
        shards, form_numbers, rows = _drawn_rows(runs, drawn)
        locals_, starts = np.full(located, -1, dtype=np.int64), np.zeros(located, dtype=np.int64)
        lengths = np.zeros(located, dtype=np.int64)
        for number in np.unique(shards).tolist():
            chosen = np.flatnonzero(shards == number)
            found, offsets, form_lengths = shard_set.call(number, drawn_occurrences, searched, form_numbers[chosen],
                                                          rows[chosen], words)
            found = np.array(found, dtype=np.int64)  # a copy: a remote shard's reply is read-only
            counted = np.flatnonzero(found >= 0)
            meeting = shard_set.call(number, documents_meeting, where, found[counted])
            found[counted[~meeting]] = -1
            locals_[chosen], starts[chosen], lengths[chosen] = found, offsets, form_lengths
        longest = max(len(encoded) for encoded in searched) // corpus.token_width
        scans = np.where(locals_ >= 0, -(-(starts + longest) // SCANNED_TOKENS_PER_UNIT), 0)
        spent_by = metadata_units + located * cost // 2 + np.cumsum(scans)
        size = int(np.searchsorted(spent_by, budget, side="right"))  # the draws whose scans fit
        if size < 1:
            raise refuse(what, int(spent_by[0]), budget)
        spent = int(spent_by[size - 1])
        counts = np.zeros(size, dtype=bool)
    charge(spent)
    by_parts, missing = [], 0
    for number in np.unique(shards[:size]).tolist():
        chosen = np.flatnonzero(shards[:size] == number)
        if whole:
            firsts, counted_by, lacking = shard_set.call(number, sampled_whole_documents, locals_[chosen], where, by)
            counts[chosen] = firsts
        else:
            live = chosen[locals_[chosen] >= 0]
            firsts, counted_by, lacking = shard_set.call(number, sampled_documents_by_shard, searched,
                                                         form_numbers[live], locals_[live], starts[live], words, by)
            counts[live] = firsts
        by_parts.append(counted_by)
        missing += lacking
    fields = estimated_fields(population, size, int(counts.sum()), _merged(by_parts) if by else {}, missing)
    sampled = np.flatnonzero(counts)[offset:offset + limit].tolist()
    found = [read_document(corpus, int(shard_set.first_documents[shards[i]] + locals_[i]), int(starts[i]),
                           int(lengths[i]), context) for i in sampled]
    return DocumentsResult(fields["count"], found, False, forms, by=_merged([fields["by"]]) if by else None,
                           missing=fields["missing"] if by else None, estimated=True, sample_size=size,
                           population=population, sample=fields["sample"], intervals=fields["intervals"])


def filtered_documents(corpus: Corpus, query: Query, where: Any, limit: int, offset: int, seed: int | None,
                       context: int | None, budget: int, matching: Matching, by: Any = None,
                       estimate: bool = False) -> DocumentsResult:
    """:meth:`infgram.Index.documents` with ``where`` or ``by``: the documents holding the
    query that meet the conditions, counted exactly (every occurrence is read, within the
    budget, else a :class:`~infgram.errors.LimitError`), with ``by`` their number per value
    of a field, the page in index order or, with a seed, in a seeded order of those
    documents. With ``estimate``, past the budget the counts are estimated from a sample
    (:func:`estimated_documents`); under it they are exact and say so (``estimated`` False)."""
    if not isinstance(estimate, bool):
        raise QueryError(f"expected estimate to be true or false, found {estimate!r:.40}")
    limit = check_whole_number("limit", limit, MAX_DOCUMENTS_LIMIT)
    offset = check_whole_number("offset", offset)
    context = check_whole_number("context", context, optional=True)
    seed = check_whole_number("seed", seed, optional=True)
    conditions = parse_where(where)
    by_path = _field(by)
    searched, rows, words = _plan(corpus, query, matching, budget, by_path, conditions,
                                  "these documents by metadata", estimate)
    forms = corpus.plan(query, matching).forms
    if rows is None:
        return estimated_documents(corpus, searched, words, by_path, conditions, budget, limit, offset, context, forms)
    shard_set = corpus.shard_set
    matched, starts, lengths, by_parts, missing = [], [], [], [], 0
    sizes = np.diff(np.append(shard_set.first_documents, shard_set.num_documents))
    removed = shard_set.removed_documents() if searched == [b""] else np.zeros(0, dtype=np.int64)
    for number, shard_rows in enumerate(rows):
        if searched == [b""]:  # every live document holds the empty query
            local = np.setdiff1d(np.arange(int(sizes[number]), dtype=np.int64),
                                 removed - shard_set.first_documents[number])
            first, length = np.zeros(len(local), dtype=np.int64), np.zeros(len(local), dtype=np.int64)
        elif searched:
            local, first, length = shard_set.call(number, first_matches, searched, shard_rows, words)
        else:
            continue
        keep = shard_set.call(number, documents_meeting, conditions, local)
        if by_path is not None:
            counted, lacking = shard_set.call(number, documents_by_value, by_path, local[keep])
            by_parts.append(counted)
            missing += lacking
        matched.append(local[keep] + shard_set.first_documents[number])
        starts.append(first[keep])
        lengths.append(length[keep])
    numbers = np.concatenate(matched) if matched else np.zeros(0, dtype=np.int64)
    starts_all = np.concatenate(starts) if starts else numbers
    lengths_all = np.concatenate(lengths) if lengths else numbers
    page = page_order(seed, len(numbers), offset, limit).tolist()
    found = [read_document(corpus, int(numbers[i]), int(starts_all[i]), int(lengths_all[i]), context) for i in page]
    exactly = False if estimate else None
    if by_path is None:
        return DocumentsResult(len(numbers), found, True, forms, estimated=exactly)
    return DocumentsResult(len(numbers), found, True, forms, by=_merged(by_parts), missing=missing, estimated=exactly)



def filtered_distribution(shard: Shard, encoded: bytes, where: Where | None) -> tuple[int, np.ndarray, np.ndarray]:
    """A per-shard partial: the next-token distribution after the occurrences of a prompt
    in live documents that meet ``where`` (a :data:`~infgram.query.partials.Distribution`).
    Each occurrence is read: the token after it is at its position plus the prompt's length
    (a separator when it ends its document)."""
    if shard_selected(shard, where) is False:  # a condition on its --shard-by value drops the shard
        return 0, np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    lo, hi = run_of(shard, encoded)
    positions = shard.positions(lo, hi).astype(np.int64) if hi > lo else np.zeros(0, dtype=np.int64)
    documents = shard.documents.document_of(positions)
    keep = live_documents_meeting(shard, where, documents)
    following = np.asarray(shard.tokens[positions[keep] + len(encoded) // shard.token_width]).astype(np.uint64)
    values, counts = np.unique(following, return_counts=True)
    return len(following), values, counts.astype(np.int64)


def filtered_next_tokens(corpus: Corpus, prompt: Query, top_k: int | None, exact_tokens: bool, where: Any,
                         budget: int) -> NextTokensResult:
    """:meth:`infgram.Index.next_tokens` with ``where``: the distribution after the
    occurrences in documents meeting the conditions. It reads every occurrence (a plain
    distribution reads none), within the default work budget; past it a
    :class:`~infgram.errors.LimitError`."""
    conditions = parse_where(where)
    plan = corpus.plan(prompt, Matching(exact_tokens=exact_tokens))
    searched, forms = plan.searched, plan.forms
    shard_set = corpus.shard_set
    paths = conditions.paths if conditions else []
    kept = [keep is not False for keep in shard_set.map(shard_selected, conditions)]  # shards a condition drops
    needed = sum(cost for cost, keep in zip(shard_set.map(metadata_cost, paths), kept) if keep) + sum(
        (hi - lo) * cost for encoded in searched
        for (lo, hi), cost, keep in zip(shard_set.map(run_of, encoded), shard_set.locate_costs, kept) if keep)
    if needed > budget:
        raise LimitError(f"expected this next-token distribution filtered by metadata to fit the work budget of "
                         f"{budget:,} units (occurrences read), found it needs {needed:,}; lengthen the prompt (a "
                         "longer one occurs less often), or count with where and a larger max_work",
                         "max_work", budget, needed)
    charge(needed)
    _check_keys(corpus, paths, "every condition of where")
    parts = [part for encoded in searched for part in shard_set.map(filtered_distribution, encoded, conditions)]
    distribution = merge_distributions(parts)
    return NextTokensResult(*corpus.ranked_tokens(distribution, top_k), forms=forms)


# -- what the metadata holds --------------------------------------------------------------------------------
def shard_statistics(shard: Shard) -> tuple[dict[tuple[str, ...], dict[str, list[int]]], dict[tuple[str, ...], str],
                                              list[int]]:
    """A per-shard partial: per field, per value, [live documents, their tokens]; the fields
    left out of the columns (with why); and [live documents, tokens] of the shard."""
    columns = _columns(shard)
    live = np.ones(shard.num_documents, dtype=bool)
    if not shard.removals.is_empty:
        live &= ~shard.removals.removed_of(np.arange(shard.num_documents, dtype=np.int64))
    lengths = np.where(live, shard.documents.lengths(), 0).astype(np.int64)
    fields: dict[tuple[str, ...], dict[str, list[int]]] = {}
    for path, column in columns.fields.items():
        numbers = np.asarray(column.numbers).astype(np.int64)
        documents = np.bincount(numbers, weights=live, minlength=len(column.values) + 1).astype(np.int64)
        tokens = np.bincount(numbers, weights=lengths, minlength=len(column.values) + 1).astype(np.int64)
        fields[path] = {value: [int(documents[k]), int(tokens[k])] for k, value in enumerate(column.values, start=1)
                        if documents[k]}
    return fields, dict(columns.skipped), [int(live.sum()), int(lengths.sum())]


def metadata_statistics(corpus: Corpus, top: int | None = 20) -> dict[str, Any]:
    """The metadata fields of an index: for each, the live documents that have it and their
    tokens, its number of distinct values, and its ``top`` most frequent values (by
    documents; None: all) with their documents and tokens. It reads every shard's columns
    (or, without them, every document's metadata) and is not bounded by a work budget.

    >>> import tempfile, pathlib, infgram
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = infgram.build_from_documents([{"text": "abc", "lang": "en"}, {"text": "de", "lang": "de"}, "x"],
    ...                                  folder / "i", progress=False)
    >>> stats = metadata_statistics(infgram.Index.open(folder / "i"))
    >>> stats["num_documents"], stats["fields"][0]["field"], stats["fields"][0]["values"]
    (3, 'lang', [{'value': 'en', 'num_documents': 1, 'num_tokens': 3}, {'value': 'de', 'num_documents': 1, 'num_tokens': 2}])
    """
    top = check_whole_number("top", top, optional=True)
    merged: dict[tuple[str, ...], dict[str, list[int]]] = {}
    skipped: dict[tuple[str, ...], str] = {}
    num_documents = num_tokens = 0
    for fields, left_out, (documents, tokens) in corpus.shard_set.map(shard_statistics):
        num_documents += documents
        num_tokens += tokens
        skipped.update(left_out)
        for path, values in fields.items():
            into = merged.setdefault(path, {})
            for value, (value_documents, value_tokens) in values.items():
                counts = into.setdefault(value, [0, 0])
                counts[0] += value_documents
                counts[1] += value_tokens
    described = []
    for path in sorted(set(merged) | set(skipped)):
        if path in skipped:  # some shard holds too many values to keep: counted nowhere
            described.append({"field": field_name(path), "num_values": None, "note": skipped[path]})
            continue
        values = sorted(merged[path].items(), key=lambda item: (-item[1][0], -item[1][1], item[0]))
        with_field = sum(documents for documents, _ in merged[path].values())
        tokens_with = sum(tokens for _, tokens in merged[path].values())
        described.append({
            "field": field_name(path), "num_documents": with_field, "num_tokens": tokens_with,
            "num_values": len(values),
            "missing": {"num_documents": num_documents - with_field, "num_tokens": num_tokens - tokens_with},
            "values": [{"value": value, "num_documents": documents, "num_tokens": tokens}
                       for value, (documents, tokens) in (values if top is None else values[:top])]})
    return {"num_documents": num_documents, "num_tokens": num_tokens, "fields": described}


__all__ = ["CountByResult", "count_by", "filtered_documents", "filtered_next_tokens", "metadata_statistics", "METADATA_UNITS_PER_DOCUMENT"]
