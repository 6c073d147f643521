"""``documents(..., by=..., estimate=True)`` against the oracle's documents by metadata.

Under the work budget the estimate is the exact answer (``estimated`` false). Past it the
sample is drawn with a fixed seed; a document counts when the drawn occurrence is its first
one (see :func:`infgram.query.metadata.estimated_documents`), so the number of documents is
estimated like a count, and the property checks, for the documents, every value and
``missing``, what the sample proves and a generous interval (Wilson's at z = 6), as
``test_estimates.py`` does for counts. A sample of every occurrence gives the exact answer:
that checks which occurrence is the first of its document, across forms and whole words.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

import infgram
from infgram import _reference as reference
from infgram.query.metadata import estimated_documents, parse_where
from infgram.query.options import Matching

from test_estimates import _contains
from test_metadata_matches_reference import _build, cases


@given(cases(), st.integers(0, 12))
def test_document_estimates_are_exact_under_the_budget_and_bracket_the_documents_past_it(case, max_work):
    width, documents, metadata, shard_tokens, query, by, where, conditions = case
    if by is None and not where:
        by = "lang"
    key = by.split(".") if by is not None else None
    expected = reference.documents_where(documents, metadata, query, conditions)
    values = [reference.metadata_value(metadata[number], key) for number in expected] if key else []
    by_values = {value: values.count(value) for value in values if value is not None}
    missing = values.count(None)
    with tempfile.TemporaryDirectory() as folder:
        index = infgram.Index.open(_build(Path(folder) / "index", width, documents, metadata, shard_tokens))
        exact = index.documents(query, by=by, where=where or None, estimate=True, exact=True, limit=0)
        assert (exact.num_documents, exact.by, exact.missing, exact.estimated) == \
            (len(expected), by_values if by else None, missing if by else None, False)
        try:
            result = index.documents(query, by=by, where=where or None, estimate=True, max_work=max_work, limit=3)
        except infgram.errors.LimitError as error:  # not even one draw is affordable
            assert error.fields["option"] == "max_work" and max_work <= 4
            return
        if not result.estimated:
            assert (result.num_documents, result.by, result.missing) == (exact.num_documents, exact.by, exact.missing)
            return
        event("estimated")
        population = len(documents) if len(query) == 0 else reference.count(documents, query)
        assert result.population == population and 1 <= result.sample_size <= min(max_work, population)
        assert not result.num_documents_exact and len(result.documents) <= 3
        listed = [document.index for document in result.documents]
        assert len(set(listed)) == len(listed) and set(listed) <= set(expected)
        seen = result.sample
        _contains(seen["count"], result.sample_size, population, len(expected), result.intervals["count"])
        if by is not None:
            for value in set(by_values) | set(seen["by"]):
                _contains(seen["by"].get(value, 0), result.sample_size, population, by_values.get(value, 0),
                          result.intervals["by"].get(value))
            _contains(seen["missing"], result.sample_size, population, missing, result.intervals["missing"])


@pytest.mark.parametrize("kind", ["sa", "fm"])
@pytest.mark.parametrize("options", [{}, {"ignore_case": True}, {"whole_words": True},
                                     {"ignore_case": True, "whole_words": True}])
def test_a_sample_of_every_occurrence_counts_each_document_once(tmp_path, options, kind):
    texts = ["Rose rose ROSE", "roses rose", "a rose", "ROSE", "prose", "rose Rose", "no", "rosé rose"]
    langs = ["de", "fr", "de", None, "fr", "de", "fr", "de"]
    infgram.build_from_documents([{"text": t, **({"lang": lang} if lang else {})} for t, lang in zip(texts, langs)],
                                 tmp_path / "i", shard_tokens=20, kind=kind, progress=False)
    index = infgram.Index.open(tmp_path / "i")
    exact = index.documents("rose", by="lang", limit=0, exact=True, **options)
    plan = index.plan("rose", Matching(**options))
    words = plan.words if options.get("whole_words") else None
    result = estimated_documents(index, plan.searched, words, ("lang",), parse_where(None), 10**9, 100, 0, None, None)
    assert result.sample_size == result.population == index.count("rose", ignore_case=options.get("ignore_case", False))
    assert (result.num_documents, result.by, result.missing) == (exact.num_documents, exact.by, exact.missing)
    assert sorted(document.index for document in result.documents) == \
        sorted(document.index for document in index.documents("rose", by="lang", exact=True, **options).documents)


def test_estimate_refusals(tmp_path):
    infgram.build_from_documents([{"text": "a rose", "lang": "en"}, {"text": "rose", "lang": "de"}], tmp_path / "i",
                                 progress=False)
    index = infgram.Index.open(tmp_path / "i")
    with pytest.raises(infgram.errors.QueryError, match="estimate to be true or false"):
        index.documents("rose", by="lang", estimate="yes")
    with pytest.raises(infgram.errors.QueryError, match="estimate with by or where"):
        index.documents("rose", estimate=True)
    with pytest.raises(infgram.errors.LimitError, match="one draw at least") as error:
        index.documents("rose", by="lang", estimate=True, max_work=1)
    assert error.value.fields["option"] == "max_work"
    with pytest.raises(infgram.errors.QueryError, match="lnag"):  # a misspelled field, estimated or not
        index.documents("rose", by="lnag", estimate=True, max_work=1)
