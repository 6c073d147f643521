"""Estimates of counts by metadata from a uniform sample of occurrences, with confidence intervals.

An exact count by a metadata field (or within a filter) reads every occurrence's document
(:mod:`infgram.query.metadata`): past the work budget it is refused. With ``estimate=True``
it is estimated instead, and says so:

1. The N occurrences of the query (the rows of its suffix-array runs, every shard and form;
   for the empty query every token) are numbered without reading anything, as a seeded
   page numbers them (:mod:`infgram.query.documents`).
2. n of them are drawn without replacement, in the seeded order of ``range(N)``
   (:class:`~infgram.sampling.SeededPermutation`, seed ``ESTIMATE_SEED``): the same sample
   on every run, deployment and index kind with the same shards. n is what the budget
   affords (one locate per draw, after the metadata's own cost).
3. Each drawn occurrence is located and its document looked up; it counts when it is in a
   live document meeting ``where`` (and is a whole word, with ``whole_words``), under its
   document's value of ``by``.

A value seen k times in the sample is estimated at N k / n occurrences; its 95% interval is
the Wilson score interval of the proportion k / n scaled by N (:func:`wilson_interval`),
then clipped to what the sample proves: at least k occurrences, at most N - (n - k).
Sampling without replacement only narrows the true spread, so the interval is
conservative. Values that no drawn occurrence has are absent from ``by``. The reply keeps
the raw sample counts (``sample``) so any other interval can be computed from them.

>>> estimate_of(30, 100, 1000)
(300, [218, 396])
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..sampling import SeededPermutation

ESTIMATE_SEED = 0
"""The seed of every estimate's sample: the same question gives the same estimate."""

Z_95 = 1.959963984540054
"""The standard normal quantile of a two-sided 95% interval."""


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion seen ``successes`` times in ``trials``.

    >>> [round(x, 4) for x in wilson_interval(0, 10)], [round(x, 4) for x in wilson_interval(5, 10)]
    ([0.0, 0.2775], [0.2366, 0.7634])
    """
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    spread = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - spread), min(1.0, centre + spread)


def estimate_of(successes: int, trials: int, population: int, z: float = Z_95) -> tuple[int, list[int]]:
    """(the estimated number of the ``population`` with a property seen ``successes`` times
    in a uniform sample of ``trials`` without replacement, [low, high] of its interval)."""
    low, high = wilson_interval(successes, trials, z)
    lowest, highest = successes, population - (trials - successes)  # what the sample itself proves
    interval = [max(lowest, math.floor(low * population)), min(highest, math.ceil(high * population))]
    return round(population * successes / trials) if trials else 0, interval


def sample_numbers(population: int, size: int) -> np.ndarray:
    """``size`` distinct occurrence numbers of ``range(population)``, drawn uniformly with the fixed seed."""
    return SeededPermutation(ESTIMATE_SEED, population).at(np.arange(size, dtype=np.int64))


def estimated_fields(population: int, size: int, count: int, by: dict[str, int] | None, missing: int
                     ) -> dict[str, Any]:
    """The estimate of a count by metadata from its sample's counts: ``count``, ``by``,
    ``missing`` (estimated), and ``sample_size``, ``population``, ``sample`` (the counts
    seen) and ``intervals`` (95%: ``count``, ``by`` per value, ``missing``).

    >>> fields = estimated_fields(1000, 100, 30, {"de": 20, "fr": 10}, 0)
    >>> fields["count"], fields["by"], fields["intervals"]["by"]["fr"]
    (300, {'de': 200, 'fr': 100}, [55, 175])
    """
    total, total_interval = estimate_of(count, size, population)
    estimated_by, by_intervals = {}, {}
    for value, seen in (by or {}).items():
        estimated_by[value], by_intervals[value] = estimate_of(seen, size, population)
    estimated_missing, missing_interval = estimate_of(missing, size, population)
    return {"count": total, "by": estimated_by, "missing": estimated_missing, "estimated": True,
            "sample_size": size, "population": population,
            "sample": {"count": count, "by": dict(by or {}), "missing": missing},
            "intervals": {"count": total_interval, "by": by_intervals, "missing": missing_interval}}


__all__ = ["ESTIMATE_SEED", "Z_95", "wilson_interval", "estimate_of", "sample_numbers", "estimated_fields"]
