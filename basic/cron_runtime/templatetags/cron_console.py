"""Template filters of the staff cron pages: short human durations and ages, slots, outcome badges."""
from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.html import format_html

from basic.cron_runtime.models import RunOutcome

register = template.Library()

# One colour per outcome, the same on every page; a running run keeps the plain grey badge.
OUTCOME_BADGE_CLASSES = {
    RunOutcome.SUCCEEDED: "badge-ok",
    RunOutcome.FAILED: "badge-bad",
    RunOutcome.SKIPPED: "badge-warn",
    RunOutcome.TERMINATED: "badge-terminated",
}
# Hover text for the outcomes whose English value alone does not say what happened.
OUTCOME_TITLES = {
    RunOutcome.SKIPPED: "已跳过：同一任务正在运行，或该计划时刻已有运行",
    RunOutcome.TERMINATED: "已终止：进程收到 SIGTERM 或 Ctrl-C 而停止，已记录停止前的进度",
}


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


@register.filter
def slot_text(value: datetime | None) -> str:
    """The scheduled minute a run belongs to, in TIME_ZONE: '2026-12-01 08:00'; '—' for a manual run (no slot)."""
    if value is None:
        return "—"
    return f"{timezone.localtime(value):%Y-%m-%d %H:%M}"


@register.filter
def outcome_badge(outcome: str | None) -> str:
    """A run's outcome as a coloured badge (class ``badge outcome badge-…``) labelled with the outcome's value."""
    if not outcome:
        return "—"
    title = OUTCOME_TITLES.get(outcome)
    title_attr = format_html(' title="{}"', title) if title else ""
    # The class attribute last, so the label follows it directly (the staff tests read it there).
    return format_html('<span{} class="badge outcome {}">{}</span>',
                       title_attr, OUTCOME_BADGE_CLASSES.get(outcome, ""), outcome)
