"""One command-line grammar (issue 28): any text file in, ``--text-field`` that never takes
the inputs, text given the same way to every command, ``--json`` everywhere, completion, and
output a person can read."""

from __future__ import annotations

import json

import pytest

import infgram


def _code_folder(tmp_path):
    folder = tmp_path / "src"
    (folder / "pkg").mkdir(parents=True)
    (folder / "pkg" / "a.py").write_bytes('def f():\n    return "café"\n'.encode())
    (folder / "pkg" / "b.py").write_bytes(b"bad \xff byte\n")
    (folder / "pkg" / "notes.cfg").write_bytes(b"unknown kind, not named\n")
    (folder / "README").write_bytes(b"no extension at all\n")
    return folder


# -- any text in ----------------------------------------------------------------------------------------------

def test_include_reads_files_of_unknown_kind_as_text(tmp_path, run):
    folder = _code_folder(tmp_path)
    result = run("build", "--include", "*.py", folder, "--out", tmp_path / "idx", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "files read as: plain text (unknown kind, named by --include) 2" in result.stdout
    assert run("count", tmp_path / "idx", "café").stdout.strip() == "1"
    # An invalid byte is replaced, as UTF-8 decoders usually do, not refused.
    assert run("count", tmp_path / "idx", "bad \ufffd byte").stdout.strip() == "1"
    stored = json.loads((tmp_path / "idx" / "build-report.json").read_text())
    assert set(stored["read_as"].values()) == {"plain text (unknown kind, named by --include)"}


def test_format_text_reads_every_file_as_one_document(tmp_path, run):
    folder = _code_folder(tmp_path)
    (folder / "data.jsonl").write_text('{"text": "not parsed"}\n')
    result = run("build", "--format", "text", folder, "--out", tmp_path / "idx", "--quiet", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["num_documents"] == 5
    assert set(report["read_as"].values()) == {"plain text (--format text)"}
    assert run("count", tmp_path / "idx", '{"text": "not parsed"}').stdout.strip() == "1"


def test_unknown_kinds_not_named_stay_an_error(tmp_path, run):
    folder = _code_folder(tmp_path)
    result = run("build", folder, "--out", tmp_path / "idx")
    assert result.returncode == 1 and "expected a name ending in" in result.stderr


def test_reading_in_python_says_how_each_file_was_read(tmp_path):
    folder = _code_folder(tmp_path)
    report = infgram.build([folder], tmp_path / "idx", include=["*.py", "README"], progress=False)
    assert report.num_documents == 3 and report.read_as[str(folder / "README")].startswith("plain text")
    with pytest.raises(infgram.InputError, match="expected the format to read inputs in"):
        infgram.build([folder], tmp_path / "other", format="binary", progress=False)


# -- --text-field ---------------------------------------------------------------------------------------------

@pytest.fixture
def nested(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "d.jsonl").write_text(json.dumps({"meta": {"body": "hello world"}, "title": "Greeting"}) + "\n")
    return data


def test_text_field_before_the_inputs_does_not_take_them(tmp_path, run, nested):
    result = run("build", "--out", tmp_path / "idx", "--text-field", "meta.body", nested, "--quiet")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert run("count", tmp_path / "idx", "hello world").stdout.strip() == "1"


def test_text_field_repeats(tmp_path, run, nested):
    result = run("build", "--out", tmp_path / "idx", "--text-field", "title", "--text-field", "meta.body", nested,
                 "--quiet")
    assert result.returncode == 0 and result.stderr == ""
    assert run("count", tmp_path / "idx", "Greeting\nhello world").stdout.strip() == "1"


def test_text_field_template_stays(tmp_path, run, nested):
    result = run("build", nested, "--out", tmp_path / "idx", "--text-field", "{title}: {meta.body}", "--quiet")
    assert result.returncode == 0, result.stderr
    assert run("count", tmp_path / "idx", "Greeting: hello world").stdout.strip() == "1"


def test_old_form_of_several_fields_still_works_with_a_warning(tmp_path, run, nested):
    result = run("build", "--out", tmp_path / "idx", "--text-field", "title", "meta.body", nested, "--quiet")
    assert result.returncode == 0, result.stderr
    assert "--text-field title --text-field meta.body" in result.stderr and "deprecated" in result.stderr
    assert run("count", tmp_path / "idx", "Greeting\nhello world").stdout.strip() == "1"


def test_text_field_without_inputs_is_a_usage_error(tmp_path, run):
    with pytest.raises(SystemExit) as exit:
        run("build", "--out", tmp_path / "idx", "--text-field", "body")
    assert exit.value.code == 2


def test_add_takes_text_field_the_same_way(tmp_path, run, nested):
    assert run("build", nested, "--out", tmp_path / "idx", "--text-field", "meta.body", "--quiet").returncode == 0
    more = tmp_path / "more"
    more.mkdir()
    (more / "e.jsonl").write_text(json.dumps({"meta": {"body": "another one"}}) + "\n")
    result = run("add", tmp_path / "idx", "--text-field", "meta.body", more, "--quiet")
    assert result.returncode == 0, result.stderr
    assert run("count", tmp_path / "idx", "another one").stdout.strip() == "1"


# -- one text grammar -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_index(tmp_path_factory):
    folder = tmp_path_factory.mktemp("grammar")
    infgram.build_from_documents(["the cat sat on the mat", "the dog sat on the log", "café olé, canción"],
                                 folder / "index", progress=False)
    return folder / "index"


def test_count_takes_the_text_or_a_file(small_index, tmp_path, run):
    (tmp_path / "query.txt").write_text("sat on the\n", encoding="utf-8")
    assert run("count", small_index, "sat on the").stdout.strip() == "2"
    assert run("count", small_index, "--file", tmp_path / "query.txt").stdout.strip() == "2"  # less its line break
    assert run("count", small_index, "--file", "-", stdin="the cat\n").stdout.strip() == "1"
    both = run("count", small_index, "the", "--file", tmp_path / "query.txt")
    assert both.returncode == 1 and "expected the query as an argument or as --file PATH" in both.stderr


def test_attribute_takes_the_text_as_an_argument_and_text_is_deprecated(small_index, run):
    new = run("attribute", small_index, "a dog sat on the mat", "--min-length", "6", "--json")
    old = run("attribute", small_index, "--text", "a dog sat on the mat", "--min-length", "6", "--json")
    assert new.returncode == old.returncode == 0, old.stderr
    assert json.loads(new.stdout)["spans"] == json.loads(old.stdout)["spans"] != []
    assert new.stderr == "" and "--text is deprecated" in old.stderr


def test_novelty_takes_one_text_or_json_lines(small_index, tmp_path, run):
    (tmp_path / "outputs.txt").write_text("the cat sat on the log\n", encoding="utf-8")
    (tmp_path / "outputs.jsonl").write_text(json.dumps({"text": "the cat sat on the log"}) + "\n"
                                            + json.dumps({"text": "a new sentence"}) + "\n", encoding="utf-8")
    one = json.loads(run("novelty", small_index, "the cat sat on the log", "--json", "--max-n", "4").stdout)
    from_file = json.loads(run("novelty", small_index, "--file", tmp_path / "outputs.txt", "--json",
                               "--max-n", "4").stdout)
    assert one == from_file and one["num_texts"] == 1
    many = run("novelty", small_index, "--jsonl", tmp_path / "outputs.jsonl", "--json", "--max-n", "4")
    assert json.loads(many.stdout)["num_texts"] == 2 and many.stderr == ""
    old = run("novelty", small_index, "--file", tmp_path / "outputs.jsonl", "--json", "--max-n", "4")
    assert json.loads(old.stdout) == json.loads(many.stdout)
    assert "reads JSON Lines for one more release: write --jsonl" in old.stderr
    both = run("novelty", small_index, "text", "--jsonl", tmp_path / "outputs.jsonl")
    assert both.returncode == 1 and "found both" in both.stderr


def test_perplexity_wants_json_lines(small_index, tmp_path, run):
    (tmp_path / "outputs.txt").write_text("plain\n", encoding="utf-8")
    result = run("perplexity", small_index, "--file", tmp_path / "outputs.txt")
    assert result.returncode == 1 and "--jsonl" in result.stderr


# -- --json everywhere, shell completion ----------------------------------------------------------------------

def _subcommands():
    import argparse

    from infgram.cli import build_parser

    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {id(parser): (name, parser) for name, parser in action.choices.items()}.values()


def test_every_command_but_serve_takes_json():
    missing = [name for name, parser in _subcommands()
               if not any("--json" in action.option_strings for action in parser._actions)]
    assert missing == ["serve"]  # the server logs; its replies are JSON


def test_verify_json(small_index, run):
    reply = json.loads(run("verify", small_index, "--json").stdout)
    assert reply["verified"] is True and reply["num_files"] > 0


def test_demo_json(tmp_path, run, monkeypatch):
    import infgram.apps.demo as demo

    files = [tmp_path / "a.py", tmp_path / "b.py"]
    files[0].write_text("import os\ndef __init__(self):\n    pass\n")
    files[1].write_text("raise ValueError('Guido van Rossum')\n")
    monkeypatch.setattr(demo, "standard_library_files", lambda: files)
    monkeypatch.setattr(demo.sysconfig, "get_paths", lambda: {"stdlib": str(tmp_path)})
    result = run("demo", "--out", tmp_path / "demo", "--json")
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)  # one line of JSON, nothing else on stdout
    assert reply["num_documents"] == 2 and reply["counts"]["import os"] == 1
    assert reply["counts"]["Guido van Rossum"] == 1


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_name_every_command(shell, run):
    script = run("completion", shell).stdout
    for name, _ in _subcommands():
        assert name in script, name
    assert "--text-field" in script and "--format" in script


def test_bash_completion_completes(tmp_path, run):
    import shutil
    import subprocess

    if shutil.which("bash") is None:
        pytest.skip("no bash")
    (tmp_path / "infgram.bash").write_text(run("completion", "bash").stdout)
    probe = ('source "$1"; COMP_WORDS=(infgram bu); COMP_CWORD=1; _shtab_infgram; echo "${COMPREPLY[@]}"; '
             'COMP_WORDS=(infgram build --text-f); COMP_CWORD=2; _shtab_infgram; echo "${COMPREPLY[@]}"')
    lines = subprocess.run(["bash", "-c", probe, "bash", str(tmp_path / "infgram.bash")], capture_output=True,
                           text=True, check=True).stdout.splitlines()
    assert lines == ["build", "--text-field"]


# -- output a person can read ---------------------------------------------------------------------------------

def test_draft_on_a_byte_index_prints_characters(tmp_path, run):
    infgram.build_from_documents(["la canción está bien", "una canción más"], tmp_path / "i", progress=False)
    result = run("draft", tmp_path / "i", "la canci", "--max-tokens", "3")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "ón" and "\\x" not in result.stdout
    assert [line.split()[1] for line in lines[1:4]] == ["''", "'ó'", "'n'"]
    reply = json.loads(run("draft", tmp_path / "i", "la canci", "--max-tokens", "3", "--json").stdout)
    assert reply["text"] == "ón"
    # A draft that stops inside a character shows U+FFFD, never an escape.
    cut = run("draft", tmp_path / "i", "la canci", "--max-tokens", "1")
    assert cut.stdout.splitlines()[0] == "\ufffd" and "\\x" not in cut.stdout
    assert json.loads(run("draft", tmp_path / "i", "la canci", "--max-tokens", "1", "--json").stdout)["text"] == "\ufffd"
    assert infgram.Index.open(tmp_path / "i").draft("la canci", max_tokens=3).text == "ón"


def test_next_on_a_tokenized_index_prints_decoded_tokens(tmp_path, run):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    texts = ["the United States of America", "in the United States", "United States law"] * 20
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=300, show_progress=False,
                                                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    assert "ĠStates" in tokenizer.get_vocab()
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"text": text}) + "\n" for text in texts))
    assert run("build", corpus, "--out", tmp_path / "i", "--tokenizer", tmp_path / "tokenizer.json",
               "--quiet").returncode == 0
    result = run("next", tmp_path / "i", "United")
    assert result.returncode == 0, result.stderr
    assert "' States'" in result.stdout and "Ġ" not in result.stdout
    reply = json.loads(run("next", tmp_path / "i", "United", "--json").stdout)
    assert reply["tokens"][0]["text"] == " States"


