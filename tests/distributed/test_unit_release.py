"""Unit files are removed as soon as every shard that reads them is written, not at the end.

The disk then never holds the whole index and all the unit files at once (a 10 GB corpus
spools about 10 GB of unit files beside its 44 GB index). The release is planned from the
shards' pieces alone, so it is checked here without a cluster for every order the shards
may finish in (without Ray), then once on a cluster build, which must still be
byte-identical to the local one (skipped without Ray, by the cluster fixture).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster_fixtures import cluster, index_files  # noqa: E402,F401 (fixtures; sets the loopback variable)

# One pytest-xdist worker runs every test of a Ray cluster, one cluster at a time (--dist loadgroup).
pytestmark = pytest.mark.xdist_group("ray")

import infgram  # noqa: E402
from infgram.build.pipeline import BuildReport  # noqa: E402
from infgram.distributed import builder  # noqa: E402


def _pieces(unit_sizes: list[int], firsts: list[int]) -> list[list[builder.Piece]]:
    units = [builder.UnitResult(BuildReport(directory="."), np.ones(size, dtype=np.int64),
                                np.zeros(size, dtype=np.int64)) for size in unit_sizes]
    return builder.shard_pieces(units, Path("work"), firsts, sum(unit_sizes))


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_each_unit_is_released_once_after_its_last_shard(data):
    unit_sizes = data.draw(st.lists(st.integers(1, 6), min_size=1, max_size=8), label="unit sizes")
    documents = sum(unit_sizes)
    cuts = data.draw(st.sets(st.integers(1, documents - 1)) if documents > 1 else st.just(set()), label="cuts")
    pieces = _pieces(unit_sizes, [0, *sorted(cuts)])
    order = data.draw(st.permutations(range(len(pieces))), label="finishing order")
    readers = {}  # unit file -> the shards that read it
    for number, shard in enumerate(pieces):
        for piece in shard:
            readers.setdefault(piece.tokens_path, set()).add(number)
            readers.setdefault(piece.metadata_path, set()).add(number)
    release, finished, released = builder.UnitRelease(pieces), set(), []
    for number in order:
        finished.add(number)
        now = release.finished(number)
        for path in now:
            assert readers[path] <= finished, f"{path} released while a shard reading it runs"
        for path, shards in readers.items():
            if number in shards and shards <= finished:
                assert path in now, f"{path} kept after its last shard {number} finished"
        released += now
    assert sorted(released) == sorted(readers)
    assert len(released) == 2 * len(unit_sizes)


def test_cluster_build_removes_units_as_shards_finish(cluster, tmp_path, index_files, monkeypatch):
    folder = tmp_path / "corpus"
    folder.mkdir()
    for number in range(5):
        rows = [json.dumps({"text": f"file {number} line {line} " * (1 + line % 7)}) for line in range(200)]
        (folder / f"part-{number}.jsonl").write_text("\n".join(rows) + "\n")
    seen: list[list[str]] = []  # per finished shard, in finishing order: the unit files released

    class Watched(builder.UnitRelease):
        def finished(self, number: int) -> list[str]:
            earlier = [path for released in seen for path in released]
            assert not any(Path(path).exists() for path in earlier), "released unit files still on disk"
            paths = super().finished(number)
            assert all(Path(path).exists() for path in paths)  # removed by the caller, once
            seen.append(paths)
            return paths

    monkeypatch.setattr(builder, "UnitRelease", Watched)
    local, remote = tmp_path / "local", tmp_path / "ray"
    infgram.build([folder], local, progress=False, shard_tokens=6_000)
    infgram.distributed.build([folder], remote, progress=False, shard_tokens=6_000)
    assert index_files(remote) == index_files(local)
    shards = json.loads((local / "manifest.json").read_text())["shards"]
    assert len(shards) >= 3
    assert len(seen) == len(shards)
    released = [path for paths in seen for path in paths]
    assert len(released) == len(set(released)) == 10  # 5 units, a tokens and a metadata file each
    assert not any(Path(path).exists() for path in released)
    # Released before the end: some unit files went while other shards were still to finish.
    assert any(seen[:-1])
    assert not (tmp_path / ".ray.ray-work").exists()



@settings(max_examples=200, deadline=None)
@given(st.data())
def test_shards_cut_while_units_arrive_are_the_shards_cut_at_the_end(data):
    """Units read in any order: the shards handed out as the read prefix grows are the shards
    planned from all the counts at once, and no unit file is released while a document in it
    waits for a cut (every shard that reads a unit is added before it is released)."""
    sizes = data.draw(st.lists(st.integers(0, 12), min_size=1, max_size=8))
    units = [builder.UnitResult(BuildReport(directory="."),
                                np.array(data.draw(st.lists(st.integers(1, 9), min_size=size, max_size=size)),
                                         dtype=np.int64),
                                np.array(data.draw(st.lists(st.integers(0, 30), min_size=size, max_size=size)),
                                         dtype=np.int64)) for size in sizes]
    positions, budget = data.draw(st.integers(10, 40)), data.draw(st.sampled_from([None, 4096]))
    order = data.draw(st.permutations(range(len(units))))
    cuts, arrived, planned = builder.ShardCuts(len(units), Path("work"), positions, budget), {}, []
    release, released = builder.UnitRelease(), []
    for number in order:
        arrived[number] = units[number]
        for shard in cuts.extend(arrived):
            release.add(len(planned), shard)
            planned.append(shard)
        release.hold(cuts.waiting_units())
        # Finishing every planned shard releases only units all of whose documents are planned.
        for shard in range(len(planned)):
            if shard not in released:
                released.append(shard)
                for path in release.finished(shard)[::2]:
                    unit = int(Path(path).stem.split("-")[1])
                    end = sum(sizes[:unit + 1])
                    assert end <= cuts.cut, "a unit was released with documents not in a shard yet"
    token_counts = np.concatenate([unit.token_counts for unit in units])
    metadata_lengths = np.concatenate([unit.metadata_lengths for unit in units])
    firsts = builder.plan_shards(token_counts, metadata_lengths, positions, budget)
    expected = builder.shard_pieces(units, Path("work"), firsts, len(token_counts))
    assert [[(p.tokens_path, p.token_offset, p.token_counts.tolist()) for p in shard] for shard in planned] == \
        [[(p.tokens_path, p.token_offset, p.token_counts.tolist()) for p in shard] for shard in expected]
