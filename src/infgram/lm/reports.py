"""The batch reports behind ``infgram perplexity`` and ``infgram novelty``: read JSON Lines,
score every text, summarize, optionally plot.

>>> import tempfile, pathlib, infgram
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = infgram.build_from_documents(["the cat sat on the mat"], folder / "i", progress=False)
>>> report = novelty_report(infgram.Index.open(folder / "i"), ["the cat sat", "a dog ran"], max_n=2, min_lengths=[2])
>>> report["novelty"], report["creativity_index_mean"]
([0.3333333333333333, 0.5], 0.5)
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ..errors import InputError, QueryError
from .gguf import check_same_vocabulary
from ..query.novelty import creativity, novelty
from .perplexity import LAMBDA_GRID, TextScores, evaluate, infgram_scores, mixture_logprobs, score_logprobs
from .plot import line_plot


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSON Lines file, one a line (blank lines skipped)."""
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as error:
                    raise InputError(f"expected JSON on line {number} of {path}, found {error.msg}; one JSON "
                                     "object a line") from None
                if not isinstance(value, dict):
                    raise InputError(f"expected a JSON object on line {number} of {path}, found "
                                     f"{type(value).__name__}")
                yield value
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror}; give a readable JSON Lines file") from None


def read_texts(path: str | Path, field: str = "text", limit: int | None = None) -> list[str]:
    """The ``field`` of every line of a JSON Lines file (the first ``limit`` lines)."""
    texts = []
    for number, record in enumerate(read_jsonl(path), start=1):
        if limit is not None and len(texts) >= limit:
            break
        if not isinstance(record.get(field), str):
            raise InputError(f"expected a string {field!r} on line {number} of {path}, found "
                             f"{type(record.get(field)).__name__}; name the field with --text-field")
        texts.append(record[field])
    return texts


def novelty_report(index: Any, texts: Sequence[Any], max_n: int = 20, min_lengths: Sequence[int] | None = None,
                   plot: str | Path | None = None) -> dict[str, Any]:
    """n-gram novelty over a batch of texts (pooled: novel n-grams of all texts / all their
    n-grams, None where no text has n units), with each text's novelty and Creativity Index."""
    novel, total = np.zeros(max_n), np.zeros(max_n)
    per_text = []
    for text in texts:
        result = novelty(index, text, max_n)
        index_of_text = creativity(index, text, min_lengths)
        for n, share in enumerate(result.novelty, start=1):
            if share is not None:
                grams = result.num_units - n + 1
                novel[n - 1] += round(share * grams)
                total[n - 1] += grams
        per_text.append({"num_units": result.num_units, "novelty": result.novelty,
                         "uniqueness": index_of_text.uniqueness, "creativity_index": index_of_text.creativity_index})
    pooled = [float(a / b) if b else None for a, b in zip(novel, total)]
    indexes = [t["creativity_index"] for t in per_text if t["creativity_index"] is not None]
    report = {"num_texts": len(per_text), "unit": "word" if index.tokenizer.tokens_are_bytes else "token",
              "novelty": pooled, "min_lengths": creativity(index, [], min_lengths).min_lengths,
              "creativity_index_mean": float(np.mean(indexes)) if indexes else None, "texts": per_text}
    if plot is not None:
        line_plot(plot, {"all texts": (list(range(1, max_n + 1)), pooled)}, "n", "share of n-grams not in the corpus",
                  f"n-gram novelty of {len(per_text)} texts")
    return report


def _tokenized(index: Any, texts: Sequence[str], max_tokens: int | None) -> list[list[int]]:
    ids = [index.tokenize(text).tolist() for text in texts]
    return [i[:max_tokens] if max_tokens else i for i in ids]


