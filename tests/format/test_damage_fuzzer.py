"""A damage fuzzer over every file of an index: each damage ends in
:class:`infgram.IndexFormatError` or in the right answers, never in wrong ones.

For every file of a suffix-array index with removed documents (tokens, suffix array, sampled
suffix keys, documents, metadata, both removal lists, the manifest) and of an FM-index
(wavelet tree, samples, documents, metadata, manifest), a fixed set of damages (bit flips
in the header and across the payload, a zeroed run, truncation, bytes appended) is applied
to a copy, one at a time. Each case is then:

- **caught at open** (or by a query) with ``IndexFormatError``;
- **harmless**: every query answers exactly as the undamaged index;
- **caught by verify**: answers differ, and ``Index.verify`` (what ``serve --verify`` runs
  in the background) raises ``IndexFormatError``. Only the files too large to read at open
  (tokens and suffix array) may end here; every other file is checked as it loads.

``python3 -m pytest tests/format/test_damage_fuzzer.py -s`` prints the figures by file.
"""

from __future__ import annotations

import atexit
import json
import random
import shutil
from collections import Counter
from pathlib import Path

import pytest

import infgram
from infgram.change.remove import remove

DOCUMENTS = [{"text": f"doc {i}: the cat sat on the mat and the dog ran {'far ' * (i % 4)}", "metadata": {"n": i}}
             for i in range(12)]
QUERIES = ["the", "cat sat", "the dog", "mat and", "doc 3", "doc 9", "far far", "ran", "o"]
VERIFIED_IN_BACKGROUND = ("tokens.bin", "suffix_array.bin", "metadata.bin")
"""Files too large to read at open (the metadata is parsed one document at a time): their damage
may reach answers until verify finds it."""


@pytest.fixture(scope="module")
def pristine():
    folder = _layout()["sa"].parent
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
    _built_layout.clear()


def _answers(index: infgram.Index) -> list[str]:
    """Every answer the fuzzer compares, as text."""
    found = []
    for query in QUERIES:
        found.append(repr(index.count(query)))
        found.append(repr(index.count(query, by="n")))  # the value column (metadata_values.bin)
        found.append(repr(index.documents(query, limit=20)))
        if index.supports("next_tokens"):
            found.append(repr(index.next_tokens(query)))
            found.append(repr(index.infgram_probability("a cat sat on " + query, " ")))
            found.append(repr(index.search([[query]], within=10)))
    found.append(repr(index.count_batch(QUERIES).tolist()))
    return found


def _files(kind: str) -> list[str]:
    """The files of one built index (relative paths), manifest included."""
    folder = _layout()[kind]
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*")
                  if path.is_file() and path.name not in (".infgram-lock", "build-report.json"))


def _damages(size: int, seed: int) -> list[tuple[str, object]]:
    """(name, change) pairs for a file of ``size`` bytes; a change maps bytes to bytes."""
    header = 64 if size > 64 else 0
    chooser = random.Random(seed)

    def flip(offset: int, bit: int):
        def change(data: bytearray) -> bytes:
            data[offset] ^= 1 << bit
            return bytes(data)
        return change

    damages: list[tuple[str, object]] = []
    for offset in sorted({0, 8, 10, 14, 16, 24, 32, 40} if header else set()):
        damages.append((f"header byte {offset} flipped", flip(offset, 0)))
    payload = size - header
    if payload > 0:
        offsets = {header, header + payload // 2, size - 1, *(header + chooser.randrange(payload) for _ in range(17))}
        for offset in sorted(offsets):
            damages.append((f"byte {offset} flipped", flip(offset, chooser.randrange(8))))
        start = header + payload // 3
        damages.append(("16 bytes zeroed", lambda data: bytes(data[:start] + bytes(min(16, size - start)) +
                                                              data[start + 16:])))
    damages.append(("last byte cut", lambda data: bytes(data[:-1])))
    damages.append(("half cut", lambda data: bytes(data[: size // 2])))
    damages.append(("8 bytes appended", lambda data: bytes(data) + b"\x01" * 8))
    return damages


def fuzz_file(pristine: Path, scratch: Path, kind: str, relative: str) -> Counter:
    """Apply every damage to one file of a copy; the count of each outcome (see the module)."""
    expected = _answers(infgram.Index.open(pristine / kind))
    copy = scratch / kind
    shutil.copytree(pristine / kind, copy)
    path = copy / relative
    original = path.read_bytes()
    outcomes: Counter = Counter()
    for name, change in _damages(len(original), sum(relative.encode())):
        damaged = change(bytearray(original))
        if damaged == original:
            continue
        path.write_bytes(damaged)
        try:
            index = infgram.Index.open(copy)
            found = _answers(index)
        except infgram.IndexFormatError:
            outcomes["caught"] += 1
            continue
        if found == expected:
            outcomes["harmless"] += 1
            continue
        assert Path(relative).name in VERIFIED_IN_BACKGROUND, f"{relative}, {name}: wrong answers, no error at open"
        with pytest.raises(infgram.IndexFormatError):
            index.verify()
        outcomes["caught by verify"] += 1
    path.write_bytes(original)
    return outcomes


_built_layout: dict[str, Path] = {}


def _layout() -> dict[str, Path]:
    """The two indexes as the fixture builds them, to list their files at collection."""
    if not _built_layout:
        import tempfile

        folder = Path(tempfile.mkdtemp(prefix="infgram-fuzz-layout-"))
        atexit.register(shutil.rmtree, folder, True)  # also in processes that only collected the tests
        infgram.build_from_documents(DOCUMENTS, folder / "sa", shard_tokens=200, progress=False)
        remove(folder / "sa", documents=[3, 9], progress=False)
        infgram.build_from_documents(DOCUMENTS, folder / "fm", kind="fm", progress=False)
        _built_layout.update(sa=folder / "sa", fm=folder / "fm")
    return _built_layout


CASES = [(kind, relative) for kind in ("sa", "fm") for relative in _files(kind)]


@pytest.mark.parametrize(("kind", "relative"), CASES, ids=[f"{kind}:{relative}" for kind, relative in CASES])
def test_every_damage_is_caught_or_harmless(tmp_path, pristine, kind, relative):
    outcomes = fuzz_file(pristine, tmp_path, kind, relative)
    assert sum(outcomes.values()) >= 3
    print(f"\n{kind:2} {relative:36} " + json.dumps(dict(sorted(outcomes.items()))))


def test_fuzzer_covers_every_kind_of_file():
    names = {Path(relative).name.split("-")[-1] if relative.startswith("g") else Path(relative).name
             for _, relative in CASES}
    assert {"tokens.bin", "suffix_array.bin", "suffix_keys.bin", "documents.bin", "metadata.bin", "rows.bin",
            "fm_wavelet.bin", "fm_samples.bin", "manifest.json"} <= names


@pytest.mark.parametrize("renamed", ["removed_rows", "removed_documents"])
def test_a_removal_list_whose_manifest_key_is_damaged_is_an_error_not_a_document_back(renamed, tmp_path):
    """A flipped byte in a removal list's key ("removel_rows") would skip the list: the counts
    the manifest keeps beside it catch that."""
    copy = tmp_path / "sa"
    shutil.copytree(_layout()["sa"], copy)
    manifest = (copy / "manifest.json").read_text()
    assert f'"{renamed}"' in manifest
    (copy / "manifest.json").write_text(manifest.replace(f'"{renamed}"', f'"{renamed[:-1]}x"'))
    with pytest.raises(infgram.IndexFormatError, match="manifest is damaged"):
        infgram.Index.open(copy)
