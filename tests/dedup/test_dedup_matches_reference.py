"""Exact-substring deduplication against the brute-force reference (``_reference.duplicated_ranges``
and ``_reference.deduplicate``) on tiny corpora over 2- to 4-symbol alphabets, across
documents and shards, for both keep modes; and the output holds no repeat afterwards."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from unittest import mock

import infgram
from hypothesis import given, settings
from hypothesis import strategies as st

from infgram import _reference
from infgram.apps import dedup as dedup_module
from infgram.apps.dedup import OUTPUT_NAME, REPORT_NAME, dedup, find_duplicates
from conftest import build_id_index, corpora


@given(corpora(), st.integers(1, 5))
def test_duplicated_ranges_match_brute_force(corpus, min_length):
    width, _, documents, shard_tokens, key_step = corpus
    with tempfile.TemporaryDirectory() as folder:
        index = build_id_index(Path(folder) / "i", width, documents, shard_tokens, key_step)
        found = find_duplicates(index, min_length, progress=False)
        for keep in ("none", "first"):
            assert found.ranges(keep) == _reference.duplicated_ranges(documents, min_length, keep), keep
        statistics = found.statistics()
        assert statistics["duplicated_spans"] == len(found.ranges("none"))
        assert statistics["duplicated_tokens"] == sum(e - s for _, s, e in found.ranges("none"))


@settings(max_examples=40)
@given(corpora(), st.integers(1, 5), st.integers(1, 5))
def test_row_chunks_of_any_size_give_the_same_ranges(corpus, min_length, chunk_rows):
    # Budgets of a few rows: runs that do not fit a chunk, chunk ends inside runs, the merge
    # pointer carried between chunks of the cross-shard walk.
    width, _, documents, shard_tokens, key_step = corpus
    with tempfile.TemporaryDirectory() as folder, \
            mock.patch.multiple(dedup_module, MIN_CHUNK_ROWS=chunk_rows, MAX_CHUNK_ROWS=chunk_rows):
        index = build_id_index(Path(folder) / "i", width, documents, shard_tokens, key_step)
        found = find_duplicates(index, min_length, progress=False, memory="1G")
        for keep in ("none", "first"):
            assert found.ranges(keep) == _reference.duplicated_ranges(documents, min_length, keep), keep


TEXT_ALPHABETS = ["ab", "abc", "abcd", "aé", "a€b"]  # é and € are 2 and 3 bytes: ranges widen to them


@st.composite
def text_corpora(draw):
    alphabet = draw(st.sampled_from(TEXT_ALPHABETS))
    documents = draw(st.lists(st.text(alphabet, min_size=1, max_size=14), min_size=1, max_size=6))
    longest = max(len(d.encode()) for d in documents)
    shard_tokens = draw(st.one_of(st.none(), st.integers(longest + 1, longest + 20)))
    return documents, shard_tokens


@settings(max_examples=30)
@given(text_corpora(), st.integers(1, 4), st.sampled_from(["first", "none"]))
def test_dedup_output_matches_brute_force_and_holds_no_repeat(corpus, min_length, keep):
    documents, shard_tokens = corpus
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        infgram.build_from_documents([{"text": d, "metadata": {"n": i}} for i, d in enumerate(documents)],
                                     folder / "i", shard_tokens=shard_tokens, progress=False)
        report = dedup(folder / "i", folder / "out", min_length, keep, progress=False, shard_tokens=shard_tokens)
        lines = [json.loads(line) for line in (folder / "out" / OUTPUT_NAME).read_text("utf-8").splitlines()]
        expected, passes = _reference.deduplicate(documents, min_length, keep)
        assert [line["text"] for line in lines] == expected
        assert len(report.removed_per_pass) == passes
        # Metadata kept; `removed` are byte offsets of the original text, whole characters.
        kept_numbers = [line["n"] for line in lines]
        assert sorted(set(range(len(documents))) - set(kept_numbers)) == report.dropped_documents
        for line in lines:
            original = documents[line["n"]].encode()
            pieces, here = [], 0
            for start, end in line["removed"]:
                pieces.append(original[here:start])
                here = end
            assert b"".join(pieces + [original[here:]]).decode() == line["text"]
        assert json.loads((folder / "out" / REPORT_NAME).read_text())["passes"] == report.passes
        # A fresh index of the output holds no repeat of min_length bytes.
        if lines:
            infgram.build([folder / "out"], folder / "again", progress=False)
            again = find_duplicates(infgram.Index.open(folder / "again"), min_length, progress=False)
            assert again.ranges("none") == []
