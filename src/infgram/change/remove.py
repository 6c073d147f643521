"""``infgram remove``: take documents down without rebuilding.

The documents are chosen by number, from a file of numbers, or by metadata (``--where
KEY=VALUE``, ``KEY!=VALUE``, ``KEY in A,B``, ranges such as ``KEY>=1990``; nested keys with
dots, every condition must hold; a value matches a string field equal to it, or a number
or boolean whose JSON text is it: the syntax of queries' ``where``, see
:mod:`infgram.format.metadata`). For each shard holding
some, the shard's list of removed documents grows, and one pass over its suffix array
finds the rows of their tokens (see :mod:`infgram.shards.removals` for how queries leave
them out, and why rows rather than a second index). Nothing is re-sorted; the shard's
files are untouched; the lists are new files of the next generation.

Document numbers are stable: a removed number stays a gap, and ``document(n)`` of it
raises :class:`~infgram.errors.DocumentRemovedError`. Removing a removed document again
changes nothing.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from tqdm.auto import tqdm

from ..errors import QueryError, shown
from ..format import KIND_REMOVED_DOCUMENTS, KIND_REMOVED_ROWS, AtomicFileWriter, FileHeader, ShardEntry
from ..format.metadata import Where, field_name, parse_where
from ..shards import open_shard
from ..shards.sa import SAShard
from .add import ChangeReport
from .generations import changing, commit, free_superseded, generation_directory

_SCAN_ROWS = 1 << 23
"""Suffix-array rows read at a time when looking for the rows of removed documents."""


def read_document_numbers(path: str | Path) -> list[int]:
    """Document numbers from a file: one a line; blank lines and ``#`` comments are skipped."""
    numbers = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise QueryError(f"cannot read the document numbers in {shown(path)} ({error}); pass a UTF-8 text file "
                         "with one number a line") from None
    for line_number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            numbers.append(int(text))
        except ValueError:
            raise QueryError(f"expected a document number on line {line_number} of {shown(path)}, found "
                             f"{text!r:.80}; write one whole number a line") from None
    return numbers


_MAX_KEYS_SHOWN = 40
"""Metadata keys named at most when ``--where`` matches nothing."""


def metadata_keys(metadata: Any, prefix: str = "") -> list[str]:
    """Every key of a document's metadata that ``--where`` can name, nested ones with dots.

    >>> metadata_keys({"title": "Grammar", "meta": {"url": "u", "lang": "en"}})
    ['title', 'meta.url', 'meta.lang']
    """
    if not isinstance(metadata, dict):
        return []
    keys = []
    for key, value in metadata.items():
        if isinstance(value, dict) and value:
            keys += metadata_keys(value, f"{prefix}{key}.")
        else:
            keys.append(f"{prefix}{key}")
    return keys


def _nothing_matched(where: list[str], conditions: Where, keys: set[str]) -> str:
    """Why ``--where`` chose nothing: the keys that exist, and which condition names none of them."""
    unknown = [field_name(path) for path in conditions.paths if ".".join(path) not in keys]
    found = ", ".join(sorted(keys)) if keys else "none (the documents have no metadata)"
    reason = (f"no document has the key {unknown[0]!r}" if unknown
              else "the keys exist, but no document has all the values")
    return (f"expected --where {' '.join(where)} to match documents, found none: {reason}; the metadata keys are: "
            f"{found}. Check the spelling, or pass --allow-none (allow_none=True) when matching nothing is fine")


def _selected(shards: list[Any], num_documents: int, documents: Iterable[int] | None, documents_file: str | Path | None,
              where: list[str] | None, progress: bool, allow_none: bool = False) -> np.ndarray:
    """The global numbers chosen for removal, sorted and each once."""
    chosen: list[int] = []
    if documents is not None:
        for number in documents:
            if not isinstance(number, (int, np.integer)) or isinstance(number, bool):
                raise QueryError(f"expected document numbers, found {number!r:.80}")
            chosen.append(int(number))
    if documents_file is not None:
        chosen += read_document_numbers(documents_file)
    bad = [number for number in chosen if not 0 <= number < num_documents]
    if bad:
        raise QueryError(f"expected document numbers from 0 to {num_documents - 1}, found {bad[0]}; "
                         "`infgram info` shows how many documents the index has")
    if where:
        conditions = parse_where(list(where))
        assert conditions is not None
        keys: set[str] = set()
        matched = 0
        with tqdm(total=num_documents, desc="matching metadata", unit="doc", disable=not progress) as bar:
            first = 0
            for shard in shards:
                for local in range(shard.num_documents):
                    metadata = shard.documents.metadata(local)
                    if conditions.matches(metadata):  # removed ones too: the report counts them as such
                        matched += 1
                        chosen.append(first + local)
                    elif not matched and len(keys) < _MAX_KEYS_SHOWN:
                        keys.update(metadata_keys(metadata))
                bar.update(shard.num_documents)
                first += shard.num_documents
        if not matched and not allow_none:
            raise QueryError(_nothing_matched(where, conditions, keys))
    if documents is None and documents_file is None and not where:
        raise QueryError("expected documents to remove: pass --documents N,M, --documents-file FILE or "
                         "--where KEY=VALUE")
    return np.unique(np.array(chosen, dtype=np.int64))


def removed_rows(shard: SAShard, documents: np.ndarray, bar: tqdm) -> np.ndarray:
    """The sorted suffix-array rows whose positions fall in the given documents (shard-local
    numbers, their separators included): one pass over the shard's suffix array."""
    starts = shard.documents.starts
    inside = np.zeros(shard.num_positions, dtype=bool)
    for local in documents.tolist():
        inside[starts[local] : starts[local + 1]] = True
    found = []
    for lo in range(0, shard.num_positions, _SCAN_ROWS):
        hi = min(lo + _SCAN_ROWS, shard.num_positions)
        found.append(np.flatnonzero(inside[shard.positions(lo, hi)]) + lo)
        bar.update(hi - lo)
    return np.concatenate(found).astype(np.int64) if found else np.zeros(0, dtype=np.int64)


