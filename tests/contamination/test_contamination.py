"""``infgram contamination`` on a synthetic corpus where every entry's label is known in advance.

The corpus is random words (letters with accents and CJK characters, so characters and bytes
differ), which never repeat by chance. Each benchmark entry is built from pieces copied from
the corpus and fresh random words; a window is found exactly when it lies inside a copied
piece, which fixes the label by construction:

- dirty: a whole copied passage (every window found), or one with two fresh words at its end;
- suspicious: a copied passage followed by as many fresh words;
- clean: only fresh words, or fresh words ending in a short copied phrase;
- short entries (under 50 characters, one window of the whole text): a copied phrase is
  dirty, fresh words are clean.
"""

from __future__ import annotations

import json
import random
from types import SimpleNamespace

import pytest

import infgram
from conftest import assert_one_line_error, run_cli, shared_tokenizer
from infgram import _reference as reference
from infgram.apps.contamination import DIRTY, SUSPICIOUS, CLEAN, contamination, read_benchmark
from infgram.service.batch import run_batch

LETTERS = "bcdfghjklmnpqrstvwxzäöüñé日本語"


def _words(rng: random.Random, count: int) -> list[str]:
    return ["".join(rng.choice(LETTERS) for _ in range(rng.randint(4, 9))) for _ in range(count)]


def _synthetic():
    rng = random.Random(20250101)
    documents = [" ".join(_words(rng, 120)) for _ in range(12)]

    def copied(document: int, first_word: int, count: int) -> str:
        return " ".join(documents[document].split(" ")[first_word : first_word + count])

    def fresh(count: int) -> str:
        return " ".join(_words(rng, count))

    entries = [
        (DIRTY, copied(2, 10, 40)),
        (DIRTY, copied(5, 0, 60) + " " + fresh(2)),
        (SUSPICIOUS, copied(7, 30, 20) + " " + fresh(20)),
        (SUSPICIOUS, fresh(15) + "\n" + copied(1, 50, 25)),
        (CLEAN, fresh(40)),
        (CLEAN, fresh(50) + " " + copied(3, 3, 9)),
        (DIRTY, copied(9, 4, 3)),  # short: one window, found
        (CLEAN, fresh(3)),  # short: one window, not found
    ]
    return documents, entries


DOCUMENTS, ENTRIES = _synthetic()


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    folder = tmp_path_factory.mktemp("contamination")
    infgram.build_from_documents([{"text": d, "metadata": {"name": f"doc{i}"}} for i, d in enumerate(DOCUMENTS)],
                                 folder / "index", progress=False)
    benchmark = folder / "benchmark.jsonl"
    benchmark.write_text("".join(json.dumps({"question": text, "expected": label}, ensure_ascii=False) + "\n"
                                 for label, text in ENTRIES), encoding="utf-8")
    return SimpleNamespace(folder=folder, index=folder / "index", benchmark=benchmark)


def test_every_label_is_the_one_built_in(synthetic):
    index = infgram.Index.open(synthetic.index)
    results = contamination(index, [text for _, text in ENTRIES])
    assert [r.label for r in results] == [label for label, _ in ENTRIES]
    for (_, text), result in zip(ENTRIES, results):
        assert (result.windows, result.found) == reference.contamination(DOCUMENTS, text)
    assert results[0].fraction == 1.0 and results[4].found == 0 and 0 < results[5].found
    example = results[0].example
    assert example["document"] == 2 and example["metadata"] == {"name": "doc2"}
    assert example["window"] in example["snippet"] and example["count"] == 1


