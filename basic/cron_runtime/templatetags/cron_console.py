"""Template filters of the staff cron pages: short human durations and ages."""
from __future__ import annotations

from datetime import timedelta

from django import template

register = template.Library()


@register.filter
def seconds_text(value: timedelta | None) -> str:
    """A run's duration: '0.42 s', '12.3 s', '4 min 05 s', '2 h 03 min'."""
    if value is None:
        return "—"
    seconds = value.total_seconds()
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@register.filter
def age_text(value: timedelta | None) -> str:
    """How long ago: '40 秒前', '5 分钟前', '3 小时前', '2 天前'."""
    if value is None:
        return "从未"
    seconds = max(0, round(value.total_seconds()))
    for unit_seconds, unit in ((86400, "天"), (3600, "小时"), (60, "分钟")):
        if seconds >= unit_seconds * (2 if unit_seconds > 60 else 1):
            return f"{seconds // unit_seconds} {unit}前"
    return f"{seconds} 秒前"
