"""Reads for the staff finance page."""
from __future__ import annotations

from datetime import date

from django.db.models import Max, Min

from order.models import FinanceRecord, Order
from order.services.finance import business_date


def finance_records_between(*, first_month: date | None = None, last_month: date | None = None) -> list[FinanceRecord]:
    """Finance records from ``first_month`` to ``last_month`` (inclusive, either open), oldest first."""
    records = FinanceRecord.objects.order_by("month")
    if first_month:
        records = records.filter(month__gte=first_month)
    if last_month:
        records = records.filter(month__lte=last_month)
    return list(records)


def finance_month_bounds() -> tuple[date | None, date | None]:
    """The first and last month that have a finance record."""
    bounds = FinanceRecord.objects.aggregate(first=Min("month"), last=Max("month"))
    return bounds["first"], bounds["last"]


def finance_first_order_month() -> date | None:
    """The month (in TIME_ZONE) of the first order ever created, or None when there is none."""
    first = Order.objects.aggregate(first=Min("created_time"))["first"]
    return business_date(first).replace(day=1) if first else None


def finance_record_exists(month: date) -> bool:
    return FinanceRecord.objects.filter(month=month.replace(day=1)).exists()