def test_cli_writes_entries_summary_and_an_offline_html_report(synthetic, run):
    out = synthetic.folder / "report"
    result = run("contamination", synthetic.index, synthetic.benchmark, "--text-field", "question", "--out", out, "--quiet")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    for line in ("clean               3", "suspicious          2", "dirty               3", "total               8"):
        assert line in result.stdout, result.stdout
    entries = [json.loads(line) for line in (out / "entries.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [e["index"] for e in entries] == list(range(len(ENTRIES)))
    assert all(set(e) == {"index", "windows", "found", "fraction", "label", "example", "span_words", "span_count",
                          "span"} for e in entries)
    assert entries[0]["span_words"] == 40 and entries[0]["span_count"] == 1 and entries[4]["span_words"] == 0
    assert [e["label"] for e in entries] == [label for label, _ in ENTRIES]
    assert entries[4]["example"] is None and entries[0]["example"]["document"] == 2
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["num_entries"] == 8 and summary["labels"]["suspicious"] == {"entries": 2, "share": 0.25}
    assert summary["short_entries"] == {"entries": 2, "clean": 1, "suspicious": 0, "dirty": 1}
    report = (out / "report.html").read_text(encoding="utf-8")
    assert report.count("<svg") == 2 and report.count("</svg>") == 2
    assert "histogram of the fraction" in report and "share of entries per label" in report
    # Offline: nothing to fetch and nothing to run.
    for forbidden in ("<script", "src=", "<link", "@import", "url("):
        assert forbidden not in report
    assert not list(out.glob("*.partial"))


def test_cli_json_summary_and_fields(synthetic, run, tmp_path):
    benchmark = tmp_path / "mmlu.jsonl"
    copied = " ".join(DOCUMENTS[0].split(" ")[:30])
    benchmark.write_text(json.dumps({"text": copied, "choices": ["yes", "no"], "answer": "A"}) + "\n", encoding="utf-8")
    alone = json.loads(run("contamination", synthetic.index, benchmark, "--json", "--quiet").stdout)
    with_choices = json.loads(run("contamination", synthetic.index, benchmark, "--text-field", "text", "--text-field", "choices",
                                  "--json", "--quiet").stdout)
    template = json.loads(run("contamination", synthetic.index, benchmark, "--text-field", "{text} ({answer})",
                              "--json", "--quiet").stdout)
    assert alone["labels"]["dirty"]["entries"] == 1 and alone["num_windows_found"] == alone["num_windows"]
    # The choices add windows that are not in the corpus.
    assert with_choices["num_windows"] > alone["num_windows"] == with_choices["num_windows_found"]
    assert template["fields"] == ["{text} ({answer})"] and template["labels"]["dirty"]["entries"] == 1
    assert read_benchmark(benchmark, ["{text} ({answer})"]) == [copied + " (A)"]
    assert read_benchmark(benchmark, ["text", "choices"]) == [copied + "\nyes\nno"]


BAD_BENCHMARKS = {
    "invalid_json": (b'{"text": "fine"}\n{"text": "unterminated\n', ("benchmark.jsonl:2", "invalid JSON")),
    "not_an_object": (b'["text"]\n', ("benchmark.jsonl:1", "JSON object")),
    "missing_field": (b'{"question": "what?"}\n', ("benchmark.jsonl:1", "'text'", "'question'", "--text-field")),
    "wrong_type": (b'{"text": {"a": 1}}\n', ("benchmark.jsonl:1", "dict")),
    "empty_text": (b'{"text": "  "}\n', ("benchmark.jsonl:1", "only whitespace")),
    "invalid_utf8": (b'{"text": "caf\xe9"}\n', ("benchmark.jsonl:1", "UTF-8")),
    "empty_file": (b"", ("at least one entry", "found none")),
    "blank_file": (b"\n  \n", ("at least one entry",)),
}


@pytest.mark.parametrize("case", sorted(BAD_BENCHMARKS))
def test_bad_benchmark_is_a_named_error_and_one_cli_line(synthetic, run, tmp_path, case):
    content, fragments = BAD_BENCHMARKS[case]
    benchmark = tmp_path / "benchmark.jsonl"
    benchmark.write_bytes(content)
    with pytest.raises(infgram.InputError):
        read_benchmark(benchmark)
    result = run("contamination", synthetic.index, benchmark, "--out", tmp_path / "report", "--quiet")
    assert_one_line_error(result, *fragments)
    assert not (tmp_path / "report").exists()


def test_missing_benchmark_and_unknown_format(synthetic, run, tmp_path):
    assert_one_line_error(run("contamination", synthetic.index, tmp_path / "nope.jsonl"), "does not exist")
    (tmp_path / "bench.csv").write_text("text\nhello\n")
    assert_one_line_error(run("contamination", synthetic.index, tmp_path / "bench.csv"), "JSON Lines")


def test_entries_without_text_are_refused_from_python(synthetic):
    index = infgram.Index.open(synthetic.index)
    with pytest.raises(infgram.InputError, match="entry 1"):
        contamination(index, ["fine", " \n "])


def test_token_index_is_refused_with_the_index_kind_that_works(tmp_path):
    tokenizer = shared_tokenizer("sp32k")
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"text": DOCUMENTS[0]}) + "\n", encoding="utf-8")
    benchmark = tmp_path / "benchmark.jsonl"
    benchmark.write_text(json.dumps({"text": "a question"}) + "\n", encoding="utf-8")
    assert run_cli("build", corpus, "--out", tmp_path / "index", "--tokenizer", tokenizer, "--quiet").returncode == 0
    with pytest.raises(infgram.UnsupportedOperationError, match="byte"):
        contamination(infgram.Index.open(tmp_path / "index"), ["a question"])
    result = run_cli("contamination", tmp_path / "index", benchmark)
    assert_one_line_error(result, "UTF-8 bytes", "without --tokenizer")


