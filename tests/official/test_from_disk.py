"""Official indexes read from disk: the k-ary searches from infgram's sampled keys (written
beside the official files by ``infgram adopt``) answer exactly as the brute-force oracle, at
every key step and tier budget; damaged or stale keys are refused; format version 5 is refused.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import infgram
from infgram import _reference as reference
from infgram.apps.official import adopt, write_official_index
from infgram.errors import IndexFormatError
from infgram.shards.official import KEYS_NAME, SIDECAR_NAME, open_official_directory, write_official_keys

from conftest import run_cli

FIXTURES = Path(__file__).resolve().parent / "fixtures"
IDS = {1: [0, 1, 97, 0xfe], 2: [0, 1, 0x100, 0xff, 0xff00, 0xfffe], 4: [0, 7, 0x100ff, 0xfffffffe]}
"""Ids whose little-endian bytes hold zeros and 0xff: where raw byte order and keys padded with
zeros could go wrong."""


def official_files(folder: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir())
            if not path.name.startswith("infgram-")}


def write_keys(folder: Path, step: int) -> None:
    """Our keys at a chosen step (adopt writes every 32nd), recorded in the sidecar."""
    shards = open_official_directory(folder).shards
    sidecar = {"format": "infgram-adopted", "version": 1, "token_width": shards[0].token_width,
               "keys": {shard.name.rsplit(".", 1)[1]: write_official_keys(shard, step=step) for shard in shards}}
    (folder / SIDECAR_NAME).write_text(json.dumps(sidecar))


@st.composite
def cases(draw):
    width = draw(st.sampled_from([1, 2, 4]))
    alphabet = draw(st.lists(st.sampled_from(IDS[width]), min_size=2, max_size=4, unique=True))
    documents = draw(st.lists(st.lists(st.sampled_from(alphabet), min_size=0, max_size=14), min_size=1, max_size=6))
    num_shards = draw(st.integers(1, min(2, len(documents))))
    queries = draw(st.lists(st.lists(st.sampled_from(alphabet), max_size=10), min_size=1, max_size=6))
    step = draw(st.sampled_from([1, 2, 3, 32]))
    memory = draw(st.sampled_from([None, 0, 48]))
    return width, alphabet, documents, num_shards, queries, step, memory


@settings(deadline=None, max_examples=60)
@given(cases())
def test_from_disk_with_keys_matches_the_oracle(case):
    width, alphabet, documents, num_shards, queries, step, memory = case
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        write_official_index(folder, documents, width, num_shards)
        write_keys(folder, step)
        index = infgram.Index.open(folder, load="disk", memory=memory)
        assert index.info()["memory"]["load"] == "disk" and index.info()["memory"]["tier_bytes"] > 0
        order = [number for shard in range(num_shards) for number in range(shard, len(documents), num_shards)]
        corpus = [documents[number] for number in order]
        # Queries drawn from the documents too: long ones, and ones that end where the data ends.
        queries = queries + [document[start:] for document in documents for start in (0, len(document) // 2)]
        assert index.count_batch(queries).tolist() == [reference.count(corpus, q) for q in queries]
        for query in queries:
            assert index.count(query) == reference.count(corpus, query)
            result = index.next_tokens(query)
            assert [(t.id, t.count) for t in result.tokens] == reference.next_tokens(corpus, query)
            for next_id in alphabet:
                result = index.probability(query, next_id)
                assert (result.prompt_count, result.count) == reference.probability(corpus, query, next_id)
                result = index.infgram_probability(query, next_id)
                assert (result.suffix_length, result.prompt_count, result.count) == \
                    reference.infgram_probability(corpus, query, next_id)
            found = index.documents(query, limit=len(corpus) + 1)
            assert [(d.index, d.start) for d in found.documents] == reference.documents(corpus, query)
        sequence = [token for query in queries for token in query]
        matches = index.longest_matches(sequence)
        assert list(zip(matches.lengths, matches.counts)) == reference.longest_matches(corpus, sequence)
        probabilities = index.infgram_probabilities(sequence)
        assert list(zip(probabilities.suffix_lengths, probabilities.prompt_counts, probabilities.counts)) == \
            reference.infgram_probabilities(corpus, sequence)


@pytest.mark.parametrize("step", [1, 2])
def test_a_sample_shorter_than_the_query_at_the_end_of_the_data_is_not_in_its_run(tmp_path, step):
    """The last document has no separator after it: the suffix "01 00" (id 1) at the data's end
    ties with the query [1, 0] ("01 00 00 00") in its key (zeros padded), yet does not start
    with it. It must count once, not twice."""
    write_official_index(tmp_path, [[1, 0, 3], [5, 1]], token_width=2)
    write_keys(tmp_path, step)
    index = infgram.Index.open(tmp_path, load="disk")
    corpus = [[1, 0, 3], [5, 1]]
    for query in ([1, 0], [1], [1, 0, 3], [5, 1], [0], [5, 1, 0], [0, 3]):
        assert index.count(query) == reference.count(corpus, query), query


@pytest.mark.parametrize("name", ["u8-two", "u16-one"])
def test_adopt_writes_keys_that_the_disk_searches_use_and_nothing_official_changes(tmp_path, name):
    folder = tmp_path / name
    shutil.copytree(FIXTURES / name, folder)
    before = official_files(folder)
    result = run_cli("adopt", folder, "--json")
    assert result.returncode == 0, result.stderr
    sidecar = json.loads(result.stdout)
    assert "tokenizer" not in sidecar and set(sidecar["keys"]) == {path.name.split(".")[1]
                                                                  for path in folder.glob("tokenized.*")}
    assert sorted(path.name for path in folder.glob("infgram-keys.*")) == \
        sorted(KEYS_NAME.format(name=number) for number in sidecar["keys"])
    assert official_files(folder) == before
    in_memory, from_disk = infgram.Index.open(FIXTURES / name, load="ram"), infgram.Index.open(folder, load="disk")
    memory = from_disk.info()["memory"]
    assert memory["tier_bytes"] == sum(path.stat().st_size - 64 for path in folder.glob("infgram-keys.*"))
    assert memory["key_steps"] == [32]
    wide = [[1, 2, 3], [0x101, 0xff]] if name.startswith("u16") else [[32, 97]]
    for query in ([], [114, 111, 115, 101], [9, 9, 9], [101], *wide):
        assert from_disk.count(query) == in_memory.count(query)
    # The tokenizer given later is kept with the keys; --no-keys leaves them out.
    assert run_cli("adopt", folder, "--tokenizer", "bytes" if name.startswith("u8") else str(FIXTURES / "missing"),
                   "--no-keys").returncode == (0 if name.startswith("u8") else 1)
    if name.startswith("u8"):
        assert "keys" not in json.loads((folder / SIDECAR_NAME).read_text())
        assert infgram.Index.open(folder, load="disk").info()["memory"]["tier_bytes"] == 0


def test_damaged_or_stale_keys_are_refused(tmp_path):
    folder = tmp_path / "u8-one"
    shutil.copytree(FIXTURES / "u8-one", folder)
    adopt(folder, "bytes")
    keys = folder / KEYS_NAME.format(name=0)
    data = bytearray(keys.read_bytes())
    data[64 + 3] ^= 0xFF  # a byte of the first key
    keys.write_bytes(bytes(data))
    infgram.Index.open(folder, load="ram")  # in memory the keys are not used, nor read
    with pytest.raises(IndexFormatError, match="checksum.*infgram adopt"):
        infgram.Index.open(folder, load="disk")
    keys.unlink()
    with pytest.raises(IndexFormatError, match="do not fit.*infgram adopt"):
        infgram.Index.open(folder)
    sidecar = json.loads((folder / SIDECAR_NAME).read_text())
    sidecar["keys"]["0"] = {"path": keys.name}
    (folder / SIDECAR_NAME).write_text(json.dumps(sidecar))
    with pytest.raises(IndexFormatError, match="malformed entry.*infgram adopt"):
        infgram.Index.open(folder)


def test_format_version_5_is_refused_as_out_of_scope(tmp_path):
    named = tmp_path / "v5_pileval_llama"
    shutil.copytree(FIXTURES / "u8-one", named)
    with pytest.raises(IndexFormatError, match="format version 5.*reversed.*out of scope"):
        infgram.Index.open(named)
    result = run_cli("count", named, "rose")
    assert result.returncode != 0 and "out of scope" in result.stderr and "Traceback" not in result.stderr
    one_file = tmp_path / "later"
    one_file.mkdir()
    for name in ("tokenized", "table", "offset"):
        shutil.copyfile(FIXTURES / "u8-one" / f"{name}.0", one_file / name)
    with pytest.raises(IndexFormatError, match="one-file layout.*out of scope"):
        infgram.Index.open(one_file)
    version_four = tmp_path / "v4_pileval_llama"
    shutil.copytree(FIXTURES / "u8-one", version_four)
    assert infgram.Index.open(version_four).count("rose") == infgram.Index.open(FIXTURES / "u8-one").count("rose")