def perplexity_run(index: Any, texts: Sequence[str] | None = None, model: Any = None,
                   logprobs_path: str | Path | None = None, dev_fraction: float = 0.2, seed: int = 0,
                   stride_tokens: int = 512, max_tokens: int | None = None,
                   plot: str | Path | None = None) -> dict[str, Any]:
    """Score texts with a model (a :class:`~infgram.lm.neural.GGUFModel`, whose vocabulary must
    be the index's) or read scores from a ``{"ids", "logprobs"}`` JSON Lines file, add the
    ∞-gram, tune λ and report (:func:`infgram.lm.perplexity.evaluate`), with the tokens per
    second of each side."""
    if (model is None) == (logprobs_path is None):
        raise QueryError("expected the neural side as a model (--model) or as log-probabilities (--logprobs), "
                         "found " + ("neither" if model is None else "both"))
    neural_seconds = infgram_seconds = 0.0
    scored: list[TextScores] = []
    settings: dict[str, Any] = {"dev_fraction": dev_fraction, "seed": seed}
    if model is not None:
        check_same_vocabulary(index, model.tokens, str(model.path))
        if texts is None:
            raise QueryError("expected texts (--file) to score with the model, found none")
        settings.update(model=str(model.path), backend=getattr(model, "backend", None),
                        threads=getattr(model, "threads", None), window_tokens=model.window_tokens,
                        stride_tokens=stride_tokens,
                        max_tokens_per_text=max_tokens, context="the model: its window; the ∞-gram: the whole "
                        "text before the token")
        for ids in _tokenized(index, texts, max_tokens):
            start = time.perf_counter()
            logprobs = model.logprobs(ids, stride_tokens)
            neural_seconds += time.perf_counter() - start
            start = time.perf_counter()
            probabilities, sparse = infgram_scores(index, ids)
            infgram_seconds += time.perf_counter() - start
            scored.append(TextScores(probabilities, sparse,
                                     np.array([np.nan if v is None else v for v in logprobs], dtype=np.float64)))
    else:
        records = list(read_jsonl(logprobs_path))  # type: ignore[arg-type]
        if texts is not None and len(texts) != len(records):
            raise QueryError(f"expected one line of log-probabilities per text, found {len(records)} for "
                             f"{len(texts)} texts")
        expected = _tokenized(index, texts, None) if texts is not None else None
        settings.update(logprobs=str(logprobs_path), context="as the log-probabilities file gives them")
        for number, record in enumerate(records):
            ids, logprobs = record.get("ids"), record.get("logprobs")
            if not isinstance(ids, list) or not isinstance(logprobs, list):
                raise InputError(f"expected {{\"ids\": [...], \"logprobs\": [...]}} on line {number + 1} of "
                                 f"{logprobs_path}, found the keys {sorted(record)}")
            if expected is not None and expected[number] != ids:
                raise QueryError(f"text {number + 1} tokenizes to other ids with the index's tokenizer than "
                                 f"{logprobs_path} gives: the model's tokenizer is not the index's; rebuild the "
                                 "index with the model's tokenizer")
            start = time.perf_counter()
            scored.append(score_logprobs(index, ids, logprobs))
            infgram_seconds += time.perf_counter() - start
    report = evaluate(scored, dev_fraction, seed, settings).to_dict()
    num_tokens = sum(len(t.neural_logprobs) for t in scored)
    report["neural_tokens_per_second"] = round(num_tokens / neural_seconds, 1) if neural_seconds else None
    report["infgram_tokens_per_second"] = round(num_tokens / infgram_seconds, 1) if infgram_seconds else None
    if plot is not None:
        _plot_lambda(plot, scored, report)
    return report


def _plot_lambda(path: str | Path, scored: Sequence[TextScores], report: dict[str, Any]) -> None:
    """Test perplexity of the mixture against λ, for the sparse and the other positions."""
    infgram = np.concatenate([t.infgram_probabilities for t in scored]) if scored else np.zeros(0)
    sparse = np.concatenate([t.sparse for t in scored]).astype(bool) if scored else np.zeros(0, dtype=bool)
    neural = np.concatenate([t.neural_logprobs for t in scored]) if scored else np.zeros(0)
    keep = ~np.isnan(neural)
    series = {}
    for name, group in (("sparse positions", sparse & keep), ("other positions", ~sparse & keep)):
        values = [float(np.exp(-mixture_logprobs(infgram[group], neural[group], w).mean())) if group.any() else None
                  for w in LAMBDA_GRID.tolist()]
        series[name] = (LAMBDA_GRID.tolist(), values)
    line_plot(path, series, "λ (weight of the ∞-gram)", "perplexity (all texts)",
              f"λ sparse {report['lambda_sparse']}, λ other {report['lambda_non_sparse']}")
