"""The manifest of an index, typed: read, checked, migrated and written here and nowhere else.

``manifest.json`` says what an index is (see :mod:`infgram.format` for the files it names).
In memory it is a :class:`Manifest`, its shards :class:`ShardEntry` records: typed fields for
what infgram reads, and ``extra`` for keys this version does not know (kept, and written back
as they were, so an index written by a newer infgram loses nothing when an older one changes
it). :func:`infgram.format.write_manifest` writes one. Both also read like the dictionaries they were (``manifest["shards"]``,
``manifest.get("build")``), for code written against the JSON; new code uses the fields.

The JSON written is the same, key for key and byte for byte, as the JSON read: a field that
was absent stays absent (``generation`` of a fresh build, ``num_removed_tokens`` of a shard
nothing was removed from).

Migration happens once, on reading (:func:`migrate`): version 1 named the suffix-array kind
``"suffix_array"``; a ``build`` entry may still hold the plan resolved on the machine that
built it (:data:`PLAN_KEYS`), which is dropped. The next change writes the migrated manifest.

>>> manifest = Manifest.from_json({"format": "infgram-index", "format_version": 1, "index_kind": "suffix_array",
...                                "token_width": 1, "num_documents": 1, "num_tokens": 3, "shards": [
...                                    {"name": "shard-00000", "num_documents": 1, "num_tokens": 3,
...                                     "num_positions": 4, "first_document": 0, "files": {}}]})
>>> manifest.index_kind, manifest.format_version, manifest.shards[0].num_positions, manifest["token_width"]
('sa', 2, 4, 1)
>>> manifest.to_json()["shards"][0]["name"]
'shard-00000'
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ..errors import IncompleteIndexError, IndexFormatError
from .kinds import INDEX_KINDS, index_kind

MANIFEST_NAME = "manifest.json"
BUILD_STATE_NAME = "build-state.json"
MANIFEST_FORMAT = "infgram-index"
MANIFEST_VERSION = 2
"""Version 2 names the suffix-array kind ``"sa"`` (version 1 wrote ``"suffix_array"``); the
files of both are the same, so a version-1 manifest is read as version 2 (see
:func:`read_manifest`)."""
MANIFEST_NORMALIZED_VERSION = 3
"""Version 3 is version 2 with a tokenizer entry that may name a ``"normalize"`` form (see
:mod:`infgram.normalize`): written only by a build with ``--normalize``, so that an older
infgram refuses such an index instead of searching it without normalizing queries."""

PLAN_KEYS = ("shard_positions", "memory_budget")
"""Keys of a build's fingerprint (kept in ``build-state.json`` while it runs, so that a resumed
build finds the same shards) that hold the shard plan as resolved on the machine: the shard
size in positions and the memory budget, which by default is a share of the machine's memory.
The manifest's ``build`` entry never holds them: it records the options the user gave
(``shard_tokens``, ``memory_bytes``), and the shards record what was built."""


class _Record(Mapping):
    """A dataclass that also reads as the JSON object it is written as (see the module)."""

    extra: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError

    def __getitem__(self, key: str) -> Any:
        return self.to_json()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_json())

    def __len__(self) -> int:
        return len(self.to_json())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _Record):
            other = other.to_json()
        return isinstance(other, Mapping) and self.to_json() == dict(other)

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dictionary it stands for


def _fields_and_extra(cls: type, data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The keys of ``data`` that are fields of ``cls``, and the others. A field given as null
    stays in the others, so that it is written back as null (a field that is None is left out)."""
    names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
    return ({key: value for key, value in data.items() if key in names and value is not None},
            {key: value for key, value in data.items() if key not in names or value is None})


def _without_absent(record: Any, order: tuple[str, ...]) -> dict[str, Any]:
    """A record's fields as JSON, leaving out the optional ones that are None (absent when read)."""
    data = {name: getattr(record, name) for name in order if getattr(record, name) is not None}
    data.update(record.extra)
    return data


