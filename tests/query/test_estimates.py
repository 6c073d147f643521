"""``count(..., estimate=True)`` against the oracle's exact counts by metadata.

Under the work budget the estimate is the exact answer (``estimated`` false). Past it, the
sample is drawn with a fixed seed, so each case is deterministic; its 95% intervals miss now
and then by design, so the property checks, for the count, every value and ``missing``:

- what the sample proves: at least the occurrences seen, at most the population less those
  seen elsewhere (never wrong);
- the exact value inside a generous interval, Wilson's at z = 6 from the sample's own
  counts (a miss there has odds below one in 10^8; sampling without replacement only
  narrows the spread).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import event, given
from hypothesis import strategies as st

import infgram
from infgram import _reference as reference
from infgram.query.estimation import estimate_of, wilson_interval

from test_metadata_matches_reference import _build, cases


def _contains(seen: int, size: int, population: int, exact: int, reported: list[int] | None) -> None:
    assert seen <= exact <= population - (size - seen)
    _, generous = estimate_of(seen, size, population, z=6.0)
    assert generous[0] <= exact <= generous[1]
    if reported is not None:
        assert seen <= reported[0] <= reported[1] <= population


@given(cases(), st.integers(0, 12))
def test_estimates_are_exact_under_the_budget_and_bracket_the_count_past_it(case, max_work):
    width, documents, metadata, shard_tokens, query, by, where, conditions = case
    key = by.split(".") if by is not None else None
    count, by_values, missing = reference.count_by(documents, metadata, query, key, conditions)
    population = reference.count(documents, query)
    with tempfile.TemporaryDirectory() as folder:
        index = infgram.Index.open(_build(Path(folder) / "index", width, documents, metadata, shard_tokens))
        if by is None and not where:
            assert index.count(query, estimate=True, max_work=max_work) == count  # plain: exact, a number
            return
        exact = index.count(query, by=by, where=where or None, estimate=True, exact=True)
        assert (exact.count, exact.by if by else {}, exact.missing, exact.estimated) == \
            (count, by_values if by else {}, missing if by else 0, False)
        try:
            result = index.count(query, by=by, where=where or None, estimate=True, max_work=max_work)
        except infgram.errors.LimitError as error:  # not even one occurrence is affordable
            assert max_work == 0 and error.fields["option"] == "max_work"
            return
        if not result.estimated:
            assert (result.count, result.by, result.missing) == (exact.count, exact.by, exact.missing)
            return
        event("estimated")
        assert 1 <= result.sample_size <= min(max_work, population)
        assert result.population == population
        seen = result.sample
        _contains(seen["count"], result.sample_size, population, count, result.intervals["count"])
        if by is not None:
            for value in set(by_values) | set(seen["by"]):
                _contains(seen["by"].get(value, 0), result.sample_size, population, by_values.get(value, 0),
                          result.intervals["by"].get(value))
            _contains(seen["missing"], result.sample_size, population, missing, result.intervals["missing"])
        # The reported intervals are Wilson's at 95% from the same counts.
        low, high = wilson_interval(seen["count"], result.sample_size)
        assert result.intervals["count"][0] >= min(seen["count"], int(low * population))
        assert result.intervals["count"][1] <= max(population - result.sample_size + seen["count"],
                                                   -(-high * population // 1))
