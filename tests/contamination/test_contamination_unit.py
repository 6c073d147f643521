"""Windows, labels and benchmark reading, without an index."""

from __future__ import annotations

import gzip
import json

import pytest

import infgram
from infgram.apps.contamination import entry_text, label_of, read_benchmark, summarize, text_windows


def test_windows_are_characters_not_bytes():
    text = "é" * 60  # one word of 120 bytes: one window of 50 characters
    assert text_windows(text) == ["é" * 50]
    assert len(text_windows(text)[0].encode("utf-8")) == 100


def test_windows_start_at_every_word_with_room():
    words = " ".join(f"w{i:02d}" for i in range(30))  # 30 words of 3 characters: 119 characters
    windows = text_windows(words)
    assert windows[0].startswith("w00") and windows[-1].startswith("w17")
    assert len(windows) == 18 and all(len(window) == 50 for window in windows)  # w18 starts at 72 > 119 - 50


def test_short_or_late_starting_entries_are_one_window_of_the_trimmed_text():
    assert text_windows("  Keynes \n") == ["Keynes"]
    assert text_windows(" " * 60 + "a question at the end") == ["a question at the end"]


@pytest.mark.parametrize("windows, found, label", [
    (5, 0, "clean"), (5, 1, "suspicious"), (5, 3, "suspicious"), (5, 4, "dirty"), (5, 5, "dirty"),
    (10, 1, "clean"), (10, 2, "suspicious"), (10, 7, "suspicious"), (10, 8, "dirty"),
    (1, 0, "clean"), (1, 1, "dirty"), (49, 9, "clean"), (49, 10, "suspicious"), (49, 39, "suspicious"),
    (49, 40, "dirty"),
])
def test_labels_at_the_thresholds(windows, found, label):
    assert label_of(found, windows) == label


def test_bad_width_and_no_windows_are_named_errors():
    with pytest.raises(infgram.InputError, match="width"):
        text_windows("text", 0)
    with pytest.raises(infgram.InputError, match="at least one window"):
        label_of(0, 0)


def test_entry_text_fields_lists_and_templates():
    record = {"prompt": "def f():\n", "solution": "    return 1\n", "choices": ["a", 2], "n": 3}
    assert entry_text(record, ["prompt", "solution"]) == "def f():\n\n    return 1\n"
    assert entry_text(record, ["{prompt}{solution}"]) == "def f():\n    return 1\n"
    assert entry_text(record, ["{{literal}} {n}: {choices}"]) == "{literal} 3: a\n2"
    with pytest.raises(KeyError):
        entry_text(record, ["{missing}"])


def test_compressed_benchmark_and_blank_lines(tmp_path):
    path = tmp_path / "bench.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(json.dumps({"text": "one"}) + "\n\n" + json.dumps({"text": "two"}) + "\n")
    assert read_benchmark(path) == ["one", "two"]


def test_lone_surrogate_is_refused(tmp_path):
    path = tmp_path / "bench.jsonl"
    path.write_text('{"text": "broken \\ud800 pair"}\n', encoding="utf-8")
    with pytest.raises(infgram.InputError, match="surrogate"):
        read_benchmark(path)


def test_summary_of_no_entries_is_zero():
    summary = summarize([])
    assert summary["num_entries"] == 0 and summary["labels"]["clean"] == {"entries": 0, "share": 0.0}
