"""``infgram compact``: rewrite shards without their removed documents, merging small ones.

Consecutive shards are grouped greedily while their live positions fit one shard of the
index's size (``--shard-tokens``/``--memory``, else the build's options, else a default
that is the same on every machine: see :func:`~.generations.shard_size_options`). A group of one shard with
no removed tokens is kept as it is; every other group becomes one new shard, sorted anew,
in ``g<next generation>/``. A removed document keeps its number as an empty placeholder
(its separator alone, metadata ``{}``) that the new shard still lists as removed, so
document numbers never move and ``document(n)`` keeps refusing it; its tokens and metadata
are gone from the disk. Every answer is unchanged. The shards it replaced are deleted as soon
as it commits, unless a reader holds the generation before (see
:mod:`infgram.format.readers`): then at the next change that finds none held.
"""

from __future__ import annotations

import hashlib
import time
from array import array
from pathlib import Path

import numpy as np

from ..build.pipeline import build_options
from ..build.shard_writer import ShardBuffer
from ..format import ShardEntry
from ..shards import open_shard
from ..shards.sa import SAShard
from ..tokenizer import tokenizer_from_manifest
from .add import ChangeReport
from .generations import changing, commit, free_superseded, generation_directory, rebased_entry, shard_size_options
from .remove import write_removals


def _live_positions(shard: SAShard) -> int:
    """The positions a shard keeps once compacted: all but its removed documents' tokens."""
    return shard.num_positions - shard.removals.num_tokens


def _shard_by(shard: SAShard) -> object:
    """A shard's ``--shard-by`` rule and value (None on other indexes): shards of two values are never merged."""
    entry = getattr(shard, "entry", None)
    return entry.get("shard_by") if entry is not None else None


def plan_groups(shards: list[SAShard], shard_positions: int) -> list[list[int]]:
    """Consecutive shards grouped greedily while their live positions fit ``shard_positions``
    (and, on a ``--shard-by`` index, while they hold the same value)."""
    groups: list[list[int]] = []
    size = 0
    for number, shard in enumerate(shards):
        live = _live_positions(shard)
        if groups and size + live <= shard_positions and _shard_by(shards[groups[-1][0]]) == _shard_by(shard):
            groups[-1].append(number)
            size += live
        else:
            groups.append([number])
            size = live
    return groups


def _fill(buffer: ShardBuffer, shards: list[SAShard]) -> np.ndarray:
    """Fill a buffer with the shards' documents, removed ones as empty placeholders; returns
    the buffer-local numbers of the placeholders."""
    tokens, starts, metadata, offsets, removed = [], [], [], [], []
    position = metadata_bytes = documents = 0
    for shard in shards:
        table = shard.documents
        shard_starts = np.asarray(table.starts, dtype=np.int64)
        keep = np.ones(shard.num_positions, dtype=bool)
        gone = np.asarray(shard.removals.documents, dtype=np.int64)
        for local in gone.tolist():
            keep[shard_starts[local] : shard_starts[local + 1] - 1] = False  # its tokens, not its separator
        tokens.append(np.asarray(shard.tokens)[keep])
        lengths = np.diff(shard_starts) - 1
        lengths[gone] = 0
        starts.append(position + np.concatenate(([0], np.cumsum(lengths + 1)[:-1])))
        position += int((lengths + 1).sum())
        # Metadata: each removed document's object becomes "{}"; the rest is copied in runs.
        raw = np.asarray(table.metadata_bytes)
        bounds = np.asarray(table.metadata_offsets, dtype=np.int64)
        pieces, sizes, previous = [], [], 0
        for local in gone.tolist():
            pieces += [raw[bounds[previous] : bounds[local]], np.frombuffer(b"{}", dtype=np.uint8)]
            previous = local + 1
        pieces.append(raw[bounds[previous] : bounds[-1]])
        sizes = np.diff(bounds)
        sizes[gone] = 2
        offsets.append(metadata_bytes + np.concatenate(([0], np.cumsum(sizes)[:-1])))
        metadata_bytes += int(sizes.sum())
        metadata.append(np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.uint8))
        removed.append(gone + documents)
        documents += shard.num_documents
    buffer.tokens = np.concatenate(tokens).astype(buffer.dtype, copy=False)
    buffer.num_positions = len(buffer.tokens)
    buffer.starts = array("q", np.concatenate(starts).astype(np.int64).tobytes())
    buffer.metadata = bytearray(np.concatenate(metadata).tobytes())
    buffer.metadata_offsets = array("q", np.concatenate(offsets).astype(np.int64).tobytes())
    return np.concatenate(removed).astype(np.int64)


