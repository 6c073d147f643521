"""The index kinds and what each can do: one registry, asked instead of comparing kind names.

Each kind declares here its capabilities (which tokenizers it holds, whether documents can be
removed from it, its shards compacted, documents added, whether infgram writes it at all) and
the section of the manifest that holds its own settings. The code of a kind lives in the
layers above and is attached to its record when that layer is imported:

- its **reader** and the **operations** it answers, by :mod:`infgram.shards`;
- its **writer**, by :mod:`infgram.build.pipeline`, and its **planner** (the shard size, in
  positions, that a memory budget holds), by :mod:`infgram.build.plan`.

So the file format knows every kind, and a caller asks ``index_kind(name).supports_removal``
or ``index_kind(name).writer`` rather than ``name == "fm"``. Adding a kind is a record here,
a reader in ``shards`` and, if infgram writes it, a writer in ``build``.

>>> index_kind("fm").supports_removal, index_kind("sa").supports_removal, index_kind("sa").tokenizers
(False, True, None)
>>> index_kind("tree")
Traceback (most recent call last):
...
infgram.errors.IndexFormatError: unknown index kind 'tree', expected one of sa, fm, infini-gram
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import IndexFormatError, UnsupportedOperationError

OFFICIAL_KIND = "infini-gram"
"""The kind of an official infini-gram index, opened in place (see :mod:`infgram.shards.official`)."""


@dataclass
class IndexKind:
    """One index kind: its name in manifests, its capabilities and (attached by the layers
    that define them, see the module) its reader, writer and planner."""

    name: str
    title: str
    """The kind in a sentence: "an FM-index"."""
    written: bool
    """Whether infgram builds indexes of this kind (and writes their manifests)."""
    supports_addition: bool
    supports_removal: bool
    supports_compaction: bool
    instead: str
    """What to do instead of a change the kind does not support."""
    tokenizers: tuple[str, ...] | None = None
    """The tokenizer kinds its indexes may hold (None: any)."""
    settings_section: str | None = None
    """The manifest key of the kind's own settings (``"fm"``: the sampling rates)."""
    reader: Callable[..., Any] | None = None
    """Opens one shard: ``reader(directory, entry, token_width, settings)``."""
    operations: frozenset[str] = field(default_factory=frozenset)
    """The query operations its shards answer."""
    writer: Any = None
    """The :class:`~infgram.build.shard_writer.ShardWriter` class that builds its shards."""
    planner: Callable[[int, int], int] | None = None
    """The shard size (positions) that a memory budget holds: ``planner(memory_bytes, token_width)``."""

    def supports(self, action: str) -> bool:
        """Whether the change ``action`` (``add``, ``remove``, ``compact``) applies to this kind.

        >>> index_kind("fm").supports("add"), index_kind("fm").supports("compact")
        (True, False)
        """
        return {"add": self.supports_addition, "remove": self.supports_removal,
                "compact": self.supports_compaction}.get(action, False)

    def refuse(self, action: str, directory: Path | str) -> None:
        """Raise :class:`~infgram.errors.UnsupportedOperationError` when ``action`` does not
        apply to this kind: the one message of every refused change.

        >>> index_kind("fm").refuse("remove", "idx")
        Traceback (most recent call last):
        ...
        infgram.errors.UnsupportedOperationError: idx is an FM-index, which cannot remove: FM-indexes keep no ...
        """
        if not self.supports(action):
            raise UnsupportedOperationError(f"{directory} is {self.title}, which cannot {action}: {self.instead}")


_KINDS: dict[str, IndexKind] = {
    "sa": IndexKind(
        "sa", "a suffix-array index", written=True, supports_addition=True, supports_removal=True,
        supports_compaction=True, instead=""),
    "fm": IndexKind(
        "fm", "an FM-index", written=True, supports_addition=True, supports_removal=False, supports_compaction=False,
        instead="FM-indexes keep no removal lists, so documents are removed by rebuilding it without them "
                "(`infgram build --kind fm` with the inputs filtered) and its shards are merged by building it "
                "again (`--overwrite` with a larger --memory); or build a suffix-array index (--kind sa), which "
                "supports remove and compact",
        tokenizers=("bytes",), settings_section="fm"),
    OFFICIAL_KIND: IndexKind(
        OFFICIAL_KIND, "an official infini-gram index", written=False, supports_addition=False,
        supports_removal=False, supports_compaction=False,
        instead="infgram opens official indexes read-only; build an infgram index of the corpus (or `infgram "
                "export` one) to change it",
        settings_section="official"),
}

INDEX_KINDS = tuple(_KINDS)
"""The names of every index kind (``"sa"``, ``"fm"``, ``"infini-gram"``)."""


def index_kind(name: str) -> IndexKind:
    """The record of the index kind ``name``; raises :class:`~infgram.errors.IndexFormatError`
    for an unknown one."""
    try:
        return _KINDS[name]
    except (KeyError, TypeError):
        raise IndexFormatError(f"unknown index kind {name!r:.40}, expected one of {', '.join(INDEX_KINDS)}") from None


def written_kinds() -> tuple[str, ...]:
    """The kinds infgram builds.

    >>> written_kinds()
    ('sa', 'fm')
    """
    return tuple(name for name, kind in _KINDS.items() if kind.written)


def register_reader(name: str, reader: Callable[..., Any], operations: Any) -> None:
    """Attach a kind's shard reader and its operations (:mod:`infgram.shards` does, for each kind)."""
    kind = index_kind(name)
    kind.reader, kind.operations = reader, frozenset(operations)


def register_writer(name: str, writer: Any) -> None:
    """Attach a kind's shard writer (:mod:`infgram.build.pipeline` does, for each kind)."""
    kind = index_kind(name)
    if not kind.written:
        raise IndexFormatError(f"internal error: infgram does not write {kind.title}")
    kind.writer = writer


def register_planner(name: str, planner: Callable[[int, int], int]) -> None:
    """Attach a kind's planner (:mod:`infgram.build.plan` does, for each kind it writes)."""
    index_kind(name).planner = planner


__all__ = ["OFFICIAL_KIND", "IndexKind", "INDEX_KINDS", "index_kind", "written_kinds", "register_reader",
           "register_writer", "register_planner"]
