"""The typed manifest (infgram.format.manifest) and the registry of index kinds (infgram.format.kinds).

A manifest read and written back is the same JSON, key for key: fields this version does not
know, and fields given as null, survive; the removal counts appear only once something was
removed. Damaged shapes are refused with IndexFormatError, and a change a kind does not
support is refused by the registry with one message.
"""

from __future__ import annotations

import json

import pytest

import infgram
from infgram.errors import IndexFormatError, UnsupportedOperationError
from infgram.format import MANIFEST_NAME, Manifest, index_kind, read_manifest, write_manifest


def _json(directory):
    return json.loads((directory / MANIFEST_NAME).read_text(encoding="utf-8"))


@pytest.mark.parametrize("kind", ["sa", "fm"])
def test_a_manifest_read_and_written_back_is_the_same_json(tmp_path, kind):
    infgram.build_from_documents(["a rose is a rose", "is it"], tmp_path / "index", kind=kind, progress=False)
    before = (tmp_path / "index" / MANIFEST_NAME).read_bytes()
    manifest = read_manifest(tmp_path / "index")
    assert manifest.index_kind == kind and manifest.shards[0].num_documents == 2
    assert (manifest.settings is not None) == (kind == "fm")
    write_manifest(tmp_path / "index", manifest)
    assert (tmp_path / "index" / MANIFEST_NAME).read_bytes() == before


def test_unknown_and_null_fields_survive_and_removal_counts_appear_only_after_a_removal(tmp_path):
    infgram.build_from_documents(["a rose", "is it"], tmp_path / "index", progress=False)
    data = _json(tmp_path / "index")
    data["from_a_newer_version"] = {"x": 1}
    data["vocab_size"] = None
    data["shards"][0]["note"] = "kept"
    (tmp_path / "index" / MANIFEST_NAME).write_text(json.dumps(data))
    manifest = read_manifest(tmp_path / "index")
    assert manifest.to_json() == data
    assert "num_removed_documents" not in manifest.to_json()["shards"][0]
    infgram.remove(tmp_path / "index", documents=[1], progress=False)
    after = _json(tmp_path / "index")
    assert after["from_a_newer_version"] == {"x": 1} and after["vocab_size"] is None
    assert after["shards"][0]["note"] == "kept" and after["shards"][0]["num_removed_documents"] == 1
    assert after["num_removed_documents"] == 1 and after["generation"] == 1
    assert read_manifest(tmp_path / "index").shards[0].num_removed_documents == 1


def test_the_typed_manifest_still_reads_as_the_json_it_is():
    manifest = Manifest.from_json({"format": "infgram-index", "format_version": 2, "index_kind": "sa",
                                   "token_width": 1, "build": {"on_error": "fail"}})
    assert manifest["token_width"] == 1 and manifest.get("build") == {"on_error": "fail"}
    assert {**manifest}["index_kind"] == "sa" and manifest == manifest.to_json()
    assert manifest.get("shards") is None and "shards" not in manifest


@pytest.mark.parametrize("damage, fragment", [
    (lambda m: m.update(shards={"name": "shard-00000"}), "expected a list"),
    (lambda m: m["shards"][0].update(num_tokens="many"), "malformed"),
    (lambda m: m["shards"][0].update(num_positions=1), "inconsistent counts"),
    (lambda m: m["shards"][0].update(files=[]), "malformed"),
])
def test_damaged_shapes_are_refused_when_read(tmp_path, damage, fragment):
    infgram.build_from_documents(["a rose"], tmp_path / "index", progress=False)
    data = _json(tmp_path / "index")
    damage(data)
    (tmp_path / "index" / MANIFEST_NAME).write_text(json.dumps(data))
    with pytest.raises(IndexFormatError, match=fragment):
        read_manifest(tmp_path / "index")


def test_the_registry_declares_what_each_kind_supports_and_refuses_with_one_message():
    assert [(kind, index_kind(kind).supports_removal) for kind in ("sa", "fm", "infini-gram")] == \
        [("sa", True), ("fm", False), ("infini-gram", False)]
    assert index_kind("sa").reader is not None and index_kind("sa").writer is not None
    assert index_kind("fm").planner is not None and index_kind("infini-gram").writer is None
    index_kind("sa").refuse("remove", "idx")  # supported: nothing raised
    messages = []
    for action in ("remove", "compact"):
        with pytest.raises(UnsupportedOperationError) as refused:
            index_kind("fm").refuse(action, "idx")
        messages.append(str(refused.value).replace(action, "ACTION", 1))
    assert messages[0] == messages[1] and "--kind sa" in messages[0]
    with pytest.raises(IndexFormatError, match="unknown index kind 'tree'"):
        index_kind("tree")
