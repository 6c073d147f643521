"""Mixing, tuning and reporting with synthetic log-probabilities, against a brute-force
computation; sparse positions against the reference's next-token distributions; the
vocabulary check that keeps an index and a model aligned."""

from __future__ import annotations

import json
import math
import random
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import infgram
from infgram import _reference as reference
from infgram.errors import UnsupportedOperationError
from infgram.lm import gguf
from infgram.lm.perplexity import TextScores, evaluate, infgram_scores, split_texts
from infgram.lm.reports import perplexity_run

from conftest import build_id_index as build, corpora


@settings(max_examples=max(20, settings().max_examples // 3))
@given(corpora(), st.data())
def test_probabilities_and_sparse_positions_match_the_reference(case, data):
    width, alphabet, documents, shard_tokens, key_step = case
    text = data.draw(st.lists(st.sampled_from(alphabet), max_size=10))
    with tempfile.TemporaryDirectory() as folder:
        index = build(Path(folder) / "index", width, documents, shard_tokens, key_step)
        probabilities, sparse = infgram_scores(index, text)
        for position, token in enumerate(text):
            length, prompt_count, count = reference.infgram_probability(documents, text[:position], token)
            assert probabilities[position] == count / prompt_count
            distinct = reference.infgram_next_tokens(documents, text[:position])[1]
            assert sparse[position] == (len(distinct) == 1)


def brute_force(texts, dev, test):
    """λ by trying every grid value with plain Python; perplexities from their definitions."""
    def positions(numbers, want_sparse):
        return [(p, n) for i in numbers for p, s, n in zip(texts[i].infgram_probabilities, texts[i].sparse,
                                                             texts[i].neural_logprobs)
                if bool(s) == want_sparse and not math.isnan(n)]

    def loglik(pairs, weight):
        return sum(math.log(weight * p + (1 - weight) * math.exp(n)) if weight * p + (1 - weight) * math.exp(n) > 0
                   else -math.inf for p, n in pairs)

    weights = {}
    for want_sparse in (True, False):
        best = max(range(100), key=lambda k: (loglik(positions(dev, want_sparse), k / 100), -k))
        weights[want_sparse] = best / 100
    test_pairs = [(p, n, s) for i in test for p, s, n in zip(texts[i].infgram_probabilities, texts[i].sparse,
                                                            texts[i].neural_logprobs) if not math.isnan(n)]
    mixed = [math.log(weights[bool(s)] * p + (1 - weights[bool(s)]) * math.exp(n)) for p, n, s in test_pairs]
    neural = [n for _, n, _ in test_pairs]
    return weights, math.exp(-sum(neural) / len(neural)), math.exp(-sum(mixed) / len(mixed)), \
        sum(p == 0 for p, _, _ in test_pairs)


@pytest.mark.parametrize("seed", range(6))
def test_tuning_and_perplexities_match_brute_force(seed):
    rng = random.Random(seed)
    texts = []
    for _ in range(rng.randint(3, 8)):
        size = rng.randint(1, 30)
        sparse = np.array([rng.random() < 0.4 for _ in range(size)])
        infgram_p = np.array([rng.choice([0.0, 1.0]) if s else rng.choice([0.0, rng.random()]) for s in sparse])
        neural = np.log(np.array([rng.uniform(0.01, 1.0) for _ in range(size)]))
        neural[0] = np.nan  # the first token unscored, as a model without a start token leaves it
        texts.append(TextScores(infgram_p, sparse, neural))
    dev, test = split_texts(len(texts), 0.4, seed)
    report = evaluate(texts, dev_fraction=0.4, seed=seed)
    weights, neural_ppl, mixed_ppl, zeros = brute_force(texts, dev, test)
    assert (report.lambda_sparse, report.lambda_non_sparse) == (weights[True], weights[False])
    assert report.neural_perplexity == pytest.approx(neural_ppl, rel=1e-12)
    assert report.interpolated_perplexity == pytest.approx(mixed_ppl, rel=1e-12)
    assert report.infgram_zero_probability_tokens == zeros
    assert report.relative_improvement == pytest.approx(1 - (mixed_ppl - 1) / (neural_ppl - 1), rel=1e-9)
    assert (report.infgram_perplexity is None or math.isinf(report.infgram_perplexity)) == (zeros > 0)


def test_the_cli_reads_logprobs_and_reports(tmp_path, run):
    documents = ["the cat sat on the mat", "the dog sat on the log", "a cat ran"] * 3
    infgram.build_from_documents(documents, tmp_path / "i", progress=False)
    lines = []
    for number, text in enumerate(documents):
        ids = list(text.encode())
        lines.append(json.dumps({"ids": ids, "logprobs": [None] + [math.log(1 / (2 + number % 3))] * (len(ids) - 1)}))
    (tmp_path / "n.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "t.jsonl").write_text("\n".join(json.dumps({"text": t}) for t in documents) + "\n")
    result = run("perplexity", tmp_path / "i", "--jsonl", tmp_path / "t.jsonl", "--logprobs", tmp_path / "n.jsonl",
                 "--json", "--dev-fraction", "0.3", "--plot", tmp_path / "l.svg")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["num_dev_texts"] == 3 and report["num_test_texts"] == 6
    assert report["interpolated_perplexity"] < report["neural_perplexity"]
    assert report["paper"]["GPT-2 117M"]["neural_perplexity"] == 22.86
    assert (tmp_path / "l.svg").read_text().startswith("<svg")
    text = run("perplexity", tmp_path / "i", "--logprobs", tmp_path / "n.jsonl")
    assert "relative improvement" in text.stdout and "sparse" in text.stdout
    (tmp_path / "t.jsonl").write_text("\n".join(json.dumps({"text": t + "!"}) for t in documents) + "\n")
    misaligned = run("perplexity", tmp_path / "i", "--jsonl", tmp_path / "t.jsonl", "--logprobs", tmp_path / "n.jsonl")
    assert misaligned.returncode == 1 and "tokenizes to other ids" in misaligned.stderr


def test_a_gguf_tokenizer_builds_an_index_and_a_different_vocabulary_is_refused(tmp_path):
    metadata = {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "gpt2",
                "tokenizer.ggml.tokens": ["a", "b", "c", "ab", "<s>"], "tokenizer.ggml.merges": ["a b"],
                "tokenizer.ggml.token_type": [1, 1, 1, 1, 3]}
    (tmp_path / "tokenizer.json").write_text(json.dumps(gguf.tokenizer_json(metadata)))
    infgram.build_from_documents(["abcab", "cab"], tmp_path / "i", tokenizer=tmp_path / "tokenizer.json",
                                 progress=False)
    index = infgram.Index.open(tmp_path / "i")
    assert index.tokenize("abc").tolist() == [3, 2]
    gguf.check_same_vocabulary(index, metadata["tokenizer.ggml.tokens"], "model.gguf")
    model = SimpleNamespace(tokens=["a", "b", "c", "ba", "<s>"], path="other.gguf", window_tokens=8,
                            logprobs=lambda ids, stride: [None] * len(ids))
    with pytest.raises(UnsupportedOperationError, match="would not align"):
        perplexity_run(index, ["abc"], model)
    infgram.build_from_documents(["abc"], tmp_path / "bytes", progress=False)
    with pytest.raises(UnsupportedOperationError, match="bytes tokenizer"):
        perplexity_run(infgram.Index.open(tmp_path / "bytes"), ["abc"], model)


def test_a_fake_model_runs_end_to_end(tmp_path):
    metadata = {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.tokens": ["a", "b", "c"], "tokenizer.ggml.merges": []}
    (tmp_path / "tokenizer.json").write_text(json.dumps(gguf.tokenizer_json(metadata)))
    infgram.build_from_documents(["abcab", "cab", "bca"], tmp_path / "i", tokenizer=tmp_path / "tokenizer.json",
                                 progress=False)
    model = SimpleNamespace(tokens=["a", "b", "c"], path="m.gguf", window_tokens=8,
                            logprobs=lambda ids, stride: [None] + [math.log(1 / 3)] * (len(ids) - 1))
    report = perplexity_run(infgram.Index.open(tmp_path / "i"), ["abcabc", "cabca", "bcab", "aaa"], model,
                            dev_fraction=0.5)
    assert report["neural_perplexity"] == pytest.approx(3.0)
    assert report["settings"]["window_tokens"] == 8 and report["neural_tokens_per_second"] > 0
