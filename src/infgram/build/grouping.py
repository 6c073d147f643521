"""``build --shard-by``: each value's documents in shards of their own, in two passes.

A count per value of a field is, on an ordinary index, one position read per occurrence
(:mod:`infgram.query.metadata`). When the user plans for one field, the build can put the
documents of each value in their own shards: a count per value is then a count per shard,
which costs what a plain count costs, at any frequency, and a condition on the field selects
whole shards.

**Two passes, bounded memory.** The corpus need not fit in memory to be grouped. The first
pass reads the records in input order, accounts for the blank lines and problems at once
(the build's report, as ever), works out each document's value under the rule
(:class:`~infgram.format.metadata.ShardRule`) and appends the document to a spill file of
its value, in a temporary directory inside the index (:data:`SPILL_NAME`). Documents are
buffered per value and written out when the buffers reach :data:`SPILL_BUFFER_BYTES`, so at
most that much is held, whatever the number of values (at most
:data:`~infgram.format.metadata.MAX_SHARD_VALUES`; then the build stops and suggests a
bucket). The second pass reads the values in sorted order (by value string, code point by
code point, so the same on every machine; the documents lacking the field last) and each
value's documents in input order, and feeds them to the ordinary builder, cutting a shard
at every change of value. Documents are numbered in that order; the report's
``document_numbers`` maps input lines to them.

**Resuming.** The spill directory is a leftover a rerun discards; the rerun reads the inputs
again (the first pass) and reuses every shard already written whose tokens and metadata are
the same (``pipeline.write_or_reuse_shard``), so it writes identical bytes.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..errors import BuildError, IndexFormatError
from ..format import HEADER_BYTES, KIND_SPILL, FileHeader
from ..format.metadata import MAX_SHARD_VALUES, ShardRule, field_name
from .inputs import InputProblem, SourceDocument
from .shard_writer import remove_path

SPILL_NAME = "shard-by-groups.partial"
"""The temporary directory of the first pass, inside the index directory (a leftover that a
rerun discards)."""
SPILL_BUFFER_BYTES = 16 << 20
"""Documents (text or token ids) buffered across all values before they are written out."""
SPILL_HEADER = FileHeader(KIND_SPILL, token_width=0, pointer_width=0, num_items=0, item_width=0, complete=False).pack()
"""What every spill file starts with (the house header: magic, format version, kind), before
its pickled batches of documents."""
SHARD_VALUE_PROBLEM = "unreadable_shard_value"
"""The problem of a document whose field a bucket rule cannot read (``year(date)`` of ``"soon"``)."""


class ValueGroups:
    """The first pass: documents appended to one spill file per value (see the module).

    >>> import tempfile
    >>> from infgram.format.metadata import parse_shard_rule
    >>> groups = ValueGroups(Path(tempfile.mkdtemp()), parse_shard_rule("lang"))
    >>> records = [SourceDocument("a", {"lang": "fr"}), SourceDocument("b", {}), SourceDocument("c", {"lang": "de"}),
    ...            SourceDocument("d", {"lang": "fr"})]
    >>> list(groups.route(records))
    []
    >>> [(value, [d.text for d in groups.documents(value)]) for value in groups.values()]
    [('de', ['c']), ('fr', ['a', 'd']), (None, ['b'])]
    >>> groups.close()
    """

    def __init__(self, out: Path, rule: ShardRule):
        self.rule = rule
        self.directory = out / SPILL_NAME
        remove_path(self.directory)
        self.directory.mkdir()
        self.files: dict[str | None, Path] = {}
        self.pending: dict[str | None, list[SourceDocument]] = {}
        self.pending_bytes = 0

    def route(self, records: Iterable[Any]) -> Iterator[Any]:
        """Spill every document by its value; yield the other records (blank lines,
        problems, and documents whose value a bucket cannot read, as problems) in input order."""
        for record in records:
            if not isinstance(record, SourceDocument):
                yield record
                continue
            try:
                value = self.rule.value_of(record.metadata)
            except ValueError as error:
                yield InputProblem(record.source, record.line, SHARD_VALUE_PROBLEM,
                                   f"{error}; fix the record, or shard by another rule")
                continue
            if value not in self.files:
                if len(self.files) - (None in self.files) >= MAX_SHARD_VALUES and value is not None:
                    raise BuildError(
                        f"expected at most {MAX_SHARD_VALUES:,} distinct values of --shard-by {self.rule.text}, found "
                        f"more (the {MAX_SHARD_VALUES + 1:,}th is {value[:80]!r}, at {record.source} line "
                        f"{record.line}); shard by a bucket of the field instead: year({field_name(self.rule.path)}), "
                        f"month({field_name(self.rule.path)}) or bucket({field_name(self.rule.path)}, WIDTH)")
                self.files[value] = self.directory / f"{len(self.files):05d}.pickle"
                self.files[value].write_bytes(SPILL_HEADER)
            self.pending.setdefault(value, []).append(record)
            self.pending_bytes += len(record.text) if record.text is not None else record.ids.nbytes
            if self.pending_bytes >= SPILL_BUFFER_BYTES:
                self.flush()
        self.flush()

    def flush(self) -> None:
        """Append the buffered documents to their values' spill files."""
        for value, documents in self.pending.items():
            with open(self.files[value], "ab") as sink:
                pickle.dump(documents, sink, protocol=pickle.HIGHEST_PROTOCOL)
        self.pending, self.pending_bytes = {}, 0

    def values(self) -> list[str | None]:
        """The values met, in shard order: sorted by their strings, None (lacking the field) last."""
        return sorted((value for value in self.files if value is not None)) + ([None] if None in self.files else [])

    def documents(self, value: str | None) -> Iterator[SourceDocument]:
        """The documents of one value, in input order (one spilled batch in memory at a time)."""
        with open(self.files[value], "rb") as source:
            if source.read(HEADER_BYTES) != SPILL_HEADER:
                raise IndexFormatError(
                    f"expected {self.files[value]} to be a spill file of this build (its header), found other "
                    f"bytes; remove the folder {self.directory} and run the build again")
            while True:
                try:
                    batch = pickle.load(source)  # our own file, written by flush() in this build
                except EOFError:
                    return
                yield from batch

    def close(self) -> None:
        """Remove the spill files."""
        remove_path(self.directory)


