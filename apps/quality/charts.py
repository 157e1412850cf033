"""Server-rendered SVG charts of the dashboard: plain SVG text built here, no script, nothing from a CDN.

The chart is an image with a title and a description for screen readers (``role="img"`` labelled by both);
each bar carries its month, series and count as ``data-*`` attributes and a ``<title>`` tooltip, and the page
shows the same numbers as a table beside it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

#: Colour-blind-safe palette (Okabe–Ito), one colour per series.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")
#: Above this many sites the chart shows the total per month (a stack of 20 colours cannot be read).
MAX_STACKED_SERIES = len(PALETTE)

WIDTH, HEIGHT = 720, 280
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 16, 56


@dataclass(frozen=True)
class Bar:
    month: dt.date
    series: str
    count: int
    x: float
    y: float
    width: float
    height: float
    colour: str


def months_between(first: dt.date, last: dt.date) -> list[dt.date]:
    """The first day of every month from ``first``'s month to ``last``'s, both included."""
    months = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append(dt.date(year, month, 1))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def nice_ceiling(value: int) -> int:
    """The axis maximum: ``value`` rounded up to 1, 2 or 5 times a power of ten (at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def stacked_bars(series: Mapping[str, Mapping[dt.date, int]], months: Sequence[dt.date]) -> tuple[list[Bar], int]:
    """The bars of a stacked monthly chart and the y-axis maximum; each series keeps its colour."""
    totals = [sum(values.get(month, 0) for values in series.values()) for month in months]
    top = nice_ceiling(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(months), 1)
    width = max(slot * 0.8, 1.0)
    bars = []
    for index, month in enumerate(months):
        base = 0
        for number, (name, values) in enumerate(series.items()):
            count = values.get(month, 0)
            if not count:
                continue
            height = plot_h * count / top
            y = TOP + plot_h - plot_h * (base + count) / top
            x = LEFT + index * slot + (slot - width) / 2
            bars.append(
                Bar(
                    month,
                    name,
                    count,
                    round(x, 2),
                    round(y, 2),
                    round(width, 2),
                    round(height, 2),
                    PALETTE[number % len(PALETTE)],
                )
            )
            base += count
    return bars, top


def enrollment_chart(series: Mapping[str, Mapping[dt.date, int]], *, title: str, description: str) -> str:
    """Episodes enrolled per month as an SVG bar chart, one stacked series per entry of ``series``."""
    months_seen = sorted({month for values in series.values() for month, count in values.items() if count})
    if not months_seen:
        return ""
    months = months_between(months_seen[0], months_seen[-1])
    bars, top = stacked_bars(series, months)
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
        'aria-labelledby="enrollment-title enrollment-desc" class="chart" id="enrollment-chart" '
        f'data-y-max="{top}">',
        f'<title id="enrollment-title">{escape(title)}</title>',
        f'<desc id="enrollment-desc">{escape(description)}</desc>',
    ]
    # y axis: gridlines at 0, ½ and the maximum
    for fraction in (0, 0.5, 1):
        y = TOP + plot_h - plot_h * fraction
        label = top * fraction
        label_text = f"{label:g}"
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.2f}" y2="{y:.2f}" stroke="#ccc"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.2f}" text-anchor="end" font-size="11">{label_text}</text>')
    parts.append(
        f'<text x="12" y="{TOP + plot_h / 2:.2f}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 12 {TOP + plot_h / 2:.2f})">Episodes enrolled</text>'
    )
    # x axis: a label every few months so that they never overlap
    slot = (WIDTH - LEFT - RIGHT) / len(months)
    every = max(1, math.ceil(len(months) / 12))
    for index, month in enumerate(months):
        if index % every == 0:
            x = LEFT + index * slot + slot / 2
            parts.append(
                f'<text x="{x:.2f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" font-size="11">{month:%b %Y}</text>'
            )
    parts.append(
        f'<text x="{LEFT + (WIDTH - LEFT - RIGHT) / 2:.2f}" y="{HEIGHT - 8}" text-anchor="middle" '
        'font-size="11">Month of enrollment</text>'
    )
    for bar in bars:
        parts.append(
            f'<rect x="{bar.x}" y="{bar.y}" width="{bar.width}" height="{bar.height}" fill="{bar.colour}" '
            f'data-month="{bar.month:%Y-%m}" data-series="{escape(bar.series)}" data-count="{bar.count}">'
            f"<title>{escape(bar.series)}, {bar.month:%B %Y}: {bar.count}</title></rect>"
        )
    parts.append("</svg>")
    return "".join(parts)


def legend(series_names: Sequence[str]) -> list[tuple[str, str]]:
    """(name, colour) of each series, in the chart's order."""
    return [(name, PALETTE[index % len(PALETTE)]) for index, name in enumerate(series_names)]
