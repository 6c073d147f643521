"""Opening a damaged index raises :class:`infgram.IndexFormatError` (or its subclass
:class:`infgram.IncompleteIndexError`) naming what is wrong; what open cannot see, verify does."""

from __future__ import annotations

import json
import shutil

import pytest

import infgram


# -- damaged indexes ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pristine")
    documents = [{"text": f"document {i}: the cat sat on the mat", "metadata": {"n": i}} for i in range(12)]
    infgram.build_from_documents(documents, folder / "index", shard_tokens=150, progress=False)
    assert len(infgram.Index.open(folder / "index").shards) >= 2
    return folder / "index"


def _rewrite(path, change):
    path.write_bytes(change(bytearray(path.read_bytes())))


def _set(data, offset, value):
    data[offset : offset + len(value)] = value
    return bytes(data)


def _manifest(change):
    def apply(directory):
        manifest = json.loads((directory / "manifest.json").read_text())
        change(manifest)
        (directory / "manifest.json").write_text(json.dumps(manifest))
    return apply


DAMAGE = {
    "shard file deleted": (lambda d: (d / "shard-00001" / "suffix_array.bin").unlink(), "is missing"),
    "shard directory deleted": (lambda d: shutil.rmtree(d / "shard-00000"), "is missing"),
    "tokens.bin truncated": (lambda d: _rewrite(d / "shard-00000" / "tokens.bin", lambda b: bytes(b[:-5])), "truncated"),
    "tokens.bin shorter than its header": (lambda d: _rewrite(d / "shard-00000" / "tokens.bin", lambda b: bytes(b[:20])),
                                           "shorter than"),
    "tokens.bin grown": (lambda d: _rewrite(d / "shard-00000" / "tokens.bin", lambda b: bytes(b) + b"\0"), "promises"),
    "magic overwritten": (lambda d: _rewrite(d / "shard-00000" / "documents.bin", lambda b: _set(b, 0, b"NOTMAGIC")),
                          "magic"),
    "file version changed": (lambda d: _rewrite(d / "shard-00000" / "metadata.bin", lambda b: _set(b, 8, b"\x07\x00")),
                             "format version 7"),
    "file kind swapped": (lambda d: _rewrite(d / "shard-00000" / "tokens.bin", lambda b: _set(b, 10, b"SARR")), "kind"),
    "manifest not JSON": (lambda d: (d / "manifest.json").write_text("{not json"), "not valid JSON"),
    "manifest not UTF-8": (lambda d: (d / "manifest.json").write_bytes(b"\xff\xfe{}"), "not valid JSON"),
    "manifest a list": (lambda d: (d / "manifest.json").write_text("[]"), "does not describe"),
    "manifest deleted": (lambda d: (d / "manifest.json").unlink(), "not an infgram index"),
    "format_version changed": (_manifest(lambda m: m.update(format_version=3)), "format version 3"),
    "format_version removed": (_manifest(lambda m: m.pop("format_version")), "format version None"),
    "totals disagree": (_manifest(lambda m: m.update(num_tokens=m["num_tokens"] + 1)), "do not add up"),
    "no shards": (_manifest(lambda m: m.update(shards=[])), "lists no shards"),
    "shard entry malformed": (_manifest(lambda m: m["shards"][0].pop("files")), "malformed"),
    "pointer width wrong": (_manifest(lambda m: m["shards"][0].update(pointer_width=3)), "pointer width"),
    "unknown tokenizer": (_manifest(lambda m: m.update(tokenizer={"kind": "magic"})), "unknown tokenizer kind"),
    "unknown index kind": (_manifest(lambda m: m.update(index_kind="fm_index")), "fm_index"),
}


@pytest.mark.parametrize("name", list(DAMAGE))
def test_damaged_index_does_not_open(tmp_path, pristine, name):
    damage, fragment = DAMAGE[name]
    directory = tmp_path / "index"
    shutil.copytree(pristine, directory)
    damage(directory)
    with pytest.raises(infgram.IndexFormatError) as error:
        infgram.Index.open(directory)
    assert fragment in str(error.value)


