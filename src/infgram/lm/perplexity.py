"""A neural LM interpolated with the ∞-gram: perplexities before and after.

This follows Liu et al. (2024, "Infini-gram: Scaling Unbounded n-gram Language Models to a
Trillion Tokens", §6). For every token of every text:

- the **∞-gram probability** P∞ (one pass of
  :meth:`~infgram.query.corpus.Corpus.infgram_probabilities` per text: the context is every
  token of the text before it), which is 0 when the longest suffix is never followed by the
  token;
- whether that estimate is **sparse**, as the paper defines it: the next-token distribution
  after the longest suffix has exactly one distinct entry (the end of a document counts as
  one). A sparse estimate is a confident one: P∞ is 1 for that token and 0 for every other;
- the **neural** probability Pn, from a model's log-probabilities.

The mixture is P = λ·P∞ + (1 − λ)·Pn, with one λ for sparse positions and one for the rest.
The texts are split into a dev part (``dev_fraction`` of them, drawn with ``seed``) and a
test part; each λ is the value of :data:`LAMBDA_GRID` (0.00, 0.01, ..., 0.99: not 1, where a
zero P∞ would cost an infinite loss) with the highest dev log-likelihood of its positions
(ties to the smaller λ). On the test part we report the perplexity of the neural LM alone,
of the ∞-gram alone (infinite when some token has P∞ = 0: we count those and also give the
perplexity of the others) and of the mixture, and the paper's relative improvement
1 − (PPL − 1)/(PPL₀ − 1). The paper's own figures: GPT-2 117M 22.86 → 13.58 and Llama-2
70B 4.65 → 4.20 with the ∞-gram of a 1.8T-token corpus.

A token without a neural log-probability (None, e.g. the first token of a text, which a
model without a start token cannot score) is left out of every perplexity.

>>> import numpy as np
>>> texts = [TextScores(np.array([0.5, 1.0, 0.0]), np.array([False, True, False]), np.log([0.25, 0.5, 0.5]))] * 2
>>> report = evaluate(texts, dev_fraction=0.5)
>>> report.lambda_sparse, report.lambda_non_sparse, round(report.neural_perplexity, 3)
(0.99, 0.0, 2.52)
>>> round(report.interpolated_perplexity, 3), report.infgram_zero_probability_tokens
(2.003, 1)
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from ..errors import QueryError
from ..query.encoding import Query

LAMBDA_GRID = np.round(np.arange(100) / 100, 2)
"""The values of λ tried for each of the two groups: 0.00, 0.01, ..., 0.99."""

PAPER_FIGURES = {"GPT-2 117M": (22.86, 13.58), "Llama-2 70B": (4.65, 4.20)}
"""Neural-alone and interpolated perplexities that Liu et al. (2024) report (Pile test set)."""

SPARSE_DEFINITION = ("sparse: the next-token distribution after the longest suffix that occurs has exactly one "
                     "distinct entry (Liu et al. 2024); the end of a document counts as one")


@dataclass
class TextScores:
    """The scores of one text's tokens: ``infgram_probabilities`` (P∞), ``sparse`` (bool)
    and ``neural_logprobs`` (natural log of Pn; NaN where the model gave none)."""

    infgram_probabilities: np.ndarray
    sparse: np.ndarray
    neural_logprobs: np.ndarray


def infgram_scores(index: Any, ids: Query) -> tuple[np.ndarray, np.ndarray]:
    """(P∞, sparse) of every token of a text given all the tokens before it.

    A position is sparse when every occurrence of its longest suffix is followed by the same
    entry: when the token itself always follows (count = prompt count), or, when it never
    does, after one more look at the suffix's distribution.

    >>> import tempfile, pathlib, infgram
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = infgram.build_from_documents(["abcab"], folder / "i", progress=False)
    >>> probabilities, sparse = infgram_scores(infgram.Index.open(folder / "i"), "abx")
    >>> probabilities.tolist(), sparse.tolist()
    ([0.4, 1.0, 0.0], [False, True, False])
    """
    result = index.infgram_probabilities(ids)
    counts = np.asarray(result.counts, dtype=np.int64)
    prompt_counts = np.asarray(result.prompt_counts, dtype=np.int64)
    probabilities = np.divide(counts, prompt_counts, out=np.zeros(len(counts)), where=prompt_counts > 0)
    sparse = (counts == prompt_counts) & (prompt_counts > 0)
    tokens = result.token_ids
    for position in np.flatnonzero((counts == 0) & (prompt_counts > 0)).tolist():
        length = result.suffix_lengths[position]
        head = index.next_tokens(tokens[position - length : position], top_k=1)
        sparse[position] = head.tokens[0].count == head.prompt_count
    return probabilities, sparse


def mixture_logprobs(infgram_probabilities: np.ndarray, neural_logprobs: np.ndarray, weight: float) -> np.ndarray:
    """log(λ·P∞ + (1 − λ)·Pn) at every position, computed in log space.

    >>> mixture_logprobs(np.array([1.0, 0.0]), np.log([0.5, 0.5]), 0.5).round(4).tolist()
    [-0.2877, -1.3863]
    """
    with np.errstate(divide="ignore"):
        from_infgram = np.log(weight) + np.log(infgram_probabilities) if weight > 0 else \
            np.full(len(infgram_probabilities), -np.inf)
        from_neural = np.log1p(-weight) + neural_logprobs
    return np.logaddexp(from_infgram, from_neural)


def tune_lambda(infgram_probabilities: np.ndarray, neural_logprobs: np.ndarray) -> tuple[float, float]:
    """(λ, total log-likelihood) of the grid value that fits these positions best (the
    smallest such λ; 0 for no positions).

    >>> weight, total = tune_lambda(np.array([1.0, 1.0]), np.log([0.5, 0.5]))
    >>> weight, round(total, 4)
    (0.99, -0.01)
    """
    best, best_total = 0.0, -math.inf
    for weight in LAMBDA_GRID.tolist():
        total = float(mixture_logprobs(infgram_probabilities, neural_logprobs, weight).sum())
        if total > best_total:
            best, best_total = weight, total
    return best, (best_total if len(neural_logprobs) else 0.0)


def perplexity(logprobs: np.ndarray) -> float | None:
    """exp of the mean negative log-probability (None for no tokens; inf if one is impossible).

    >>> perplexity(np.log([0.5, 0.5]))
    2.0
    """
    if not len(logprobs):
        return None
    with np.errstate(over="ignore"):
        return float(np.exp(-np.mean(logprobs)))


def relative_improvement(after: float | None, before: float | None) -> float | None:
    """1 − (PPL − 1)/(PPL₀ − 1), the measure of Liu et al. (2024).

    >>> round(relative_improvement(13.58, 22.86), 3)
    0.425
    """
    if after is None or before is None or before == 1 or not math.isfinite(after) or not math.isfinite(before):
        return None
    return 1 - (after - 1) / (before - 1)


@dataclass
class PerplexityReport:
    """What :func:`evaluate` measured on the test texts; see the module docstring."""

    num_dev_texts: int
    num_test_texts: int
    num_dev_tokens: int
    num_test_tokens: int
    lambda_grid: str
    lambda_sparse: float
    lambda_non_sparse: float
    sparse_share: float | None
    sparse_infgram_correct_share: float | None
    neural_perplexity: float | None
    infgram_perplexity: float | None
    infgram_zero_probability_tokens: int
    infgram_perplexity_of_nonzero_tokens: float | None
    interpolated_perplexity: float | None
    relative_improvement: float | None
    sparse_definition: str = SPARSE_DEFINITION
    paper: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: an infinite perplexity is given as None (with the zero count beside it)."""
        return {key: (None if isinstance(value, float) and not math.isfinite(value) else value)
                for key, value in asdict(self).items()}