# -- changes without surprises --------------------------------------------------------------------------------

def test_remove_where_matching_nothing_is_an_error_naming_the_keys(tmp_path, run):
    infgram.build_from_documents([{"text": "a grammar book", "title": "Grammar", "meta": {"url": "u"}}, "other"],
                                 tmp_path / "i", progress=False)
    misspelled = run("remove", tmp_path / "i", "--where", "titel=Grammar", "--quiet")
    assert misspelled.returncode == 1
    assert "no document has the key 'titel'" in misspelled.stderr
    assert "the metadata keys are: meta.url, title" in misspelled.stderr and "--allow-none" in misspelled.stderr
    wrong_value = run("remove", tmp_path / "i", "--where", "title=Gramar", "--quiet")
    assert wrong_value.returncode == 1 and "no document has all the values" in wrong_value.stderr
    allowed = run("remove", tmp_path / "i", "--where", "titel=Grammar", "--quiet", "--allow-none")
    assert allowed.returncode == 0 and "nothing to do" in allowed.stdout
    assert infgram.Index.open(tmp_path / "i").count("grammar") == 1
    assert run("remove", tmp_path / "i", "--where", "title=Grammar", "--quiet").returncode == 0
    again = run("remove", tmp_path / "i", "--where", "title=Grammar", "--quiet")  # a takedown run twice
    assert again.returncode == 0 and "removed already" in again.stdout
    with pytest.raises(infgram.QueryError, match="the metadata keys are"):
        infgram.remove(tmp_path / "i", where=["meta.uri=u"], progress=False)