def test_partially_written_file_is_incomplete(tmp_path, pristine):
    directory = tmp_path / "index"
    shutil.copytree(pristine, directory)
    _rewrite(directory / "shard-00001" / "suffix_array.bin", lambda b: _set(b, 25, b"\x00"))
    with pytest.raises(infgram.IncompleteIndexError, match="not completely written"):
        infgram.Index.open(directory)


def test_build_state_without_manifest_is_incomplete(tmp_path, pristine):
    directory = tmp_path / "index"
    shutil.copytree(pristine, directory)
    (directory / "manifest.json").unlink()
    (directory / "build-state.json").write_text("{}")
    with pytest.raises(infgram.IncompleteIndexError, match="did not finish"):
        infgram.Index.open(directory)


@pytest.mark.parametrize("file", ["tokens.bin", "suffix_array.bin", "documents.bin", "metadata.bin"])
def test_flipped_payload_byte_is_caught_at_open_or_by_verify(tmp_path, pristine, file):
    directory = tmp_path / "index"
    shutil.copytree(pristine, directory)
    infgram.Index.open(directory).verify()  # the copy is sound
    path = directory / "shard-00001" / file
    data = bytearray(path.read_bytes())
    data[64] ^= 0x01  # the first payload byte; the header stays valid
    path.write_bytes(bytes(data))
    try:
        damaged = infgram.Index.open(directory)
    except infgram.IndexFormatError as error:  # the cheap checks at open caught it
        assert file in str(error) and "damaged" in str(error)
        return
    with pytest.raises(infgram.IndexFormatError, match=f"{file} does not match its checksum"):
        damaged.verify()


def test_missing_path_and_plain_directory(tmp_path):
    with pytest.raises(infgram.IndexFormatError, match="does not exist"):
        infgram.Index.open(tmp_path / "nowhere")
    (tmp_path / "plain").mkdir()
    with pytest.raises(infgram.IndexFormatError, match="not an infgram index"):
        infgram.Index.open(tmp_path / "plain")


@pytest.fixture(scope="module")
def fm_and_removed(tmp_path_factory):
    from infgram.change.remove import remove

    folder = tmp_path_factory.mktemp("checked-at-open")
    documents = [f"document {i}: the cat sat on the mat" for i in range(12)]
    infgram.build_from_documents(documents, folder / "fm", kind="fm", progress=False)
    infgram.build_from_documents(documents, folder / "sa", progress=False)
    remove(folder / "sa", documents=[2, 5], progress=False)
    return folder


@pytest.mark.parametrize("file", ["fm/shard-00000/fm_wavelet.bin", "fm/shard-00000/fm_samples.bin",
                                  "fm/shard-00000/documents.bin", "sa/g1/removed-00000-documents.bin",
                                  "sa/g1/removed-00000-rows.bin", "sa/shard-00000/documents.bin"])
def test_files_read_whole_at_open_are_checked_against_their_checksum(tmp_path, fm_and_removed, file):
    kind, relative = file.split("/", 1)
    directory = tmp_path / kind
    shutil.copytree(fm_and_removed / kind, directory)
    path = directory / relative
    original = path.read_bytes()
    messages = []
    step = max(1, (len(original) - 64) // 48)
    for offset in range(64, len(original), step):  # payload bytes across the file, the lowest bit flipped
        data = bytearray(original)
        data[offset] ^= 0x01
        path.write_bytes(bytes(data))
        with pytest.raises(infgram.IndexFormatError) as caught:
            infgram.Index.open(directory)
        messages.append(str(caught.value))
    # Some flips give values the structural checks accept (a later document, a row in range):
    # the checksum is what catches those.
    assert any(f"{path.name} does not match its checksum" in message for message in messages)
