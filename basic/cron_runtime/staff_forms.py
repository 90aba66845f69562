"""Query-string forms of the staff cron pages (filters are validated, never used raw).

Each filter stands on its own: a bad value in one (``?outcome=xyz``, ``?level=BOGUS``,
a too long ``?q=``) is ignored and reported, the others still apply. A whole form is
never thrown away because one of its fields is wrong.
"""
from __future__ import annotations

from django import forms

from basic.cron_runtime.logtail import LEVELS
from basic.cron_runtime.models import RunOutcome


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


class LogFilterForm(IndependentFilterForm):
    level = forms.ChoiceField(
        label="级别（及以上）", required=False, choices=[("", "全部"), *((name, name) for name in LEVELS)]
    )
    q = forms.CharField(label="包含文字", required=False, max_length=200)
