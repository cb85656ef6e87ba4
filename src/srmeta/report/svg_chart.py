"""A line chart as inline SVG text: axes with round ticks, one polyline per curve, a legend.

Small on purpose: the report must open offline as one file, so no plotting library from the
web, and no picture where a few lines of vector text do."""

from __future__ import annotations

import math
from html import escape

from srmeta.report.comparison import Chart

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
WIDTH, HEIGHT = 640, 320
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 30, 40
SMOOTHING = 40
"""Curves of more than 2 x this many points also get a running mean over len/this points."""


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round values (steps of 1, 2 or 5 times a power of ten) in [low, high]."""
    if not high > low:
        low, high = low - 0.5, high + 0.5
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9)
    ticks = []
    while (first + len(ticks)) * step <= high + step * 1e-9:
        ticks.append((first + len(ticks)) * step)
    return ticks


def log_ticks(low: float, high: float) -> list[float]:
    """Ticks (as log10 values) of a log axis over [low, high] (log10 values): 1, 2 and 5
    times powers of ten, only the powers when those are many, linear ones when too few."""
    decades = range(math.floor(low), math.ceil(high) + 1)
    for factors in ((1, 2, 5), (1,)):
        ticks = [math.log10(f * 10.0**d) for d in decades for f in factors]
        ticks = [t for t in ticks if low <= t <= high]
        if 2 <= len(ticks) <= 8:
            return ticks
    values = [t for t in nice_ticks(10**low, 10**high) if t > 0]
    return [math.log10(v) for v in values]


def smooth(values: list[float], width: int) -> list[float]:
    """The running mean over ``width`` points (centred; shorter at the ends)."""
    half = width // 2
    sums = [0.0]
    for value in values:
        sums.append(sums[-1] + value)
    n = len(values)
    spans = [(max(0, i - half), min(n, i + half + 1)) for i in range(n)]
    return [(sums[b] - sums[a]) / (b - a) for a, b in spans]


def _bounds(values: list[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    pad = (high - low) * 0.05 or abs(low) * 0.05 or 0.5
    return low - pad, high + pad


def _label(value: float, log: bool) -> str:
    return f"{10**value:.3g}" if log else f"{value:.6g}"


def line_chart(chart: Chart) -> str:
    """The chart as one ``<svg>`` element (x: training step; y: log10 when ``log_y``)."""
    to_y = math.log10 if chart.log_y else float
    xs = [x for curve in chart.curves for x, _ in curve.points]
    ys = [to_y(y) for curve in chart.curves for _, y in curve.points]
    x0 = min(xs)
    x1 = max(max(xs), x0 + 1)
    y0, y1 = _bounds(ys)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + (x - x0) / (x1 - x0) * plot_w

    def py(y: float) -> float:
        return TOP + (y1 - y) / (y1 - y0) * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}"'
        f' role="img" aria-label="{escape(chart.title)}">',
        f'<text x="{LEFT}" y="18" class="title">{escape(chart.title)}</text>',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" class="frame"/>',
    ]
    for tick in log_ticks(y0, y1) if chart.log_y else nice_ticks(y0, y1):
        y = py(tick)
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
        )
        label = _label(tick, chart.log_y)
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="ytick">{label}</text>')
    for tick in nice_ticks(x0, x1):
        x = px(tick)
        parts.append(f'<text x="{x:.1f}" y="{TOP + plot_h + 16}" class="xtick">{tick:g}</text>')
    parts.append(f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 6}" class="xtick">step</text>')
    parts.append(
        f'<text x="14" y="{TOP + plot_h / 2}" class="axis" transform="rotate(-90 14'
        f' {TOP + plot_h / 2})">{escape(chart.y_label)}</text>'
    )
    for i, curve in enumerate(chart.curves):
        colour = PALETTE[i % len(PALETTE)]
        xs = [px(x) for x, _ in curve.points]
        ys = [py(to_y(y)) for _, y in curve.points]
        width = len(ys) // SMOOTHING
        if width > 1:  # the raw values faint, their running mean on top
            raw = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
            parts.append(f'<polyline points="{raw}" style="stroke:{colour}" class="raw"/>')
            ys = smooth(ys, width)
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
        parts.append(f'<polyline points="{points}" style="stroke:{colour}"/>')
        y = TOP + 14 + 14 * i
        right = LEFT + plot_w - 8
        parts.append(
            f'<line x1="{right - 18}" x2="{right}" y1="{y - 4}" y2="{y - 4}"'
            f' style="stroke:{colour}" class="key"/>'
        )
        parts.append(f'<text x="{right - 22}" y="{y}" class="legend">{escape(curve.label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