def test_dedup_word_boundary_never_joins_words(tmp_path, run):
    infgram.build_from_documents(["alpha opening flutes of the orchestra play now",
                                  "the evening flutes of the orchids bloom"], tmp_path / "i", progress=False)
    texts = {}
    for boundary in ("character", "word"):
        result = run("dedup", tmp_path / "i", "--out", tmp_path / boundary, "--min-length", "16", "--quiet",
                     "--boundary", boundary, "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["boundary"] == boundary
        lines = (tmp_path / boundary / "deduped.jsonl").read_text(encoding="utf-8").splitlines()
        texts[boundary] = [json.loads(line)["text"] for line in lines]
    assert texts["character"][1] == "the evids bloom"  # the old cut: two words run together
    assert texts["word"] == ["alpha opening flutes of the orchestra play now", "the bloom"]
    with pytest.raises(infgram.InputError, match="expected --boundary character or word"):
        from infgram.apps.dedup import dedup

        dedup(tmp_path / "i", tmp_path / "bad", boundary="sentence", progress=False)


def test_add_reads_code_and_any_text_as_build_does(tmp_path, run):
    folder = _code_folder(tmp_path)
    infgram.build_from_documents(["first"], tmp_path / "idx", progress=False)
    result = run("add", tmp_path / "idx", "--include", "*.py", folder, "--quiet")
    assert result.returncode == 0, result.stderr
    assert run("count", tmp_path / "idx", "café").stdout.strip() == "1"
    result = run("add", tmp_path / "idx", "--format", "text", folder / "README", "--quiet")
    assert result.returncode == 0, result.stderr
    assert run("count", tmp_path / "idx", "no extension at all").stdout.strip() == "1"


def test_inputs_may_come_before_and_after_options(tmp_path, run):
    for name in ("a", "b"):
        (tmp_path / f"{name}.jsonl").write_text(json.dumps({"text": f"document {name}"}) + "\n")
    result = run("build", tmp_path / "a.jsonl", "--out", tmp_path / "idx", tmp_path / "b.jsonl", "--json")
    assert result.returncode == 0, result.stderr
    assert list(json.loads(result.stdout)["files"]) == [str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")]


def test_failure_paths_of_the_grammar(small_index, tmp_path, run):
    (tmp_path / "texts.jsonl").write_text(json.dumps({"text": "the cat"}) + "\n")
    twice = run("novelty", small_index, "--jsonl", tmp_path / "texts.jsonl", "--file", tmp_path / "texts.jsonl")
    assert twice.returncode == 1 and "found --jsonl and a .jsonl --file" in twice.stderr
    both = run("attribute", small_index, "the cat", "--text", "the dog")
    assert both.returncode == 1 and "found both an argument and --text" in both.stderr
    neither = run("novelty", small_index)
    assert neither.returncode == 1 and "expected the text as an argument or as --file PATH" in neither.stderr
    on_ray = run("build", "--format", "text", tmp_path, "--out", tmp_path / "idx", "--ray", "local")
    assert on_ray.returncode == 1 and "expected --format auto with --ray" in on_ray.stderr
