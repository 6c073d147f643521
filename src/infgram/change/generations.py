"""Generations: how a change reaches an index directory whole or not at all.

Every change (add, remove, compact) follows the same steps:

1. take the writer lock (``flock`` on ``.infgram-lock``, see :class:`~infgram.format.WriterLock`),
   so two writers never interleave;
2. read the manifest of generation g and delete what no manifest names any more (the
   files of generation g - 1 that g replaced, and whatever a killed change left behind);
3. write every new file under ``g<g+1>/``, a directory no manifest names yet;
4. write the manifest of generation g + 1 under a temporary name and rename it into place.

Until step 4 the directory is generation g for every reader; after it, g + 1. A reader that
opened g keeps its memory maps, which stay valid when g's files are deleted at the next
change. A killed change leaves generation g intact; the rerun deletes the half-written
``g<g+1>/`` (or, for ``add``, resumes the build inside it) and finishes the job.
"""

from __future__ import annotations

import re
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ..build.plan import default_shard_tokens
from ..build.shard_writer import remove_path
from ..errors import IndexFormatError
from ..format import LOCK_NAME, OFFICIAL_KIND, WriterLock, generation_of, index_kind, read_manifest, write_manifest
from ..format.manifest import Manifest, ShardEntry
from ..format.readers import unheld_generations
from ..shards.official import is_official_directory

GENERATION_DIRECTORY = re.compile(r"^g\d+$")
"""The directories that changes write: ``g<generation>``."""
_BUILT_SHARD = re.compile(r"^shard-\d{5}(\.partial)?$")
MAX_HISTORY = 1000
"""The changes a manifest lists at most (the oldest are dropped first)."""


def generation_directory(generation: int) -> str:
    """The directory, relative to the index, where generation ``generation`` writes its files.

    >>> generation_directory(3)
    'g3'
    """
    return f"g{generation}"


def shard_size_options(manifest: dict[str, Any], memory: str | int | None = None,
                       shard_tokens: int | None = None) -> dict[str, Any]:
    """How a change sizes the shards it writes, as options of :func:`infgram.build`: the
    user's ``shard_tokens``, else the user's ``memory``, else those the index's build was given
    (its manifest records them), else :func:`~infgram.build.plan.default_shard_tokens`. Never
    the machine's memory: the same change writes the same bytes on every machine.

    >>> manifest = {"index_kind": "sa", "token_width": 1, "build": {"on_error": "fail"}}
    >>> shard_size_options(manifest, shard_tokens=1000), shard_size_options(manifest, memory="1G")
    ({'shard_tokens': 1000}, {'memory': '1G'})
    >>> shard_size_options({**manifest, "build": {"memory_bytes": 2**30}}), shard_size_options(manifest)
    ({'memory': 1073741824}, {'shard_tokens': 335544303})
    """
    if shard_tokens is not None:
        return {"shard_tokens": shard_tokens}
    if memory is not None:
        return {"memory": memory}
    typed = Manifest.from_json(manifest)
    options = typed.build_options
    if isinstance(options.get("shard_tokens"), int):
        return {"shard_tokens": options["shard_tokens"]}
    if isinstance(options.get("memory_bytes"), int):
        return {"memory": options["memory_bytes"]}
    return {"shard_tokens": default_shard_tokens(int(typed.token_width or 1), typed.index_kind or "sa")}


def referenced_files(manifest: Manifest) -> set[str]:
    """Every path (relative to the index directory) that a manifest's shards name."""
    try:
        return Manifest.from_json(manifest).paths()
    except (KeyError, TypeError, AttributeError) as error:
        raise IndexFormatError(f"the manifest's shard entries are malformed ({error!r:.200}); rebuild the index") from None


def collect_garbage(directory: Path, manifest: Manifest, keep: str | None = None) -> int:
    """Delete the files of shard and generation directories that ``manifest`` does not name
    (``keep``: a generation directory to leave alone, a change being resumed). Returns the
    bytes freed. Other files in the index directory are never touched."""
    referenced = referenced_files(manifest)
    freed = 0
    for child in sorted(Path(directory).iterdir()):
        if child.name == keep or not (GENERATION_DIRECTORY.match(child.name) or _BUILT_SHARD.match(child.name)):
            continue
        if not child.is_dir() or child.is_symlink():
            continue
        for path in sorted(child.rglob("*"), reverse=True):  # files before the directories holding them
            relative = path.relative_to(directory).as_posix()
            if path.is_file() and relative not in referenced:
                freed += path.stat().st_size
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
        if not any(child.iterdir()):
            remove_path(child)
    return freed


