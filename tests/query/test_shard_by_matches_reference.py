"""``build --shard-by`` against the oracle: counts per value, filtered counts and documents.

The corpora and metadata of ``test_metadata_matches_reference.py``, built with a shard-by
rule (a field, a nested field, or a bucket). Documents are numbered by value (sorted by value
string, the documents lacking the field last, input order within a value), so the oracle is
asked about the corpus in that order; the build report's map from input lines to document
numbers must give that same order.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

import infgram
from infgram import _reference as reference

from test_metadata_matches_reference import ask_count, cases, check_documents_and_next_tokens

RULES = {"lang": ["lang"], "year": ["year"], "meta.source": ["meta", "source"], "bucket(year, 5)": ["year"]}


def _value(rule: str, metadata) -> str | None:
    value = reference.metadata_value(metadata, RULES[rule])
    if value is None or not rule.startswith("bucket"):
        return value
    return str(math.floor(float(value) / 5) * 5)


def _shard_order(rule: str, metadata) -> list[int]:
    """Input positions in document-number order: by value string, missing last, stable."""
    values = [_value(rule, m) for m in metadata]
    return sorted(range(len(metadata)), key=lambda n: (values[n] is None, values[n] or ""))


@given(cases(), st.sampled_from(sorted(RULES)))
def test_shard_by_counts_match_reference(case, rule):
    width, documents, metadata, shard_tokens, query, by, where, conditions = case
    order = _shard_order(rule, metadata)
    documents = [documents[n] for n in order]
    metadata = [metadata[n] for n in order]
    key = by.split(".") if by is not None else None
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder) / "index"
        report = infgram.build_from_documents([{"ids": d, "metadata": m} for d, m in zip(documents, metadata)],
                                              directory, token_width=width, shard_tokens=shard_tokens,
                                              progress=False, shard_by=rule)
        # Built from the documents already in shard order: each line keeps its number...
        assert [number for _, line, size, first in report.document_numbers for number in range(first, first + size)] \
            == list(range(len(documents)))
        manifest = json.loads((directory / "manifest.json").read_text())
        assert manifest["build"]["shard_by"] == rule
        for entry in manifest["shards"]:  # ...and every shard holds one value, as its entry says
            values = {_value(rule, metadata[n]) for n in range(entry["first_document"],
                                                               entry["first_document"] + entry["num_documents"])}
            assert values == {entry["shard_by"]["value"]} and entry["shard_by"]["rule"] == rule
        index = infgram.Index.open(directory)
        expected = reference.count_by(documents, metadata, query, key, conditions)
        assert ask_count(index, query, by, where) == expected
        expected_documents = reference.documents_where(documents, metadata, query, conditions)
        check_documents_and_next_tokens(index, documents, metadata, query, by, where, key, conditions,
                                        expected_documents)


@given(cases())
def test_shard_by_report_maps_input_lines_to_document_numbers(case):
    width, documents, metadata, shard_tokens, *_ = case
    order = _shard_order("lang", metadata)
    with tempfile.TemporaryDirectory() as folder:
        report = infgram.build_from_documents([{"ids": d, "metadata": m} for d, m in zip(documents, metadata)],
                                              Path(folder) / "index", token_width=width, shard_tokens=shard_tokens,
                                              progress=False, shard_by="lang")
        index = infgram.Index.open(Path(folder) / "index")
        numbers = {}
        for source, line, size, first in report.document_numbers:
            for step in range(size):
                numbers[line + step] = first + step
        assert [numbers[n + 1] for n in order] == list(range(len(documents)))  # lines are 1-based
        for line, number in numbers.items():
            assert index.document(number).metadata == metadata[line - 1]
