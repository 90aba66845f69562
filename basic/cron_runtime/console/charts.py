"""Bar charts for the staff pages: the data and its units here, the drawing by Apache ECharts.

A view builds a ``Chart`` with ``bar_chart(...)`` and the template includes
``charts/bar_chart.html`` with it: a ``<div>`` that ``static/charts.js`` draws into with the
vendored ECharts (``static/vendor/echarts``, no CDN: the staff pages work offline), the data as
``json_script`` (so no label can inject markup), and the same numbers as a table for readers
without JavaScript. Units are chosen here from the data's range (``duration_unit``), so the axis
says "毫秒", "秒", "分钟" or "小时" and its ticks stay readable. Why ECharts: docs/observability.md.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ChartSeries:
    name: str
    values: Sequence[float]
    color: str  # a CSS colour from our own code, never from a request
    point_colors: Sequence[str | None] | None = None  # per-bar override, e.g. red for failed runs


@dataclass(frozen=True)
class Unit:
    """How the values are shown: axis name, tooltip suffix or prefix, and the divisor applied to raw values."""

    name: str = ""  # above the y axis, e.g. "秒"
    suffix: str = ""  # after a value in tooltips and the table, e.g. "秒"
    prefix: str = ""  # before a value, e.g. "¥"
    scale: float = 1.0  # raw value / scale = shown value (seconds / 60 = minutes)
    digits: int = 0  # decimals in the table
    whole: bool = False  # counts: no tick between two whole numbers (never 0.2, 0.4 … items)

    def show(self, raw: float) -> float:
        return float(raw) / self.scale

    def text(self, raw: float) -> str:
        number = f"{self.show(raw):,.{self.digits}f}"
        return f"{self.prefix}{number}{(' ' + self.suffix) if self.suffix else ''}"


COUNT = Unit(whole=True)
YUAN = Unit(name="元", prefix="¥", digits=2)


def duration_unit(longest_seconds: float) -> Unit:
    """Milliseconds below 1 s, seconds below 2 min, minutes below 2 h, hours beyond: the axis's
    ticks are then small round numbers of one unit, never 0.0, 0.0, 0.1."""
    if longest_seconds < 1:
        return Unit(name="毫秒", suffix="ms", scale=0.001, digits=0)
    if longest_seconds < 120:
        return Unit(name="秒", suffix="s", digits=2)
    if longest_seconds < 7200:
        return Unit(name="分钟", suffix="min", scale=60, digits=1)
    return Unit(name="小时", suffix="h", scale=3600, digits=2)


@dataclass(frozen=True)
class Chart:
    id: str  # unique on its page; the data's <script> is "<id>-data"
    title: str
    labels: Sequence[str]
    series: Sequence[ChartSeries]
    unit: Unit = COUNT
    notes: Sequence[str] | None = None  # one line per label for the tooltip and table (e.g. the outcome)
    height: int = 220
    rows: list = field(init=False, repr=False)

    def __post_init__(self):
        rows = []
        for index, label in enumerate(self.labels):
            note = self.notes[index] if self.notes else ""
            rows.append((label, [self.unit.text(one.values[index] or 0) for one in self.series], note))
        object.__setattr__(self, "rows", rows)

    @property
    def data_id(self) -> str:
        return f"{self.id}-data"

    @property
    def data(self) -> dict:
        """What static/charts.js reads (through json_script)."""
        return {
            "title": self.title,
            "unit": {"name": self.unit.name, "suffix": self.unit.suffix, "prefix": self.unit.prefix,
                     "whole": self.unit.whole},
            "labels": list(self.labels),
            "series": [{"name": one.name, "color": one.color,
                        "values": [round(self.unit.show(value or 0), 6) for value in one.values],
                        "colors": list(one.point_colors) if one.point_colors else None}
                       for one in self.series],
            "notes": list(self.notes) if self.notes else None,
        }


def bar_chart(*, id: str, title: str, labels: Sequence[str], series: Sequence[ChartSeries],  # noqa: A002
              unit: Unit | Callable[[float], Unit] = COUNT, notes: Sequence[str] | None = None,
              height: int = 220) -> Chart:
    """A grouped bar chart; ``unit`` may be a function of the largest value (e.g. ``duration_unit``)."""
    if callable(unit):
        unit = unit(max((float(v or 0) for one in series for v in one.values), default=0))
    return Chart(id=id, title=title, labels=list(labels), series=list(series), unit=unit, notes=notes,
                 height=height)
