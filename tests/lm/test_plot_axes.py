"""The reports' line plots label an axis of whole numbers (n of an n-gram) with whole numbers."""

from __future__ import annotations

import re

import pytest

from infgram.lm.plot import line_plot, svg_plot


def _x_labels(svg: str) -> list[str]:
    return re.findall(r'<text x="[^"]*" y="[^"]*" text-anchor="middle">([^<]*)</text>', svg)[:-1]  # less the axis name


def test_whole_number_x_values_get_whole_number_ticks():
    svg = svg_plot({"novelty": ([1, 2, 3, 4, 5, 6], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])}, "n", "novelty", "title")
    labels = [label for label in _x_labels(svg) if label != "n"]
    assert labels and all(re.fullmatch(r"\d+", label) for label in labels), labels  # never 3.25 or 5.5


def test_fractional_x_values_keep_their_ticks():
    svg = svg_plot({"a": ([0.0, 0.5, 1.0], [1.0, 2.0, 3.0])}, "x", "y", "title")
    assert "0.25" in _x_labels(svg)


def test_a_png_of_whole_numbers_is_drawn_with_whole_number_ticks(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib comes with the lm extra; the SVG path needs nothing")
    line_plot(tmp_path / "plot.png", {"novelty": ([1, 2, 3, 4, 5, 6], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])}, "n", "v", "t")
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