class DocumentNumbers:
    """The report's map from input lines to document numbers on a ``--shard-by`` index: runs
    ``[source, first line, number of lines, first document]``, each a run of consecutive
    input lines of one file whose documents are numbered consecutively.

    >>> numbers = DocumentNumbers()
    >>> for source, line, document in [("a", 1, 0), ("a", 2, 1), ("a", 4, 2), ("b", 1, 3)]:
    ...     numbers.add(source, line, document)
    >>> numbers.runs
    [['a', 1, 2, 0], ['a', 4, 1, 2], ['b', 1, 1, 3]]
    """

    def __init__(self) -> None:
        self.runs: list[list[Any]] = []

    def add(self, source: str, line: int, document: int) -> None:
        last = self.runs[-1] if self.runs else None
        if last is not None and last[0] == source and last[1] + last[2] == line and last[3] + last[2] == document:
            last[2] += 1
        else:
            self.runs.append([source, line, 1, document])


def check_field_present(groups: ValueGroups) -> None:
    """A rule whose field no document has would make one shard of everything: an error."""
    if groups.files and list(groups.files) == [None]:
        raise BuildError(f"expected some documents to have the field of --shard-by {groups.rule.text} "
                         f"({field_name(groups.rule.path)}), found none that has it; check the field's name (nested "
                         "fields as meta.lang), or build without --shard-by (an add to a --shard-by index needs "
                         "some new documents with the field: add these together with others that have it)")