@dataclass(eq=False)
class ShardEntry(_Record):
    """One shard of an index: its counts and its files (``files``: key to
    ``{"path", "bytes", "sha256", ...}``, paths relative to the index directory).

    >>> entry = ShardEntry.from_json({"name": "shard-00000", "num_documents": 2, "num_tokens": 5,
    ...                               "num_positions": 7, "first_document": 0, "files": {}})
    >>> entry.num_removed_documents, "num_removed_documents" in entry, entry.renumbered(4)["first_document"]
    (0, False, 4)
    """

    name: str
    num_documents: int
    num_tokens: int
    num_positions: int
    files: dict[str, dict[str, Any]]
    first_document: int = 0
    """The global number of its first document (0 for a shard just written, before it is listed)."""
    pointer_width: int | None = None
    removed_documents: int | None = None
    removed_tokens: int | None = None
    shard_by: dict[str, Any] | None = None
    """On an index built with ``--shard-by``: ``{"rule": the rule as given, "value": the
    shard's value under it}`` (value null: its documents lack the field). Every document of
    the shard has that value; absent on other indexes."""
    extra: dict[str, Any] = field(default_factory=dict)

    _JSON_NAMES = {"removed_documents": "num_removed_documents", "removed_tokens": "num_removed_tokens"}

    @classmethod
    def from_json(cls, data: Any, required_files: tuple[str, ...] = ()) -> "ShardEntry":
        """Check and type a shard's manifest entry (``required_files``: keys that must name a
        path); raises :class:`~infgram.errors.IndexFormatError` when it is malformed."""
        if isinstance(data, ShardEntry):
            data = data.to_json()
        try:
            data = dict(data)
            for attribute, key in cls._JSON_NAMES.items():
                if key in data:
                    data[attribute] = data.pop(key)
            known, extra = _fields_and_extra(cls, data)
            entry = cls(**known, extra=extra)
            entry.name = str(entry.name)
            for name in ("num_documents", "num_tokens", "num_positions", "first_document"):
                setattr(entry, name, int(getattr(entry, name)))
            for name in ("pointer_width", "removed_documents", "removed_tokens"):
                if getattr(entry, name) is not None:
                    setattr(entry, name, int(getattr(entry, name)))
            if not isinstance(entry.files, dict):
                raise TypeError(f"its files are {type(entry.files).__name__}, expected an object")
            if entry.shard_by is not None and not (
                    isinstance(entry.shard_by, dict) and isinstance(entry.shard_by.get("rule"), str)
                    and isinstance(entry.shard_by.get("value", ""), (str, type(None)))):
                raise TypeError("its shard_by is not an object with a rule and a value")
            for key in required_files:  # all must be listed
                if not isinstance(entry.files[key], dict) or not isinstance(entry.files[key]["path"], str):
                    raise TypeError(f"the entry of {key} has no path")
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise IndexFormatError(f"the manifest's entry for a shard is malformed ({error!r:.200}); "
                                   "rebuild the index") from None
        if min(entry.num_documents, entry.num_tokens, entry.first_document) < 0 or \
                entry.num_positions != entry.num_tokens + entry.num_documents or entry.num_documents == 0:
            raise IndexFormatError(f"the manifest's entry for shard {entry.name!r:.80} has inconsistent counts "
                                   f"({entry.num_documents} documents, {entry.num_tokens} tokens, "
                                   f"{entry.num_positions} positions); rebuild the index")
        return entry

    def to_json(self) -> dict[str, Any]:
        data = _without_absent(self, ("name", "num_documents", "num_tokens", "num_positions", "first_document",
                                      "files", "pointer_width", "shard_by"))
        for attribute, key in self._JSON_NAMES.items():
            if getattr(self, attribute) is not None:
                data[key] = getattr(self, attribute)
        return data

    @property
    def num_removed_documents(self) -> int:
        """Documents taken down from this shard (0 when nothing was)."""
        return self.removed_documents or 0

    @property
    def num_removed_tokens(self) -> int:
        """Their tokens (0 when nothing was taken down)."""
        return self.removed_tokens or 0

    @property
    def shard_value(self) -> tuple[str, str | None] | None:
        """(rule, value) of a shard of a ``--shard-by`` index (value None: the documents lacking
        the field), else None."""
        return None if self.shard_by is None else (self.shard_by["rule"], self.shard_by.get("value"))

    def paths(self) -> set[str]:
        """Every file path the entry names, relative to the index directory."""
        return {str(file["path"]) for file in self.files.values()}

    def renumbered(self, first_document: int) -> "ShardEntry":
        """The same shard with another global number for its first document."""
        return dataclasses.replace(self, first_document=first_document)

    def rebased(self, prefix: str, first_document: int) -> "ShardEntry":
        """The same shard written in the subdirectory ``prefix``: its name and paths under it."""
        files = {key: {**file, "path": f"{prefix}/{file['path']}"} for key, file in self.files.items()}
        return dataclasses.replace(self, name=f"{prefix}/{self.name}", files=files, first_document=first_document)


