"""Shared fixtures: the shared data folder beside the checkout, and tiny index builders."""

from __future__ import annotations

import functools
import io
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Local Ray clusters of the tests bind to 127.0.0.1 only: set before anything imports ray.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("INFGRAM_SHARED", ROOT.parent / "shared"))

settings.register_profile(
    "default", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("fast", max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def shared_tokenizer(name: str) -> Path:
    path = SHARED / "tokenizers" / f"{name}.tokenizer.json"
    if not path.exists():
        pytest.skip(f"{path} is not there: these tests need the shared/ folder beside the checkout")
    return path


def run_cli(*args, input: str | None = None, cwd: str | Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m infgram.cli ARGS`` in a subprocess, text in and out as UTF-8."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "infgram.cli", *map(str, args)],
        input=input, capture_output=True, text=True, encoding="utf-8", cwd=cwd, env=env, timeout=300,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    """The CLI's error contract: exit status 1 and exactly one stderr line 'infgram: TypeOfError: ...'."""
    lines = result.stderr.splitlines()
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert len(lines) == 1, result.stderr
    assert re.match(r"infgram: [A-Za-z]+Error: ", lines[0]), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


@pytest.fixture
def run(capsys):
    """``infgram ARGS`` in-process; returns an object with returncode, stdout and stderr."""
    from infgram.cli import main

    def invoke(*args, stdin: str | None = None):
        capsys.readouterr()
        saved = sys.stdin
        if stdin is not None:
            sys.stdin = io.StringIO(stdin)
        try:
            returncode = main([str(a) for a in args])
        finally:
            sys.stdin = saved
        captured = capsys.readouterr()
        return SimpleNamespace(returncode=returncode, stdout=captured.out, stderr=captured.err)

    return invoke


# -- tiny corpora of token ids, for the property tests ------------------------------------------
EXTREME_IDS = {
    1: [0, 1, 97, 128, 254],
    2: [0, 1, 255, 256, 65534],
    4: [0, 1, 65535, 65536, 2**32 - 2],
}


@st.composite
def corpora(draw):
    width = draw(st.sampled_from([1, 2, 4]))
    alphabet = draw(st.lists(st.sampled_from(EXTREME_IDS[width]), min_size=2, max_size=4, unique=True))
    documents = draw(st.lists(st.lists(st.sampled_from(alphabet), min_size=1, max_size=14), min_size=1, max_size=8))
    longest = max(len(d) for d in documents)
    shard_tokens = draw(st.one_of(st.none(), st.integers(longest + 1, longest + 20)))
    # Searches start from every key_step-th suffix's key (see _core.c) once a range is over
    # 4 * key_step long: small steps take that path on these tiny shards, 256 never does.
    key_step = draw(st.sampled_from([1, 2, 3, 256]))
    return width, alphabet, documents, shard_tokens, key_step


def draw_word_text(draw, words, separators, max_documents: int, max_words: int) -> tuple[list[str], list[str]]:
    """Documents of words from ``words`` joined by ``separators``, and queries cut from them
    (hypothesis, inside a composite strategy)."""
    vocabulary = draw(st.lists(st.sampled_from(words), min_size=2, max_size=4, unique=True))

    def document():
        chosen = draw(st.lists(st.sampled_from(vocabulary), min_size=1, max_size=max_words))
        text = chosen[0]
        for word in chosen[1:]:
            text += draw(st.sampled_from(separators)) + word
        return text

    documents = [document() for _ in range(draw(st.integers(1, max_documents)))]
    queries = []
    for _ in range(draw(st.integers(1, 5))):
        source = draw(st.sampled_from(documents))
        start = draw(st.integers(0, len(source) - 1))
        end = draw(st.integers(start + 1, len(source)))
        queries.append(source[start:end])
    return vocabulary, documents, queries


def piece_or_text(documents: list[str], alphabet: list[str], max_length: int | None = None):
    """A strategy: a piece of one of ``documents`` (at most ``max_length`` characters), or a
    short text of ``alphabet`` that may occur nowhere."""

    @st.composite
    def piece(draw):
        document = draw(st.sampled_from(documents))
        start = draw(st.integers(0, len(document) - 1))
        longest = len(document) if max_length is None else min(len(document), start + max_length)
        return document[start : draw(st.integers(start + 1, longest))]

    return st.one_of(piece(), st.text(alphabet=alphabet, min_size=1, max_size=3))


@functools.lru_cache(maxsize=None)
def loaded_tokenizer(name: str):
    """A shared tokenizer, loaded once per session (loading llama3's takes seconds)."""
    from infgram.tokenizer import load_tokenizer

    return load_tokenizer(shared_tokenizer(name))


def build_tokenized_index(folder: Path, documents, name: str, shard_tokens=None):
    """Index documents with a shared tokenizer and open the index with the tokenizer already
    loaded (not read again from the index's tokenizer.json)."""
    import infgram
    from infgram.query import index as index_module

    tokenizer = loaded_tokenizer(name)
    infgram.build_from_documents(documents, folder, tokenizer=tokenizer, shard_tokens=shard_tokens, progress=False)
    with mock.patch.object(index_module, "tokenizer_from_manifest", lambda entry, directory: tokenizer):
        return infgram.Index.open(folder)


def build_id_index(directory: Path, width: int, documents, shard_tokens, key_step=256):
    """Index documents given as token ids (metadata {"n": number}) and open the index."""
    import infgram
    from infgram.build import sa_writer

    with mock.patch.object(sa_writer, "SUFFIX_KEY_STEP", key_step):
        infgram.build_from_documents(
            [{"ids": d, "metadata": {"n": i}} for i, d in enumerate(documents)],
            directory,
            token_width=width,
            shard_tokens=shard_tokens,
            progress=False,
        )
    return infgram.Index.open(directory)


# -- word corpora, for build tests --------------------------------------------------------------
WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau "
         "upsilon phi chi psi omega red green blue cyan magenta yellow black white").split()
SHARD_TOKENS = 30_000


def write_word_corpus(path: Path, count: int = 3000, bad_line: int | None = None) -> Path:
    """A JSON Lines corpus of ``count`` lines of random words (with ``bad_line`` not JSON)."""
    import json
    import random

    rng = random.Random(20240611)
    lines = []
    for number in range(1, count + 1):
        if number == bad_line:
            lines.append('{"text": this line is not JSON}')
            continue
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))
        lines.append(json.dumps({"text": words, "n": number}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def on_shard_thread(number: int) -> bool:
    """Whether the calling thread works on shard ``number`` (0-based). A build writes and sorts
    each shard in threads named after it (``pipeline.py``, ``sa_writer.py``), and shards sort
    beside each other in no fixed order: a test that stops one shard tells it by its thread,
    not by the order in which the sorts start."""
    return threading.current_thread().name.endswith(f"shard-{number:05d}")


def files_of(directory: Path) -> dict[str, bytes]:
    """Every file below a directory, by relative path, with its bytes."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}
