"""Forms of the staff cron and timed-task pages (filters are validated, never used raw).

Each filter stands on its own: a bad value in one (``?outcome=xyz``, ``?level=BOGUS``,
a too long ``?q=``) is ignored and reported, the others still apply. A whole form is
never thrown away because one of its fields is wrong.
"""
from __future__ import annotations

from django import forms

from basic.cron_runtime.console.logtail import LEVELS
from basic.cron_runtime.models import RunOutcome, RunTrigger, TimedTaskStatus
from basic.cron_runtime.scheduling.registry import all_jobs


class IndependentFilterForm(forms.Form):
    """A GET filter form whose fields are validated one by one."""

    def filters(self) -> tuple[dict[str, object], list[tuple[str, str]]]:
        """(the valid, non-empty values; the ``(name, raw value)`` of every invalid field, which is ignored)."""
        self.is_valid()  # Django keeps each valid field in cleaned_data and drops only the failing ones
        kept = {name: value for name, value in self.cleaned_data.items() if value not in (None, "")}
        ignored = [(name, str(self.data.get(name, ""))) for name in self.fields if name in self.errors]
        return kept, ignored


class RunHistoryFilterForm(IndependentFilterForm):
    outcome = forms.ChoiceField(label="结果", required=False, choices=[("", "全部"), *RunOutcome.choices])
    trigger = forms.ChoiceField(label="触发", required=False, choices=[("", "全部"), *RunTrigger.choices])


class LogFilterForm(IndependentFilterForm):
    level = forms.ChoiceField(
        label="级别（及以上）", required=False, choices=[("", "全部"), *((name, name) for name in LEVELS)]
    )
    q = forms.CharField(label="包含文字", required=False, max_length=200)


class TimedTaskFilterForm(IndependentFilterForm):
    status = forms.TypedChoiceField(label="状态", required=False, coerce=int, empty_value=None,
                                    choices=[("", "全部"), *TimedTaskStatus.choices])
    overdue = forms.BooleanField(label="只看逾期（待执行且已过执行时间）", required=False)
    name = forms.CharField(label="名称包含", required=False, max_length=200)


class RunJobOnceForm(forms.Form):
    """"Run job X once at time T": any job of settings.CRONJOBS, a time in TIME_ZONE."""

    job = forms.ChoiceField(label="任务")
    run_at = forms.DateTimeField(label="执行时间", input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
                                 widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["job"].choices = [(job.name, f"{job.name} ({job.func_path})") for job in all_jobs()]