def _shard_entries(shards: Any) -> list[ShardEntry]:
    if not isinstance(shards, list):
        raise IndexFormatError(f"the manifest's shards are {type(shards).__name__}, expected a list; "
                               "rebuild the index")
    return [ShardEntry.from_json(entry) for entry in shards]


@dataclass(eq=False)
class Manifest(_Record):
    """What an index is: its kind, tokenizer, totals, shards, history and build options.

    ``settings`` is the kind's own section (``"fm"``: the sampling rates; see
    :mod:`infgram.format.kinds`), ``build`` the options the user gave the build, never a
    value derived from the machine.
    """

    index_kind: str | None = None
    format: str = MANIFEST_FORMAT
    format_version: int = MANIFEST_VERSION
    tokenizer: dict[str, Any] | None = None
    token_width: int | None = None
    separator_id: int | None = None
    vocab_size: int | None = None
    num_documents: int | None = None
    num_tokens: int | None = None
    shards: list[ShardEntry] | None = None
    build: dict[str, Any] | None = None
    generation: int | None = None
    changes: list[dict[str, Any]] | None = None
    removed_documents: int | None = None
    removed_tokens: int | None = None
    settings: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    _ORDER = ("format", "format_version", "index_kind", "tokenizer", "token_width", "separator_id", "vocab_size",
              "num_documents", "num_tokens", "build", "generation", "changes")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Manifest":
        """Type a manifest read from JSON (migrated, see :func:`migrate`); the shard entries
        are checked, the rest as :func:`read_manifest` does."""
        if isinstance(data, Manifest):
            return data.copy()
        data = migrate(dict(data))
        section = index_kind(data["index_kind"]).settings_section if data.get("index_kind") in INDEX_KINDS else None
        known, extra = _fields_and_extra(cls, {key: value for key, value in data.items() if key != section})
        for attribute, key in ShardEntry._JSON_NAMES.items():
            if key in extra:
                known[attribute] = extra.pop(key)
        if "shards" in known:
            known["shards"] = _shard_entries(known["shards"])
        settings = data.get(section) if section else None
        return cls(**known, settings=settings, extra=extra)

    def to_json(self) -> dict[str, Any]:
        data = _without_absent(self, self._ORDER)
        if self.shards is not None:
            data["shards"] = [entry.to_json() for entry in self.shards]
        for attribute, key in ShardEntry._JSON_NAMES.items():
            if getattr(self, attribute) is not None:
                data[key] = getattr(self, attribute)
        if self.settings is not None and self.index_kind in INDEX_KINDS and index_kind(self.index_kind).settings_section:
            data[index_kind(self.index_kind).settings_section] = self.settings
        return data

    def copy(self, **changes: Any) -> "Manifest":
        """A copy with some fields changed (the shard list copied, the entries shared)."""
        copied = dataclasses.replace(self, **changes)
        if "shards" not in changes and copied.shards is not None:
            copied.shards = list(copied.shards)
        return copied

    @property
    def kind(self) -> Any:
        """The :class:`~infgram.format.kinds.IndexKind` of the index (its capabilities)."""
        return index_kind(self.index_kind)

    @property
    def generation_number(self) -> int:
        """The generation: 0 for a fresh build (see :func:`generation_of`)."""
        return generation_of(self)

    @property
    def shard_by(self) -> str | None:
        """The ``--shard-by`` rule of the build, as the user gave it (None: not given)."""
        return self.build_options.get("shard_by")

    @property
    def build_options(self) -> dict[str, Any]:
        """The options the user gave the build (empty when the manifest records none)."""
        return self.build if isinstance(self.build, dict) else {}

    def paths(self) -> set[str]:
        """Every file path the shards name, relative to the index directory."""
        return {path for entry in self.shards or [] for path in entry.paths()}

    def check_shards(self, directory: Path) -> list[ShardEntry]:
        """The shard entries, with the totals they must add up to; raises
        :class:`~infgram.errors.IndexFormatError` when there are none."""
        if not self.shards:
            raise IndexFormatError(f"the manifest of {directory} lists no shards; rebuild the index")
        return self.shards

    def check_totals(self, directory: Path, num_documents: int, num_tokens: int) -> None:
        """Raise when the shards as opened (their counts) do not add up to the manifest's totals."""
        if num_documents != self.num_documents or num_tokens != self.num_tokens:
            raise IndexFormatError(f"the shards of {directory} do not add up to the manifest's totals; "
                                   "rebuild the index")

    def next_generation(self, shards: list[ShardEntry | Mapping[str, Any]], change: dict[str, Any],
                        time_text: str, max_history: int) -> "Manifest":
        """The manifest of the next generation: ``shards`` renumbered, the totals summed and
        ``change`` appended to the history (at most ``max_history`` entries kept)."""
        generation = generation_of(self) + 1
        first = 0
        numbered = []
        for entry in shards:
            numbered.append(ShardEntry.from_json(entry).renumbered(first))
            first += numbered[-1].num_documents
        history = list(self.changes or [])[-(max_history - 1):]
        history.append({"generation": generation, "time": time_text, **change})
        return self.copy(generation=generation, shards=numbered, num_documents=first,
                         num_tokens=sum(entry.num_tokens for entry in numbered),
                         removed_documents=sum(entry.num_removed_documents for entry in numbered),
                         removed_tokens=sum(entry.num_removed_tokens for entry in numbered), changes=history)


