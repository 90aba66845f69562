"""Small bar charts drawn on the server as inline SVG.

The staff pages must work offline and without a front-end build, so charts are plain
SVG markup produced here. Every piece of text (labels, series names, tooltips) goes
through ``format_html``, so a job name or label can never inject markup.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

WIDTH = 720
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 12, 30, 34
MAX_X_LABELS = 12
GRID_STEPS = 4


@dataclass(frozen=True)
class ChartSeries:
    name: str
    values: Sequence[float]
    color: str  # a CSS colour from our own code, never from a request
    point_colors: Sequence[str | None] | None = None  # per-bar override, e.g. red for failed runs


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k at or above ``value`` (a readable axis maximum)."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude  # value is at most 10 × magnitude by the choice of magnitude


def _plain_number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def bar_chart_svg(
    *,
    title: str,
    labels: Sequence[str],
    series: Sequence[ChartSeries],
    height: int = 220,
    value_format: Callable[[float], str] = _plain_number,
) -> SafeString:
    """A grouped bar chart: one group per label, one bar per series, one shared y axis from 0.

    Negative values are clamped to the zero baseline (height 0), and shown in the tooltip.
    """
    if not labels or not series:
        return format_html('<p class="muted chart-empty">{}: no data yet</p>', title)
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_height = height - MARGIN_TOP - MARGIN_BOTTOM
    top_value = nice_ceiling(max((float(v) for s in series for v in s.values), default=0))
    group_width = plot_width / len(labels)
    bar_width = max(1.0, group_width * 0.8 / len(series))

    def y_of(value: float) -> float:
        return MARGIN_TOP + plot_height * (1 - float(value) / top_value)

    parts = [format_html('<text x="{}" y="16" class="chart-title">{}</text>', MARGIN_LEFT, title)]
    legend_x = WIDTH - MARGIN_RIGHT
    for one in reversed(series):  # right-aligned legend
        legend_x -= 14 + 7 * len(one.name) + 24
        parts.append(format_html(
            '<rect x="{}" y="7" width="10" height="10" fill="{}"></rect><text x="{}" y="16" class="chart-legend">{}</text>',
            f"{legend_x:.1f}", one.color, f"{legend_x + 14:.1f}", one.name,
        ))
    for step in range(GRID_STEPS + 1):
        value = top_value * step / GRID_STEPS
        y = y_of(value)
        parts.append(format_html(
            '<line x1="{}" x2="{}" y1="{}" y2="{}" class="chart-grid"></line>'
            '<text x="{}" y="{}" class="chart-axis" text-anchor="end">{}</text>',
            MARGIN_LEFT, WIDTH - MARGIN_RIGHT, f"{y:.1f}", f"{y:.1f}", MARGIN_LEFT - 6, f"{y + 4:.1f}",
            value_format(value),
        ))
    label_every = math.ceil(len(labels) / MAX_X_LABELS)
    for index, label in enumerate(labels):
        group_x = MARGIN_LEFT + index * group_width + group_width * 0.1
        for position, one in enumerate(series):
            value = float(one.values[index] or 0)
            color = (one.point_colors[index] if one.point_colors else None) or one.color
            # The axis starts at 0: a negative value (a refund month, a clock step back) is drawn
            # as an empty bar at the baseline, never as a negative height; its tooltip says the value.
            y = y_of(max(0.0, value))
            parts.append(format_html(
                '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{} · {}: {}</title></rect>',
                f"{group_x + position * bar_width:.1f}", f"{y:.1f}", f"{bar_width:.1f}",
                f"{MARGIN_TOP + plot_height - y:.1f}", color, label, one.name, value_format(value),
            ))
        if index % label_every == 0:
            parts.append(format_html(
                '<text x="{}" y="{}" class="chart-axis" text-anchor="middle">{}</text>',
                f"{MARGIN_LEFT + (index + 0.5) * group_width:.1f}", height - MARGIN_BOTTOM + 16, label,
            ))
    body = mark_safe("".join(parts))  # every part above was built by format_html
    return format_html(
        '<svg class="chart" viewBox="0 0 {} {}" width="100%" role="img" aria-label="{}" '
        'xmlns="http://www.w3.org/2000/svg">{}</svg>',
        WIDTH, height, title, body,
    )

