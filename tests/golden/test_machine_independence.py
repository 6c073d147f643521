"""Index bytes do not depend on the machine: the manifest records the options the user gave and
the shards as built, never the default memory budget (a share of the machine's memory), and
``add`` and ``compact`` size their shards without looking at the machine. Each test builds on
two pretend machines (the detected memory and container limit patched) and compares every
file, the manifest included; and manifests written when they held the budget still open."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import infgram
from infgram.build import plan, shard_writer
from conftest import files_of
from infgram.format import read_manifest

GOLDEN = Path(__file__).resolve().parent
MACHINES = {
    "large": {"physical": 512 * 2**30, "cgroup": None},  # default budget 256 GiB
    "small": {"physical": 64 * 2**30, "cgroup": 3 * 2**30},  # a container: default budget 1.5 GiB
}


def pretend_machine(monkeypatch, machine: str | dict) -> None:
    """Patch the detected memory and container limit: a machine of MACHINES, or one given."""
    memory = MACHINES[machine] if isinstance(machine, str) else machine
    monkeypatch.setattr(plan, "physical_memory_bytes", lambda: memory["physical"])
    monkeypatch.setattr(shard_writer, "physical_memory_bytes", lambda: memory["physical"])
    monkeypatch.setattr(plan, "cgroup_memory_limit", lambda *arguments: memory["cgroup"])


def _without_times(files: dict[str, bytes]) -> dict[str, bytes]:
    """The files with the manifest's change history stripped of when each change ran (the
    clock, not the machine, sets that)."""
    manifest = json.loads(files["manifest.json"])
    for change in manifest.get("changes", []):
        change.pop("time")
    return {**files, "manifest.json": json.dumps(manifest, sort_keys=True).encode()}


def _build_everything(folder: Path, kind: str) -> dict[str, bytes]:
    """Build the golden corpus (as the same file, so the manifest's input record is equal),
    then add to it, remove a document and compact it (suffix arrays): every file at the end."""
    corpus = folder.parent / "corpus.jsonl"
    if not corpus.exists():
        corpus.write_bytes((GOLDEN / "corpus.jsonl").read_bytes())
    index = folder / "index"
    infgram.build([corpus], index, kind=kind, progress=False)
    built = files_of(index)
    infgram.add(index, [{"text": "a document added later"}, {"text": "and one more"}], progress=False)
    if kind == "sa":
        infgram.remove(index, documents=[3], progress=False)
        infgram.compact(index, progress=False)
    return {**{f"build/{name}": data for name, data in built.items()},
            **{f"changed/{name}": data for name, data in _without_times(files_of(index)).items()}}


@pytest.mark.parametrize("kind", ["sa", "fm"])
def test_two_default_budgets_write_identical_bytes(tmp_path, monkeypatch, kind):
    found = {}
    for machine in MACHINES:
        pretend_machine(monkeypatch, machine)
        assert plan.default_memory_budget() == (MACHINES[machine]["cgroup"] or MACHINES[machine]["physical"]) // 2
        found[machine] = _build_everything(tmp_path / machine, kind)
    assert sorted(found["large"]) == sorted(found["small"])
    different = [name for name in found["large"] if found["large"][name] != found["small"][name]]
    assert not different, different
    manifest = json.loads(found["small"]["build/manifest.json"])
    assert not {"memory_budget", "shard_positions"} & set(manifest["build"])


def test_the_manifest_records_the_options_the_user_gave(tmp_path):
    infgram.build_from_documents(["a rose is a rose"], tmp_path / "tokens", shard_tokens=1000, progress=False)
    infgram.build_from_documents(["a rose is a rose"], tmp_path / "memory", memory="1G", progress=False)
    infgram.build_from_documents(["a rose is a rose"], tmp_path / "default", progress=False)
    options = {name: json.loads((tmp_path / name / "manifest.json").read_text())["build"]
               for name in ("tokens", "memory", "default")}
    assert options["tokens"]["shard_tokens"] == 1000 and "memory_bytes" not in options["tokens"]
    assert options["memory"]["memory_bytes"] == 2**30 and "shard_tokens" not in options["memory"]
    assert not {"shard_tokens", "memory_bytes", "memory_budget", "shard_positions"} & set(options["default"])


def test_add_uses_the_shard_size_given_then_the_builds(tmp_path):
    index = tmp_path / "index"
    infgram.build_from_documents(["a b c d"] * 3, index, shard_tokens=10, progress=False)
    infgram.add(index, [{"text": "e f g h"}] * 3, progress=False)  # the build's 10 positions: 1 document a shard
    assert [shard["num_documents"] for shard in read_manifest(index)["shards"]] == [1] * 6
    infgram.add(index, [{"text": "i j"}] * 4, shard_tokens=100, progress=False)  # given: all four in one shard
    assert [shard["num_documents"] for shard in read_manifest(index)["shards"]] == [1] * 6 + [4]
    assert infgram.Index.open(index).count("a b") == 3


def _as_written_before(index: Path, budget: int | None, positions: int) -> None:
    """Rewrite a manifest as infgram wrote it when it recorded the resolved plan."""
    manifest = json.loads((index / "manifest.json").read_text())
    for key in ("shard_tokens", "memory_bytes"):
        manifest["build"].pop(key, None)
    manifest["build"].update(memory_budget=budget, shard_positions=positions)
    (index / "manifest.json").write_text(json.dumps(manifest))


def test_manifests_that_hold_the_budget_still_open_and_are_migrated(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_bytes((GOLDEN / "corpus.jsonl").read_bytes())
    index = tmp_path / "index"
    infgram.build([corpus], index, progress=False)
    fresh = (index / "manifest.json").read_bytes()
    _as_written_before(index, 12_638_091_264, 2_147_483_647)
    assert read_manifest(index)["build"] == json.loads(fresh)["build"]
    assert infgram.Index.open(index).count("the") == infgram.Index.open(index).count_batch(["the"])[0] > 0
    # The same command finds it up to date (nothing rebuilt), and a change writes it migrated.
    assert infgram.build([corpus], index, progress=False).up_to_date
    assert infgram.build([corpus], index, memory="8G", progress=False).up_to_date  # the old budget's origin is unknown
    infgram.remove(index, documents=[0], progress=False)
    written = json.loads((index / "manifest.json").read_text())["build"]
    assert written == json.loads(fresh)["build"]


def test_an_old_manifest_with_a_given_shard_size_keeps_it(tmp_path):
    index = tmp_path / "index"
    infgram.build_from_documents(["a b c d"] * 2, index, shard_tokens=10, progress=False)
    _as_written_before(index, None, 10)
    assert read_manifest(index)["build"]["shard_tokens"] == 10
    infgram.add(index, [{"text": "e f g h"}] * 2, progress=False)
    assert [shard["num_documents"] for shard in read_manifest(index)["shards"]] == [1] * 4
