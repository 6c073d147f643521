"""A GGUF file as the tokenizer of an index (``infgram build --tokenizer model.gguf``), the
refusal of a model whose vocabulary is not the index's, the choice of a backend, and the
sliding window of :class:`infgram.lm.neural.GGUFModel` against a brute-force computation
(with a fake runner: the real model runs in test_smollm2_large.py)."""

from __future__ import annotations

import hashlib
import json
import math
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import infgram
from infgram.errors import BuildError, QueryError, UnsupportedOperationError
from infgram.gguf_tokenizer import is_gguf, tokenizer_json_text
from infgram.lm import gguf, neural
from infgram.lm.neural import GGUFModel, choose_backend, window_starts
from infgram.tokenizer import load_tokenizer

TOKENS = ["a", "b", "c", "Ġ", "ab", "Ġa", "<s>"]
METADATA = {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "gpt2", "tokenizer.ggml.tokens": TOKENS,
            "tokenizer.ggml.merges": ["a b", "Ġ a"]}


def write_gguf(path, metadata):
    """A GGUF file holding only metadata (strings and lists of strings), as llama.cpp lays it out."""
    def string(text):
        data = text.encode("utf-8")
        return struct.pack("<Q", len(data)) + data

    parts = [b"GGUF", struct.pack("<IQQ", 3, 0, len(metadata))]
    for key, value in metadata.items():
        parts.append(string(key))
        if isinstance(value, str):
            parts.append(struct.pack("<I", 8) + string(value))
        else:
            parts.append(struct.pack("<IIQ", 9, 8, len(value)) + b"".join(map(string, value)))
    path.write_bytes(b"".join(parts))
    return path


def test_build_with_a_gguf_file_as_the_tokenizer(tmp_path, run):
    model = write_gguf(tmp_path / "model.gguf", METADATA)
    (tmp_path / "corpus.jsonl").write_text("\n".join(json.dumps({"text": t}) for t in ["ab a", "cab ab"]) + "\n")
    result = run("build", tmp_path / "corpus.jsonl", "--out", tmp_path / "i", "--tokenizer", model)
    assert result.returncode == 0, result.stderr
    index = infgram.Index.open(tmp_path / "i")
    assert index.tokenizer.kind == "huggingface"
    assert index.tokenize("ab a").tolist() == [4, 5]
    # The index keeps the converted tokenizer.json; its checksum is that of the conversion.
    stored = (tmp_path / "i" / "tokenizer.json").read_bytes()
    assert stored == tokenizer_json_text(model).encode("utf-8")
    manifest = json.loads((tmp_path / "i" / "manifest.json").read_text())
    assert manifest["build"]["tokenizer"]["sha256"] == hashlib.sha256(stored).hexdigest()
    # The same as building with the tokenizer.json that python -m infgram.lm.gguf writes.
    assert gguf.main([str(model), str(tmp_path / "t.json")]) == 0
    assert (tmp_path / "t.json").read_bytes() == stored
    gguf.check_same_vocabulary(index, TOKENS, "model.gguf")
    assert index.count("ab") == 3  # "ab", "c|ab" and " |ab"


def test_a_gguf_file_is_recognized_by_its_content(tmp_path):
    model = write_gguf(tmp_path / "model.bin", METADATA)
    assert is_gguf(model) and not is_gguf(tmp_path / "missing")
    assert load_tokenizer(model).encode("ab").tolist() == [4]
    (tmp_path / "t.json").write_text(tokenizer_json_text(model))
    assert not is_gguf(tmp_path / "t.json")
    assert load_tokenizer(tmp_path / "t.json").sha256 == load_tokenizer(model).sha256


def test_a_gguf_file_without_a_usable_tokenizer_is_refused(tmp_path):
    with pytest.raises(BuildError, match="GGUF file .*byte-level BPE"):
        load_tokenizer(write_gguf(tmp_path / "spm.gguf", {**METADATA, "tokenizer.ggml.model": "llama"}))
    (tmp_path / "short.gguf").write_bytes(b"GGUF\x03\x00")
    with pytest.raises(BuildError, match="truncated"):
        load_tokenizer(tmp_path / "short.gguf")