def _merge(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Two sorted arrays with no value in common, merged: a stable sort (timsort) of their
    concatenation, linear on two sorted runs (np.union1d hashes, 40 times slower here).

    >>> _merge(np.array([1, 5, 9]), np.array([2, 3, 10])).tolist()
    [1, 2, 3, 5, 9, 10]
    """
    merged = np.concatenate([first.astype(np.int64), second.astype(np.int64)])
    merged.sort(kind="stable")
    return merged


def _write_array(path: Path, kind: bytes, token_width: int, values: np.ndarray) -> dict[str, Any]:
    writer = AtomicFileWriter(path, FileHeader(kind, token_width, 0, len(values), 8))
    try:
        writer.write(np.ascontiguousarray(values, dtype="<u8"))
        return writer.commit()
    except BaseException:
        writer.abort()
        raise


def write_removals(directory: Path, target: str, number: int, entry: ShardEntry, token_width: int,
                   documents: np.ndarray, rows: np.ndarray | None, num_tokens: int) -> ShardEntry:
    """Write a shard's removal lists into ``target`` (a generation directory); returns the
    shard's manifest entry naming them."""
    folder = Path(directory) / target
    folder.mkdir(exist_ok=True)
    files = {key: value for key, value in entry.files.items() if key not in ("removed_documents", "removed_rows")}
    name = f"removed-{number:05d}"
    committed = _write_array(folder / f"{name}-documents.bin", KIND_REMOVED_DOCUMENTS, token_width, documents)
    files["removed_documents"] = {"path": f"{target}/{name}-documents.bin", **committed}
    if rows is not None and len(rows):
        committed = _write_array(folder / f"{name}-rows.bin", KIND_REMOVED_ROWS, token_width, rows)
        files["removed_rows"] = {"path": f"{target}/{name}-rows.bin", **committed}
    return dataclasses.replace(entry, files=files, removed_documents=len(documents), removed_tokens=num_tokens)


def remove(directory: str | Path, *, documents: Iterable[int] | None = None, documents_file: str | Path | None = None,
           where: list[str] | None = None, progress: bool = True, allow_none: bool = False) -> ChangeReport:
    """Take documents down from the index in ``directory``: by global number, from a file of
    numbers, or by metadata conditions (``["source=forum.example"]``); see the module.
    Conditions that match no document (a misspelled key, say) are an error naming the
    metadata keys that exist, unless ``allow_none``: then the index is left unchanged.

    >>> import tempfile, pathlib, infgram
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = infgram.build_from_documents([{"text": "a rose", "source": "x"}, "a rose was red"],
    ...                                  folder / "index", progress=False)
    >>> remove(folder / "index", where=["source=x"], progress=False).num_documents
    1
    >>> index = infgram.Index.open(folder / "index")
    >>> index.count("rose"), index.documents("rose").num_documents
    (1, 1)
    """
    start = time.perf_counter()
    directory = Path(directory)
    with changing(directory, "remove") as (manifest, generation):
        # changing() refused the kinds without removal lists (see infgram.format.kinds)
        token_width = int(manifest.token_width)
        shards = [open_shard(manifest.index_kind, directory, entry, token_width) for entry in manifest.shards]
        num_documents = sum(shard.num_documents for shard in shards)
        chosen = _selected(shards, num_documents, documents, documents_file, where, progress, allow_none)
        firsts = np.cumsum([0] + [shard.num_documents for shard in shards])
        target = generation_directory(generation + 1)
        entries, newly, tokens = [], 0, 0
        affected = []
        for number, shard in enumerate(shards):
            local = chosen[(chosen >= firsts[number]) & (chosen < firsts[number + 1])] - firsts[number]
            new = local[~shard.removals.removed_of(local)]
            affected.append(new)
            newly += len(new)
        if not newly:
            return ChangeReport("remove", str(directory), generation, False,
                                details={"note": f"the {len(chosen):,} documents chosen were removed already"
                                         if len(chosen) else "no document matched"})
        total_rows = sum(shard.num_positions for shard, new in zip(shards, affected) if len(new))
        with tqdm(total=total_rows, desc="finding the rows of removed documents", unit="row", unit_scale=True,
                  disable=not progress) as bar:
            for number, (shard, new, entry) in enumerate(zip(shards, affected, manifest.shards)):
                if not len(new):
                    entries.append(entry)
                    continue
                lengths = shard.documents.lengths()
                new_tokens = int(lengths[new].sum())
                tokens += new_tokens
                rows = removed_rows(shard, new, bar)
                if shard.removals.rows is not None:
                    rows = _merge(np.asarray(shard.removals.rows), rows)
                all_documents = _merge(np.asarray(shard.removals.documents, dtype=np.int64), new)
                entries.append(write_removals(directory, target, number, entry, token_width, all_documents, rows,
                                              shard.removals.num_tokens + new_tokens))
        del shards  # the memory maps of the old generation
        committed = commit(directory, manifest, entries, {"action": "remove", "num_documents": newly,
                                                          "num_tokens": tokens})
        freed = free_superseded(directory, committed)  # the removal lists it replaced, when no reader holds them
    return ChangeReport("remove", str(directory), generation + 1, True, newly, tokens,
                        {"already_removed": len(chosen) - newly, "freed_bytes": freed}, time.perf_counter() - start)
