"""Every operation gives the same answers whether the index lives in memory or on disk.

An index opened with ``load="disk"`` searches with the k-ary searches of
``c/sa_search.c`` ("Searching from disk") and a RAM tier of sampled keys sized by a budget
(every 2nd, 4th, ... key kept when the budget is small); one opened with ``load="ram"``
searches with plain binary searches. The engine test (``test_engine_matches_reference``)
checks counts, probabilities, next tokens and documents against the oracle under each
placement; this one checks the operations built on the searches (longest matches, the ∞-gram
along a sequence, search, attribution, drafting) against the in-memory answers of the same
index, and the RAM tier's size against its budget.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import infgram
from infgram import _reference as reference

from conftest import build_id_index as build, corpora


@given(corpora(), st.data())
def test_operations_answer_the_same_from_disk(case, data):
    width, alphabet, documents, shard_tokens, key_step = case
    sequence = data.draw(st.lists(st.sampled_from(alphabet), min_size=0, max_size=12))
    memory = data.draw(st.sampled_from([None, 0, 8, 24]))
    with tempfile.TemporaryDirectory() as folder:
        in_memory = build(Path(folder) / "index", width, documents, shard_tokens, key_step)
        in_memory.place("ram")
        from_disk = infgram.Index.open(Path(folder) / "index", load="disk", memory=memory)
        assert from_disk.info()["memory"]["load"] == "disk"
        expected = reference.longest_matches(documents, sequence)
        for index in (in_memory, from_disk):
            matches = index.longest_matches(sequence)
            assert list(zip(matches.lengths, matches.counts)) == expected
            scored = index.infgram_probabilities(sequence)
            assert list(zip(scored.suffix_lengths, scored.prompt_counts, scored.counts)) == \
                reference.infgram_probabilities(documents, sequence)
        assert from_disk.longest_matches(sequence) == in_memory.longest_matches(sequence)
        assert from_disk.infgram_probabilities(sequence) == in_memory.infgram_probabilities(sequence)
        assert from_disk.attribute(sequence) == in_memory.attribute(sequence)
        assert from_disk.draft(sequence[:3], max_tokens=4) == in_memory.draft(sequence[:3], max_tokens=4)
        if sequence:
            cnf = [[sequence[:2]], [sequence[-1:]]]
            assert from_disk.search(cnf, limit=10) == in_memory.search(cnf, limit=10)


def test_the_ram_tier_stays_within_its_budget(tmp_path):
    """The records kept in memory never exceed the budget (but for one per shard), and a
    budget of nothing still answers."""
    documents = [[(i * 7 + j) % 5 for j in range(40)] for i in range(50)]
    build(tmp_path / "index", 1, documents, None, 1)
    whole = infgram.Index.open(tmp_path / "index", load="disk", memory="1G").info()["memory"]
    assert whole["key_steps"] == [1] and whole["tier_bytes"] > 1000
    for budget in (0, 100, 1000):
        index = infgram.Index.open(tmp_path / "index", load="disk", memory=budget)
        memory = index.info()["memory"]
        assert memory["tier_bytes"] <= max(budget, 16)  # one record (a key and a position) at least
        assert index.count([1, 3]) == reference.count(documents, [1, 3])


def test_a_bad_load_or_budget_is_refused(tmp_path):
    build(tmp_path / "index", 1, [[1, 2, 3]], None, 1)
    for load, memory, words in (("fast", None, "expected load to be one of auto, ram, disk"),
                                ("disk", "lots", "cannot read the query memory budget"),
                                ("disk", -5, "expected a query memory budget of 0 or more")):
        try:
            infgram.Index.open(tmp_path / "index", load=load, memory=memory)
        except infgram.QueryError as error:
            assert words in str(error)
        else:
            raise AssertionError(f"load={load!r}, memory={memory!r} was accepted")


def test_an_fm_index_answers_the_same_from_disk(tmp_path):
    texts = ["a rose is a rose is a rose", "roses are red", "is it"]
    infgram.build_from_documents(texts, tmp_path / "fm", kind="fm", progress=False)
    in_memory = infgram.Index.open(tmp_path / "fm", load="ram")
    from_disk = infgram.Index.open(tmp_path / "fm", load="disk")
    assert from_disk.info()["memory"]["load"] == "disk"
    for query in ("rose", "a rose", "is", "zzz", ""):
        assert from_disk.count(query) == in_memory.count(query) == reference.count(
            [list(t.encode()) for t in texts], list(query.encode()))


def test_damaged_suffix_keys_are_caught_at_open(tmp_path):
    """A key or a position changed in suffix_keys.bin (values still in range, so the searches
    could not tell) makes opening fail, in every load mode."""
    infgram.build_from_documents(["a rose is a rose", "roses are red"], tmp_path / "index", progress=False)
    path = tmp_path / "index" / "shard-00000" / "suffix_keys.bin"
    data = bytearray(path.read_bytes())
    data[64 + 3] ^= 0x01  # a byte of the first key
    path.write_bytes(bytes(data))
    for load in ("ram", "disk"):
        try:
            infgram.Index.open(tmp_path / "index", load=load)
        except infgram.IndexFormatError as error:
            assert "suffix_keys.bin does not match its checksum" in str(error)
        else:
            raise AssertionError(f"a damaged suffix_keys.bin opened with load={load!r}")


@given(corpora(), st.data())
def test_the_longest_suffix_of_a_long_prompt_is_found_from_disk(case, data):
    # Prompts longer than 64 tokens take the first round that probes doubling lengths, and
    # then the round that probes every start left; their tail is a piece of a document, so
    # that the longest suffix that occurs has any length.
    width, alphabet, documents, shard_tokens, key_step = case
    document = data.draw(st.sampled_from(documents))
    start = data.draw(st.integers(0, len(document)))
    tail = list(document[start : start + data.draw(st.integers(0, 40))])
    head = data.draw(st.lists(st.sampled_from(alphabet), min_size=65, max_size=90))
    prompt = head + tail
    next_id = data.draw(st.sampled_from(alphabet))
    with tempfile.TemporaryDirectory() as folder:
        build(Path(folder) / "index", width, documents, shard_tokens, key_step)
        from_disk = infgram.Index.open(Path(folder) / "index", load="disk")
        result = from_disk.infgram_probability(prompt, next_id)
        assert (result.suffix_length, result.prompt_count, result.count) == \
            reference.infgram_probability(documents, prompt, next_id)


def test_processes_that_share_a_tier_directory_map_one_sparser_tier(tmp_path):
    """A tier sparser than the keys file (the keys exceed the budget) is kept once in a folder
    the processes of one server share, and every index opened with it maps that file: the
    same answers, one file, however many open it; a damaged one is refused."""
    documents = [[(i * 7 + j) % 5 for j in range(40)] for i in range(50)]
    build(tmp_path / "index", 1, documents, None, 1)
    shared = tmp_path / "shared"
    shared.mkdir()
    opened = [infgram.Index.open(tmp_path / "index", load="disk", memory=1000, tier_directory=shared)
              for _ in range(3)]
    tiers = sorted(path.name for path in shared.iterdir() if not path.name.endswith(".lock"))
    assert len(tiers) == 1 and tiers[0].startswith("tier-")
    step = opened[0].info()["memory"]["key_steps"][0]
    assert step > 1 and all(index.info()["memory"]["key_steps"] == [step] for index in opened)
    for query in ([1, 3], [0], [4, 1, 3], []):
        assert {index.count(query) for index in opened} == {reference.count(documents, query)}
    for index in opened:
        index.close()
    tier = shared / tiers[0]
    data = bytearray(tier.read_bytes())
    data[-1] ^= 0xFF
    tier.write_bytes(bytes(data))
    with pytest.raises(infgram.IndexFormatError, match="shared RAM tier"):
        infgram.Index.open(tmp_path / "index", load="disk", memory=1000, tier_directory=shared)
