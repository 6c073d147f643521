"""Deduplication's stated rules, refusals and command line (the brute-force comparison is in
test_dedup_matches_reference.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import infgram
from conftest import assert_one_line_error, build_id_index, run_cli
from infgram.apps.dedup import OUTPUT_NAME, REPORT_NAME, dedup, find_duplicates
from infgram.errors import IndexFormatError, InputError, UnsupportedOperationError


def _lines(folder):
    return [json.loads(line) for line in (folder / OUTPUT_NAME).read_text("utf-8").splitlines()]


def test_self_repeat_keeps_the_first_window_under_keep_first_and_nothing_under_keep_none(tmp_path):
    infgram.build_from_documents(["aaaaa", "xy"], tmp_path / "i", progress=False)
    found = find_duplicates(tmp_path / "i", min_length=2, progress=False)
    assert found.ranges("first") == [(0, 2, 5)]  # the later copies cut only beyond the first "aa"
    assert found.ranges("none") == [(0, 0, 5)]
    dedup(tmp_path / "i", tmp_path / "first", 2, "first", progress=False)
    assert [line["text"] for line in _lines(tmp_path / "first")] == ["aa", "xy"]
    report = dedup(tmp_path / "i", tmp_path / "none", 2, "none", progress=False)
    assert [line["text"] for line in _lines(tmp_path / "none")] == ["xy"]
    assert report.dropped_documents == [0]


def test_repeats_across_shards_are_found_and_the_first_copy_is_in_the_earlier_shard(tmp_path):
    index = build_id_index(tmp_path / "i", 2, [[5, 6, 7, 8], [1, 1], [9, 5, 6, 7]], shard_tokens=6)
    assert len(index.shards) >= 2
    found = find_duplicates(index, min_length=3, progress=False)
    assert found.ranges("first") == [(2, 1, 4)]
    assert found.ranges("none") == [(0, 0, 3), (2, 1, 4)]


def test_ranges_widen_to_whole_characters(tmp_path):
    # é is c3 a9 and è is c3 a8: the repeat "a\xc3" ends inside è, so the cut takes all of it.
    infgram.build_from_documents(["xaé", "yaè"], tmp_path / "i", progress=False)
    dedup(tmp_path / "i", tmp_path / "out", 2, "first", progress=False)
    lines = _lines(tmp_path / "out")
    assert [line["text"] for line in lines] == ["xaé", "y"]
    assert lines[1]["removed"] == [[1, 4]]


def test_statistics_and_plot(tmp_path):
    infgram.build_from_documents(["the cat sat on the mat", "a cat sat on a hat", "dog"], tmp_path / "i",
                                 progress=False)
    result = run_cli("duplicates", tmp_path / "i", "--min-length", 8, "--json", "--quiet", "--plot",
                     tmp_path / "h.svg")
    assert result.returncode == 0, result.stderr
    statistics = json.loads(result.stdout)
    assert statistics["duplicated_spans"] == 2 and statistics["duplicated_tokens"] == 24
    assert statistics["documents_touched"] == 2 and statistics["removed_keep_first_tokens"] == 12
    assert statistics["most_repeated"][0]["count"] == 2 and statistics["most_repeated"][0]["text"] == " cat sat on "
    assert statistics["length_histogram"] == [{"from": 8, "to": 16, "count": 2}]
    assert (tmp_path / "h.svg").read_text().startswith("<svg")


def test_cli_dedup_output_can_be_indexed_directly(tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"text": t, "id": i}) + "\n"
                              for i, t in enumerate(["one two three four", "zero one two three four five", "x"])))
    assert run_cli("build", corpus, "--out", tmp_path / "i").returncode == 0
    result = run_cli("dedup", tmp_path / "i", "--min-length", 10, "--out", tmp_path / "out", "--quiet", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["removed_bytes"] == len("one two three four")
    lines = _lines(tmp_path / "out")
    assert [(line["text"], line["id"]) for line in lines] == [("one two three four", 0), ("zero  five", 1), ("x", 2)]
    assert json.loads((tmp_path / "out" / REPORT_NAME).read_text())["dropped_documents"] == []
    assert run_cli("build", tmp_path / "out", "--out", tmp_path / "again").returncode == 0
    assert infgram.Index.open(tmp_path / "again").num_documents == 3
    said = run_cli("dedup", tmp_path / "i", "--min-length", 10, "--out", tmp_path / "told", "--quiet")
    assert str(tmp_path / "told" / REPORT_NAME) in said.stdout + said.stderr  # where the report is, said


def test_fm_and_token_indexes_are_refused_with_the_alternative(tmp_path):
    infgram.build_from_documents(["abcabc"], tmp_path / "fm", kind="fm", progress=False)
    with pytest.raises(UnsupportedOperationError, match="--kind sa"):
        find_duplicates(tmp_path / "fm", 2, progress=False)
    assert_one_line_error(run_cli("dedup", tmp_path / "fm", "--out", tmp_path / "o"), "--kind sa")
    build_id_index(tmp_path / "ids", 2, [[1, 2, 1, 2]], None)
    assert find_duplicates(tmp_path / "ids", 2, progress=False).ranges("none") == [(0, 0, 4)]  # counted in tokens
    with pytest.raises(UnsupportedOperationError, match="byte index"):
        dedup(tmp_path / "ids", tmp_path / "o", 2, progress=False)


def test_a_damaged_suffix_array_is_an_index_format_error(tmp_path):
    infgram.build_from_documents(["abcabcabc", "bcab"], tmp_path / "i", progress=False)
    shard = infgram.Index.open(tmp_path / "i").shards[0]
    damaged = np.array(shard.suffix_array_bytes).copy()
    damaged[shard.pointer_width * 3 : shard.pointer_width * 4] = 0xFF
    shard.suffix_array_bytes = damaged
    with pytest.raises(IndexFormatError, match="suffix_array entry 3"):
        shard.neighbours_share_prefix(0, shard.num_positions, 2)


def test_a_budget_below_the_marks_is_refused_with_what_it_needs(tmp_path):
    infgram.build_from_documents(["abcabc" * 1000], tmp_path / "i", progress=False)
    with pytest.raises(InputError, match=r"expected a memory budget of at least .* found .*--memory"):
        find_duplicates(tmp_path / "i", 3, progress=False, memory=1000)
    assert_one_line_error(run_cli("duplicates", tmp_path / "i", "--memory", "1K", "--quiet"), "--memory")
    with pytest.raises(InputError, match="memory budget above 0"):
        find_duplicates(tmp_path / "i", 3, progress=False, memory=0)


def test_the_memory_option_does_not_change_the_result(tmp_path):
    documents = ["the cat sat on the mat", "a cat sat on a hat", "the cat sat on the mat again"]
    infgram.build_from_documents(documents, tmp_path / "i", shard_tokens=30, progress=False)
    default = find_duplicates(tmp_path / "i", 6, progress=False)
    small = find_duplicates(tmp_path / "i", 6, progress=False, memory="1G")
    assert small.ranges("first") == default.ranges("first") and small.ranges("none") == default.ranges("none")
    dedup(tmp_path / "i", tmp_path / "a", 6, progress=False)
    dedup(tmp_path / "i", tmp_path / "b", 6, progress=False, memory="1G")
    assert _lines(tmp_path / "a") == _lines(tmp_path / "b")