def test_a_model_with_another_vocabulary_is_refused_before_it_loads(tmp_path, run, monkeypatch):
    model = write_gguf(tmp_path / "model.gguf", METADATA)
    other = write_gguf(tmp_path / "other.gguf", {**METADATA, "tokenizer.ggml.tokens": TOKENS[:-1] + ["</s>"]})
    (tmp_path / "corpus.jsonl").write_text(json.dumps({"text": "ab a"}) + "\n")
    assert run("build", tmp_path / "corpus.jsonl", "--out", tmp_path / "i", "--tokenizer", model).returncode == 0

    def never(*args, **kwargs):
        raise AssertionError("the model was loaded before the vocabularies were compared")

    monkeypatch.setattr(neural, "_LlamaCpp", never)
    monkeypatch.setattr(neural, "_Transformers", never)
    monkeypatch.setattr(neural, "installed_backends", lambda: ["llama-cpp"])
    result = run("perplexity", tmp_path / "i", "--jsonl", tmp_path / "corpus.jsonl", "--model", other)
    assert result.returncode == 1
    assert "would not align" in result.stderr and "--tokenizer MODEL.gguf" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert run("build", tmp_path / "corpus.jsonl", "--out", tmp_path / "b").returncode == 0
    result = run("perplexity", tmp_path / "b", "--jsonl", tmp_path / "corpus.jsonl", "--model", model)
    assert result.returncode == 1 and "bytes tokenizer" in result.stderr


def test_no_backend_installed_names_the_install_commands(tmp_path, monkeypatch):
    monkeypatch.setattr(neural, "installed_backends", lambda: [])
    with pytest.raises(UnsupportedOperationError, match=r"infgram\[lm\]' torch==2.13.0\+cpu .*pip install llama-cpp"):
        choose_backend("auto")
    with pytest.raises(UnsupportedOperationError, match=r"transformers backend .* pip install 'infgram\[lm\]'"):
        choose_backend("transformers")
    model = GGUFModel(write_gguf(tmp_path / "model.gguf", METADATA))  # reading the metadata needs no backend
    assert model.tokens == TOKENS
    with pytest.raises(UnsupportedOperationError, match="found neither installed"):
        model.logprobs([0, 1, 2])
    monkeypatch.setattr(neural, "installed_backends", lambda: ["transformers"])
    assert choose_backend("auto") == "transformers"
    with pytest.raises(QueryError, match="expected a backend"):
        GGUFModel(tmp_path / "model.gguf", backend="vllm")


@given(st.integers(0, 60), st.integers(2, 12), st.data())
def test_windows_score_every_position_once_with_enough_context(length, window, data):
    stride = data.draw(st.integers(1, window - 1))
    scored = []
    for start, end, first in window_starts(length, window, stride):
        assert end - start <= window and start < first < end <= length
        assert start % stride == 0 and (first - start >= window - stride or start == 0)
        scored += range(first, end)
    assert scored == list(range(1, length))


class FakeRunner:
    """Logits that depend on the whole window: a fixed function of (window start token, last token, position)."""

    def __init__(self, vocab):
        self.vocab, self.calls = vocab, []

    def tokenize(self, text):
        return [ord(c) % self.vocab for c in text]

    def logits(self, ids):
        self.calls.append(list(ids))
        rows = np.zeros((len(ids), self.vocab))
        for position in range(len(ids)):
            rows[position] = np.cos(np.arange(self.vocab) * (ids[0] + 1) + ids[position] * 0.7 + position)
        return rows


@pytest.mark.parametrize("length,window,stride", [(1, 4, 2), (5, 8, 4), (17, 6, 2), (30, 8, 8 - 1), (12, 3, 1)])
def test_logprobs_match_brute_force(tmp_path, length, window, stride):
    vocab = 7
    model = GGUFModel(write_gguf(tmp_path / "m.gguf", METADATA), window_tokens=window, runner=FakeRunner(vocab))
    ids = [(3 * i + 1) % vocab for i in range(length)]
    got = model.logprobs(ids, stride)
    assert model.backend == "runner" and got[0] is None if length else got == []
    for i in range(1, length):
        # The window that scores i: the first (start = k·stride) whose end passes what earlier windows scored.
        start = next(s for s, e, f in window_starts(length, window, stride) if f <= i < e)
        context = ids[start:i + 1]
        row = FakeRunner(vocab).logits(context)[-2]
        expected = row[ids[i]] - math.log(np.exp(row).sum())
        assert got[i] == pytest.approx(expected, abs=1e-12)
    with pytest.raises(QueryError, match="stride"):
        model.logprobs(ids, window)