def _joined(texts: Sequence[TextScores]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """P∞, sparse and neural log-probabilities of the scored positions of several texts."""
    if not texts:
        return np.zeros(0), np.zeros(0, dtype=bool), np.zeros(0)
    infgram = np.concatenate([t.infgram_probabilities for t in texts]).astype(np.float64)
    sparse = np.concatenate([t.sparse for t in texts]).astype(bool)
    neural = np.concatenate([t.neural_logprobs for t in texts]).astype(np.float64)
    scored = ~np.isnan(neural)
    return infgram[scored], sparse[scored], neural[scored]


def split_texts(count: int, dev_fraction: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """(dev, test) text numbers: ``round(count · dev_fraction)`` drawn with ``seed`` are dev.

    >>> split_texts(5, 0.4, seed=1)
    ([0, 1], [2, 3, 4])
    """
    if not 0 <= dev_fraction < 1:
        raise QueryError(f"expected a dev fraction from 0 up to (not including) 1, found {dev_fraction!r}")
    dev = sorted(random.Random(seed).sample(range(count), round(count * dev_fraction)))
    chosen = set(dev)
    return dev, [number for number in range(count) if number not in chosen]


def evaluate(texts: Sequence[TextScores], dev_fraction: float = 0.2, seed: int = 0,
             settings: dict[str, Any] | None = None) -> PerplexityReport:
    """Tune λ (sparse and non-sparse) on the dev texts and report perplexities on the rest."""
    dev_numbers, test_numbers = split_texts(len(texts), dev_fraction, seed)
    dev_infgram, dev_sparse, dev_neural = _joined([texts[i] for i in dev_numbers])
    lambda_sparse, _ = tune_lambda(dev_infgram[dev_sparse], dev_neural[dev_sparse])
    lambda_non_sparse, _ = tune_lambda(dev_infgram[~dev_sparse], dev_neural[~dev_sparse])
    infgram, sparse, neural = _joined([texts[i] for i in test_numbers])
    mixed = np.where(sparse, mixture_logprobs(infgram, neural, lambda_sparse),
                     mixture_logprobs(infgram, neural, lambda_non_sparse))
    with np.errstate(divide="ignore"):
        infgram_logprobs = np.log(infgram)
    zero = infgram == 0
    neural_ppl, mixed_ppl = perplexity(neural), perplexity(mixed)
    paper = {name: {"neural_perplexity": before, "interpolated_perplexity": after,
                    "relative_improvement": round(relative_improvement(after, before) or 0, 4)}
             for name, (before, after) in PAPER_FIGURES.items()}
    return PerplexityReport(
        num_dev_texts=len(dev_numbers), num_test_texts=len(test_numbers), num_dev_tokens=len(dev_neural),
        num_test_tokens=len(neural), lambda_grid="0.00, 0.01, ..., 0.99", lambda_sparse=lambda_sparse,
        lambda_non_sparse=lambda_non_sparse,
        sparse_share=float(sparse.mean()) if len(sparse) else None,
        sparse_infgram_correct_share=float((infgram[sparse] == 1).mean()) if sparse.any() else None,
        neural_perplexity=neural_ppl, infgram_perplexity=perplexity(infgram_logprobs),
        infgram_zero_probability_tokens=int(zero.sum()),
        infgram_perplexity_of_nonzero_tokens=perplexity(infgram_logprobs[~zero]),
        interpolated_perplexity=mixed_ppl, relative_improvement=relative_improvement(mixed_ppl, neural_ppl),
        paper=paper, settings=dict(settings or {}))


def score_logprobs(index: Any, ids: Sequence[int], logprobs: Sequence[float | None]) -> TextScores:
    """:class:`TextScores` of a text given as ids with the model's log-probabilities (None
    where it gave none); the ∞-gram part comes from the index."""
    if len(ids) != len(logprobs):
        raise QueryError(f"expected one log-probability per id, found {len(logprobs)} for {len(ids)} ids")
    neural = np.array([math.nan if value is None else value for value in logprobs], dtype=np.float64)
    if np.any(neural > 1e-6):
        raise QueryError("expected natural-log probabilities (0 or less), found a positive value; give "
                         "log P(id | ids before it)")
    probabilities, sparse = infgram_scores(index, list(ids))
    return TextScores(probabilities, sparse, neural)