def compact(directory: str | Path, *, memory: str | int | None = None, shard_tokens: int | None = None,
            progress: bool = True) -> ChangeReport:
    """Rewrite the shards of the index in ``directory`` without their removed documents, and
    merge small neighbours (see the module); answers and document numbers do not change.

    >>> import tempfile, pathlib, infgram
    >>> from infgram.change import remove
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = infgram.build_from_documents(["a rose", "a rose was red", "red"], folder / "index", progress=False)
    >>> _ = remove(folder / "index", documents=[0], progress=False)
    >>> compact(folder / "index", progress=False).details["rewritten_shards"]
    1
    >>> index = infgram.Index.open(folder / "index")
    >>> index.count("rose"), index.document(1).text, index.num_documents
    (1, 'a rose was red', 3)
    """
    start = time.perf_counter()
    directory = Path(directory)
    with changing(directory, "compact") as (manifest, generation):
        # changing() refused the kinds that cannot be compacted (see infgram.format.kinds)
        tokenizer = tokenizer_from_manifest(manifest.tokenizer or {}, directory)
        options = manifest.build_options
        sizes = shard_size_options(manifest, memory, shard_tokens)
        shard_positions, _ = build_options(tokenizer, "text", "fail", sizes.get("memory"), sizes.get("shard_tokens"))
        token_width = tokenizer.token_width
        shards = [open_shard(manifest.index_kind, directory, entry, token_width) for entry in manifest.shards]
        groups = plan_groups(shards, shard_positions)
        target = generation_directory(generation + 1)
        writer = manifest.kind.writer(directory / target, tokenizer, options, progress)
        entries: list[ShardEntry] = []
        rewritten = removed_tokens = 0
        for group in groups:
            members = [shards[number] for number in group]
            if len(group) == 1 and not members[0].removals.num_tokens:
                entries.append(manifest.shards[group[0]])
                continue
            (directory / target).mkdir(exist_ok=True)
            name = f"shard-{rewritten:05d}"
            positions = sum(_live_positions(shard) for shard in members)
            buffer = ShardBuffer(token_width, max(positions, 1), tokenizer.separator_id)
            placeholders = _fill(buffer, members)
            removed_tokens += sum(shard.removals.num_tokens for shard in members)
            tokens_sha256 = hashlib.sha256(buffer.tokens.view(np.uint8)).hexdigest()
            metadata_sha256 = hashlib.sha256(buffer.metadata).hexdigest()
            entry = rebased_entry(writer.write_shard(name, buffer, buffer.tokens, tokens_sha256, metadata_sha256),
                                  target, 0)
            if len(placeholders):
                entry = write_removals(directory, target, len(entries), entry, token_width, placeholders, None, 0)
            if _shard_by(members[0]) is not None:  # one value per group: the new shard keeps it
                entry = ShardEntry.from_json({**ShardEntry.from_json(entry).to_json(), "shard_by": _shard_by(members[0])})
            entries.append(entry)
            rewritten += 1
        if not rewritten:
            return ChangeReport("compact", str(directory), generation, False,
                                details={"note": "no shard holds removed tokens or can merge with its neighbour"})
        del shards
        num_documents = sum(entry.num_documents for entry in entries)
        committed = commit(directory, manifest, entries, {"action": "compact", "rewritten_shards": rewritten,
                                                          "num_shards": len(entries), "freed_tokens": removed_tokens})
        # The shards it replaced go now, unless a reader still holds the generation before.
        freed = free_superseded(directory, committed)
    return ChangeReport("compact", str(directory), generation + 1, True, num_documents,
                        sum(entry.num_tokens for entry in entries),
                        {"rewritten_shards": rewritten, "num_shards": len(entries), "freed_tokens": removed_tokens,
                         "freed_bytes": freed},
                        time.perf_counter() - start)
