"""Line plots for the reports: a PNG through matplotlib when it is installed (it comes with
``pip install 'infgram[lm]'``), otherwise an SVG drawn here, with nothing to install.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "plot.svg"
>>> line_plot(path, {"a": ([1, 2, 3], [0.1, 0.5, None])}, "n", "novelty", "example")
>>> path.read_text().startswith("<svg")
True
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Sequence

from ..errors import UnsupportedOperationError
from ..format import AtomicFile, write_text_atomically

Series = dict[str, tuple[Sequence[float], Sequence[float | None]]]

_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf")


def line_plot(path: str | Path, series: Series, x_label: str, y_label: str, title: str) -> None:
    """Draw each series (x values, y values; None is a gap) to ``path`` (.svg or .png)."""
    path = Path(path)
    if path.suffix.lower() == ".png":
        try:
            import matplotlib

            matplotlib.use("Agg")
            from matplotlib import pyplot
        except ImportError:
            raise UnsupportedOperationError(f"expected matplotlib to write {path}, found it not installed; "
                                            "pip install 'infgram[lm]', or give a .svg path") from None
        figure, axes = pyplot.subplots(figsize=(6.4, 4))
        for name, (xs, ys) in series.items():
            axes.plot(list(xs), [math.nan if y is None else y for y in ys], marker="o", markersize=3, label=name)
        if _whole_numbers(series):  # n of an n-gram, a length: no tick between two whole numbers
            from matplotlib.ticker import MaxNLocator

            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel(x_label)
        axes.set_ylabel(y_label)
        axes.set_title(title)
        axes.legend()
        figure.tight_layout()
        with AtomicFile(path, "wb") as handle:
            figure.savefig(handle, dpi=120, format="png")
        pyplot.close(figure)
        return
    write_text_atomically(path, svg_plot(series, x_label, y_label, title))


def _whole_numbers(series: Series) -> bool:
    """Whether every x value of the series is a whole number (then so are the ticks)."""
    return all(float(x).is_integer() for xs, _ in series.values() for x in xs)


def svg_plot(series: Series, x_label: str, y_label: str, title: str, width: int = 640, height: int = 400) -> str:
    """The plot as an SVG document."""
    points = [(x, y) for xs, ys in series.values() for x, y in zip(xs, ys) if y is not None and math.isfinite(y)]
    x_low, x_high = (min(p[0] for p in points), max(p[0] for p in points)) if points else (0, 1)
    y_low, y_high = (min(0.0, min(p[1] for p in points)), max(p[1] for p in points)) if points else (0, 1)
    x_high, y_high = (x_high if x_high > x_low else x_low + 1), (y_high if y_high > y_low else y_low + 1)
    left, right, top, bottom = 60, 20, 40, 50

    def at(x: float, y: float) -> tuple[float, float]:
        return (left + (x - x_low) / (x_high - x_low) * (width - left - right),
                height - bottom - (y - y_low) / (y_high - y_low) * (height - top - bottom))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
             f'font-size="12"><rect width="100%" height="100%" fill="white"/>',
             f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">{html.escape(title)}</text>',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="black"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="black"/>',
             f'<text x="{width / 2}" y="{height - 12}" text-anchor="middle">{html.escape(x_label)}</text>',
             f'<text x="16" y="{height / 2}" text-anchor="middle" transform="rotate(-90 16 {height / 2})">'
             f'{html.escape(y_label)}</text>']
    x_ticks = [x_low + (x_high - x_low) * step / 4 for step in range(5)]
    if _whole_numbers(series):  # n of an n-gram, a length: no tick between two whole numbers
        x_ticks = sorted({round(value) for value in x_ticks})
    for x_value in x_ticks:
        x, _ = at(x_value, y_low)
        parts.append(f'<text x="{x:.1f}" y="{height - bottom + 16}" text-anchor="middle">{x_value:g}</text>')
    for step in range(5):
        y_value = y_low + (y_high - y_low) * step / 4
        _, y = at(x_low, y_value)
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{y_value:.3g}</text>')
    for number, (name, (xs, ys)) in enumerate(series.items()):
        colour = _COLOURS[number % len(_COLOURS)]
        runs: list[list[tuple[float, float]]] = [[]]
        for x, y in zip(xs, ys):
            if y is None or not math.isfinite(y):
                runs.append([])
            else:
                runs[-1].append(at(x, y))
        for run in runs:
            if run:
                joined = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                parts.append(f'<polyline points="{joined}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts.append(f'<text x="{width - right - 150}" y="{top + 16 * (number + 1)}" fill="{colour}">'
                     f'{html.escape(name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