def free_superseded(directory: Path, manifest: Manifest | dict[str, Any]) -> int | None:
    """Right after ``manifest`` (generation g) is committed: delete what it does not name,
    when no reader holds a generation below g (see :mod:`infgram.format.readers`). Returns
    the bytes freed, or None when a reader holds an older generation (the files then go at
    the next change that finds none held). Called with the writer lock held.

    >>> import tempfile, pathlib, infgram
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = infgram.build_from_documents(["a rose", "a rose was red"], folder / "i", progress=False)
    >>> _ = infgram.remove(folder / "i", documents=[0], progress=False)
    >>> reader = infgram.Index.open(folder / "i")               # holds generation 1
    >>> infgram.compact(folder / "i", progress=False).details["freed_bytes"]   # generation 2: 1 is held
    >>> reader.close()
    >>> infgram.remove(folder / "i", documents=[1], progress=False).details["freed_bytes"] > 0
    True
    """
    with unheld_generations(directory, below=generation_of(manifest)) as unheld:
        if not unheld.complete:
            return None
        return collect_garbage(directory, manifest)


def rebased_entry(entry: ShardEntry | dict[str, Any], prefix: str, first_document: int) -> ShardEntry:
    """A shard's manifest entry written in a subdirectory: its name and file paths under
    ``prefix``, its first document renumbered (see :meth:`ShardEntry.rebased`).

    >>> entry = rebased_entry({"name": "shard-00000", "files": {"tokens": {"path": "shard-00000/tokens.bin"}},
    ...                        "first_document": 0, "num_documents": 1, "num_tokens": 2, "num_positions": 3}, "g2", 7)
    >>> entry.name, entry.files, entry.first_document
    ('g2/shard-00000', {'tokens': {'path': 'g2/shard-00000/tokens.bin'}}, 7)
    """
    return ShardEntry.from_json(entry).rebased(prefix, first_document)


def refuse_read_only(directory: Path, action: str) -> None:
    """Raise UnsupportedOperationError when ``directory`` is an official infini-gram index,
    which infgram opens read-only (nothing of it is ever written): the registry's refusal
    (:meth:`~infgram.format.kinds.IndexKind.refuse`), as for every kind a change does not apply to."""
    if is_official_directory(Path(directory)):
        index_kind(OFFICIAL_KIND).refuse(action, directory)


@contextmanager
def changing(directory: Path, action: str, keep: str | None = None) -> Iterator[tuple[Manifest, int]]:
    """Steps 1 and 2 of every change: hold the writer lock, read the current manifest and its
    generation, and delete what no manifest names (but ``keep``, see :func:`collect_garbage`).
    A kind the change does not apply to (an official infini-gram index, which is read-only;
    an FM-index for ``remove`` and ``compact``) is refused here, before anything is touched,
    with the registry's one message (:meth:`~infgram.format.kinds.IndexKind.refuse`)."""
    refuse_read_only(directory, action)
    # A clear error when there is no index, before a lock file is made.
    read_manifest(directory).kind.refuse(action, directory)
    with WriterLock(directory, action):
        manifest = read_manifest(directory)
        manifest.kind.refuse(action, directory)
        collect_garbage(directory, manifest, keep)
        yield manifest, manifest.generation_number


def commit(directory: Path, manifest: Manifest, shards: list[ShardEntry], change: dict[str, Any]) -> Manifest:
    """Write the manifest of the next generation: ``manifest`` with ``shards``, renumbered
    documents and totals, and ``change`` appended to its history
    (:meth:`~infgram.format.manifest.Manifest.next_generation`). Returns it."""
    new = Manifest.from_json(manifest).next_generation(
        shards, change, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), MAX_HISTORY)
    return write_manifest(directory, new)


__all__ = ["GENERATION_DIRECTORY", "LOCK_NAME", "generation_directory", "referenced_files", "collect_garbage",
           "free_superseded", "rebased_entry", "changing", "commit", "shard_size_options"]
