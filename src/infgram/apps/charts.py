"""Bar charts for the reports, drawn as SVG with nothing to install.

Both reports that plot a histogram (``duplicates --plot`` and the contamination report) draw
counts that span orders of magnitude (a few long repeats, millions of short ones), so the
bar heights are log-scaled: a bar's height is ``log10(1 + count)`` of the tallest's. A bar
of zero has no height, and the exact count is printed above each bar and in its tooltip.

>>> svg = log_bar_chart_svg([Bar("50–99", 3), Bar("100–199", 0)], "spans by length", "length")
>>> svg.startswith("<svg") and "50–99" in svg and svg.rstrip().endswith("</svg>")
True
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Sequence

BAR_COLOUR = "#4a7ab5"


@dataclass(frozen=True)
class Bar:
    """One bar: its label under the axis (empty for none), its count, its fill colour and the
    tooltip shown on hover (default: the label and the count)."""

    label: str
    count: int
    colour: str = BAR_COLOUR
    tooltip: str = ""


def log_bar_chart_svg(bars: Sequence[Bar], title: str, x_label: str, *, y_label: str = "count (log scale)",
                      ticks: Sequence[tuple[float, str]] = (), width: int = 680, height: int = 300) -> str:
    """An SVG document of ``bars``, left to right, heights log-scaled, with grid lines at the
    powers of ten. ``ticks`` are extra labels under the axis at fractions 0..1 of its width
    (for bins of a continuous quantity, whose edges say more than per-bar labels)."""
    left, right, top, bottom = 60, 20, 30, 50
    plot_width, plot_height = width - left - right, height - top - bottom
    largest = max((bar.count for bar in bars), default=0)
    scale = math.log10(1 + largest) if largest else 1.0

    def y_of(count: int) -> float:
        return top + plot_height - plot_height * math.log10(1 + count) / scale

    escape = html.escape
    bar_width = plot_width / max(len(bars), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             f'role="img" aria-label="{escape(title)}" font-family="sans-serif" font-size="11">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="14">{escape(title)}</text>']
    power = 1
    while power <= max(largest, 1):
        y = y_of(power)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_width}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{power:,}</text>')
        power *= 10
    for number, bar in enumerate(bars):
        x = left + number * bar_width
        y = y_of(bar.count)
        tooltip = bar.tooltip or f"{bar.label}: {bar.count:,}"
        parts.append(f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(bar_width - 2, 0.5):.1f}" '
                     f'height="{top + plot_height - y:.1f}" fill="{bar.colour}"><title>{escape(tooltip)}</title></rect>')
        if bar.count:
            parts.append(f'<text x="{x + bar_width / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" font-size="9">'
                         f'{bar.count:,}</text>')
        if bar.label:
            parts.append(f'<text x="{x + bar_width / 2:.1f}" y="{top + plot_height + 14}" text-anchor="middle">'
                         f'{escape(bar.label)}</text>')
    for fraction, text in ticks:
        x = left + plot_width * fraction
        parts.append(f'<text x="{x:.1f}" y="{top + plot_height + 16}" text-anchor="middle">{escape(text)}</text>')
    parts.append(f'<line x1="{left}" y1="{top + plot_height}" x2="{left + plot_width}" y2="{top + plot_height}" '
                 'stroke="#333"/>')
    parts.append(f'<text x="{left + plot_width / 2}" y="{height - 12}" text-anchor="middle">{escape(x_label)}</text>')
    parts.append(f'<text x="14" y="{top + plot_height / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {top + plot_height / 2})">{escape(y_label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
