"""Forms of the staff finance page: months are typed as YYYY-MM (``<input type="month">``)."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from django import forms
from django.utils import timezone

from basic.cron_runtime.scheduling.schedule import business_tz
from order.services.finance import business_date, current_month
from order.staff_selectors import finance_first_order_month, finance_record_exists

# No finance record can be older than this; it also keeps absurd years (0001-01) away from the
# timezone arithmetic, where they overflow.
EARLIEST_MONTH = date(2000, 1, 1)


def month_text(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"  # strftime("%Y") would write year 1 as "1"


class MonthField(forms.Field):
    widget = forms.TextInput(attrs={"type": "month", "placeholder": "YYYY-MM"})
    default_error_messages = {"invalid": "请输入月份，格式 YYYY-MM"}

    def to_python(self, value) -> date | None:
        if value in self.empty_values:
            return None
        try:
            return datetime.strptime(str(value).strip(), "%Y-%m").date()
        except ValueError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None

    def prepare_value(self, value):
        return month_text(value) if isinstance(value, date) else value


class FinanceRangeForm(forms.Form):
    """Any well-formed months; the views narrow them to the months on record."""

    first = MonthField(label="从", required=False)
    last = MonthField(label="到", required=False)

    def clean(self):
        cleaned = super().clean()
        first, last = cleaned.get("first"), cleaned.get("last")
        if first and last and first > last:
            raise forms.ValidationError("开始月份不能晚于结束月份")
        return cleaned


class RegenerateMonthForm(forms.Form):
    """A finished month from 2000-01 on; before the first order only if it already has a record."""

    month = MonthField(label="月份")

    def __init__(self, *args, now: datetime | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.now = now or timezone.now()
        self.last_finished_month = (current_month(self.now) - timedelta(days=1)).replace(day=1)
        self.fields["month"].widget.attrs.update(
            min=month_text(EARLIEST_MONTH), max=month_text(self.last_finished_month)
        )

    def clean_month(self) -> date:
        month = self.cleaned_data["month"]
        if month < EARLIEST_MONTH:
            raise forms.ValidationError(
                f"{month_text(month)} 太早了：只能生成 {month_text(EARLIEST_MONTH)} 以后的月份", code="too_early"
            )
        if month > self.last_finished_month:
            raise forms.ValidationError(
                f"{month_text(month)} 还没有结束（今天是 {business_date(self.now):%Y-%m-%d}，"
                f"{business_tz().key}）：最近一个已结束的月份是 "
                f"{month_text(self.last_finished_month)}",
                code="not_finished",
            )
        first_order_month = finance_first_order_month()
        if (first_order_month is None or month < first_order_month) and not finance_record_exists(month):
            since = f"第一笔订单在 {month_text(first_order_month)}" if first_order_month else "还没有任何订单"
            raise forms.ValidationError(
                f"{month_text(month)} 没有订单（{since}），不生成全为 0 的月报", code="before_first_order"
            )
        return month