def manifest_build_options(fingerprint: dict[str, Any]) -> dict[str, Any]:
    """The ``build`` entry of a manifest: a build's fingerprint without :data:`PLAN_KEYS`.

    >>> manifest_build_options({"on_error": "fail", "shard_positions": 1000, "memory_budget": 6000})
    {'on_error': 'fail'}
    """
    return {key: value for key, value in fingerprint.items() if key not in PLAN_KEYS}


def upgrade_build_options(build: Any) -> Any:
    """The ``build`` entry of a manifest written when it still held :data:`PLAN_KEYS`, as it is
    written now: ``memory_budget`` (which may have been the machine's default) and
    ``shard_positions`` are dropped, and a shard size the user gave (then recorded as
    ``shard_positions`` without a budget) becomes ``shard_tokens``. Other entries are returned
    as they are.

    >>> upgrade_build_options({"on_error": "fail", "memory_budget": None, "shard_positions": 1000})
    {'on_error': 'fail', 'shard_tokens': 1000}
    >>> upgrade_build_options({"on_error": "fail", "memory_budget": 8589934592, "shard_positions": 1717986918})
    {'on_error': 'fail'}
    """
    if not isinstance(build, dict) or not any(key in build for key in PLAN_KEYS):
        return build
    upgraded = manifest_build_options(build)
    if build.get("memory_budget") is None and isinstance(build.get("shard_positions"), int):
        upgraded["shard_tokens"] = build["shard_positions"]
    return upgraded