def test_batch_op(synthetic):
    index = infgram.Index.open(synthetic.index)
    requests = [json.dumps({"op": "contamination", "text": ENTRIES[0][1]}), '{"op": "contamination", "text": 3}',
                json.dumps({"op": "contamination", "text": ENTRIES[4][1]})]
    replies = [json.loads(line) for line in run_batch(index, requests)]
    assert replies[0]["op"] == "contamination" and replies[0]["label"] == DIRTY and replies[0]["fraction"] == 1.0
    assert "index" not in replies[0] and replies[0]["example"]["document"] == 2
    assert replies[1]["error"]["type"] == "QueryError"
    assert replies[2]["label"] == CLEAN and replies[2]["example"] is None


def test_field_is_a_deprecated_alias_of_text_field(synthetic, run):
    old = run("contamination", synthetic.index, synthetic.benchmark, "--field", "question", "--json", "--quiet")
    new = run("contamination", synthetic.index, synthetic.benchmark, "--text-field", "question", "--json", "--quiet")
    assert old.returncode == new.returncode == 0, old.stderr
    old_summary, new_summary = json.loads(old.stdout), json.loads(new.stdout)
    assert old_summary["fields"] == new_summary["fields"] == ["question"]
    assert old_summary["labels"] == new_summary["labels"]
    assert "--field is now --text-field" in old.stderr and new.stderr == ""


def test_report_ranks_by_evidence_and_breaks_labels_down_by_a_field(synthetic, run, tmp_path):
    """A one-word entry found everywhere is dirty, but the weakest evidence: the report ranks
    the entries by the longest stretch found (in words), then by its rarity; --group-by
    breaks the labels down by a field (MMLU's subject), and the text quotes the bars' labels."""
    common = DOCUMENTS[0].split(" ")[0]
    rows = [{"question": common, "subject": "economics"},                                   # one word: weak
            {"question": " ".join(DOCUMENTS[3].split(" ")[20:60]), "subject": "law"},          # 40 words: strong
            {"question": " ".join(DOCUMENTS[4].split(" ")[5:20]), "subject": "law"},           # 15 words
            {"question": " ".join(_words(random.Random(3), 30)), "subject": "economics"}]      # clean
    benchmark = tmp_path / "subjects.jsonl"
    benchmark.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    out = tmp_path / "report"
    result = run("contamination", synthetic.index, benchmark, "--text-field", "question", "--group-by", "subject",
                 "--out", out, "--quiet")
    assert result.returncode == 0, result.stderr
    assert "by subject (most dirty first; 2 groups):" in result.stdout
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert [group["group"] for group in summary["groups"]] == ["law", "economics"]
    assert summary["groups"][0]["dirty"] == 2 and summary["groups"][1]["clean"] == 1
    entries = [json.loads(line) for line in (out / "entries.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [e["span_words"] for e in entries] == [1, 40, 15, 0]
    assert [e["group"] for e in entries] == ["economics", "law", "law", "economics"]
    report = (out / "report.html").read_text(encoding="utf-8")
    ranked = report.split("strongest evidence")[-1]
    order = [ranked.index(f"<tr><td class=n>{number}<br>") for number in (1, 2, 0)]
    assert order == sorted(order)  # 40 words, then 15, then the one-word entry
    assert "The leftmost bar, 0.00-0.05, holds 1 of 4 entries" in report and "0.00-0.05: 1 entries" in report
