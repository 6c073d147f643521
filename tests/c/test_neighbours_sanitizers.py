"""Builds tests/c/test_neighbours.c (which includes src/infgram/c/neighbours.c) under
AddressSanitizer and UndefinedBehaviorSanitizer and runs it, with the runner of the other C
unit tests (test_c_sanitizers.py): the neighbour comparisons of deduplication against brute
force, and on a damaged suffix array (see the comment at the top of test_neighbours.c)."""

from __future__ import annotations

from test_c_sanitizers import _compile_and_run, pytestmark  # noqa: F401  (pytestmark: skip without cc)


def test_neighbours_under_sanitizers(tmp_path):
    assert "neighbours: ok" in _compile_and_run("test_neighbours.c", tmp_path)