def migrate(manifest: dict[str, Any]) -> dict[str, Any]:
    """A manifest as JSON, as this version writes it: the one place older manifests are upgraded.

    >>> migrate({"format_version": 1, "index_kind": "suffix_array", "build": {"memory_budget": 6000}})
    {'format_version': 2, 'index_kind': 'sa', 'build': {}}
    """
    if manifest.get("format_version") == 1 and manifest.get("index_kind") in ("suffix_array", "fm"):
        # Version 1 differs only in the name of the suffix-array kind.
        manifest = {**manifest, "format_version": MANIFEST_VERSION,
                    "index_kind": "sa" if manifest["index_kind"] == "suffix_array" else "fm"}
    if "build" in manifest:  # the next change writes it migrated
        manifest = {**manifest, "build": upgrade_build_options(manifest["build"])}
    return manifest


def read_manifest(directory: Path) -> Manifest:
    """Load, check and migrate ``manifest.json`` of an index directory."""
    directory = Path(directory)
    manifest_path = directory / MANIFEST_NAME
    if not directory.is_dir():
        raise IndexFormatError(
            f"no index at {directory}: the directory does not exist; build one with `infgram build --out {directory} ...`"
        )
    if not manifest_path.exists():
        if (directory / BUILD_STATE_NAME).exists():
            raise IncompleteIndexError(
                f"the build in {directory} did not finish (there is a build state but no manifest); "
                "rerun the same `infgram build` command to resume it"
            )
        raise IndexFormatError(
            f"{directory} has no {MANIFEST_NAME}, so it is not an infgram index; build one with `infgram build`"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise IndexFormatError(f"{manifest_path} is not valid JSON ({error}); rebuild the index") from None
    except OSError as error:
        raise IndexFormatError(
            f"cannot read {manifest_path} ({error.strerror or error}); check its permissions, or rebuild the index"
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise IndexFormatError(
            f"{manifest_path} does not describe an infgram index (expected format {MANIFEST_FORMAT!r})"
        )
    manifest = migrate(manifest)
    normalized = isinstance(manifest.get("tokenizer"), dict) and "normalize" in manifest["tokenizer"]
    if manifest.get("format_version") != (MANIFEST_NORMALIZED_VERSION if normalized else MANIFEST_VERSION):
        raise IndexFormatError(
            f"{manifest_path} has format version {manifest.get('format_version')!r:.40}, this infgram reads "
            f"versions 1 and {MANIFEST_VERSION} ({MANIFEST_NORMALIZED_VERSION} for a normalized index); rebuild the "
            "index or use a matching infgram version"
        )
    if manifest.get("index_kind") not in INDEX_KINDS or not index_kind(manifest["index_kind"]).written:
        raise IndexFormatError(
            f"{manifest_path} holds an index of kind {manifest.get('index_kind')!r:.40}, expected one of "
            f"{', '.join(kind for kind in INDEX_KINDS if index_kind(kind).written)}; upgrade infgram or rebuild "
            "the index"
        )
    try:
        return Manifest.from_json(manifest)
    except TypeError as error:  # a field of the wrong shape
        raise IndexFormatError(f"{manifest_path} is malformed ({error}); rebuild the index") from None


def generation_of(manifest: Mapping[str, Any]) -> int:
    """The generation of an index: 0 for a fresh build, one more after each change.

    >>> generation_of({}), generation_of({"generation": 3})
    (0, 3)
    """
    generation = manifest.get("generation", 0) if not isinstance(manifest, Manifest) else manifest.generation
    generation = 0 if generation is None else generation
    if not isinstance(generation, int) or isinstance(generation, bool) or generation < 0:
        raise IndexFormatError(f"the manifest's generation is {generation!r:.40}, expected a whole number; "
                               "the manifest is damaged: rebuild the index")
    return generation


__all__ = ["MANIFEST_NAME", "BUILD_STATE_NAME", "MANIFEST_FORMAT", "MANIFEST_VERSION", "MANIFEST_NORMALIZED_VERSION",
           "PLAN_KEYS", "Manifest", "ShardEntry", "manifest_build_options", "upgrade_build_options", "migrate",
           "read_manifest", "generation_of"]
