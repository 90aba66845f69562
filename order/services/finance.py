"""The monthly_finance job: one FinanceRecord per finished month, months in TIME_ZONE.

The figures are over the orders *created* in the month, status as it stands when computed, and
always add up: ``created = paid + cancelled + timeout_cancelled + unpaid``. What each field means
and when a record is computed again: docs/jobs.md ("monthly_finance").
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Count, Min, Q, Sum
from django.utils import timezone

from basic.cron_runtime.scheduling.schedule import business_tz
from order.models import FinanceRecord, Order, OrderStatus, expired_q, order_timeout, payable_q


class FinanceMonthRefused(ValueError):
    """The month cannot be (re)generated: it has not finished yet, or is malformed."""


CENT = Decimal("0.01")
FIGURES = (
    "orders_created",
    "orders_paid",
    "orders_cancelled",
    "orders_timeout_cancelled",
    "orders_unpaid",
    "revenue",
    "discounts",
    "points_used",
)


def month_start(month: date) -> datetime:
    """The aware datetime of the 1st of ``month``, 00:00 in TIME_ZONE."""
    return timezone.make_aware(datetime(month.year, month.month, 1), business_tz())


def next_month(month: date) -> date:
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def current_month(now=None) -> date:
    return business_date(now or timezone.now()).replace(day=1)


def business_date(moment) -> date:
    """The calendar date of ``moment`` in TIME_ZONE (never the host's or a request's timezone)."""
    return timezone.localdate(moment, business_tz())


EARLIEST_YEAR = 2000  # far-past months would overflow timezone arithmetic and mean nothing here


def parse_month(text: str) -> date:
    """'2026-03' → date(2026, 3, 1); FinanceMonthRefused on anything else."""
    try:
        parsed = datetime.strptime(text.strip(), "%Y-%m")
    except ValueError:
        raise FinanceMonthRefused(f"{text!r} is not a month; write it as YYYY-MM, e.g. 2026-03") from None
    if parsed.year < EARLIEST_YEAR:
        raise FinanceMonthRefused(f"{text!r} is too early: months from {EARLIEST_YEAR}-01 on")
    return date(parsed.year, parsed.month, 1)


def finance_month_compute(month: date, *, now=None) -> dict:
    """The figures of one month, in ONE aggregate query over the month's orders."""
    month = month.replace(day=1)
    now = now or timezone.now()
    paid = Q(order_status=OrderStatus.PAID)
    figures = Order.objects.filter(
        created_time__gte=month_start(month), created_time__lt=month_start(next_month(month))
    ).aggregate(
        orders_created=Count("id"),
        orders_paid=Count("id", filter=paid),
        orders_cancelled=Count("id", filter=Q(order_status=OrderStatus.CANCELLED)),
        orders_timeout_cancelled=Count(
            "id", filter=Q(order_status=OrderStatus.TIMEOUT_CANCELLED) | expired_q(now)
        ),
        orders_unpaid=Count("id", filter=payable_q(now)),
        revenue=Sum("pay_amount", filter=paid, default=Decimal(0)),
        discounts=Sum("coupon_discount", filter=paid, default=Decimal(0)),
        points_used=Sum("points_used", filter=paid, default=0),
    )
    figures["points_used"] = int(figures["points_used"])  # MySQL's SUM gives a Decimal
    for money in ("revenue", "discounts"):  # SQLite's SUM loses the scale: 30 instead of 30.00
        figures[money] = Decimal(figures[money]).quantize(CENT)
    return figures


def _months_between(first: date, last: date):
    month = first
    while month <= last:
        yield month
        month = next_month(month)


def finance_catch_up(*, now=None) -> list[date]:
    """Record every finished month since the first order that has no record yet.

    Never the current month (in TIME_ZONE). A month recorded meanwhile by a
    concurrent run is left as that run wrote it. Records made while some orders of
    the month were still within their payment window (``orders_unpaid > 0``) are
    recomputed once that window has closed. Returns the months written.
    """
    now = now or timezone.now()
    this_month = current_month(now)
    first_order = Order.objects.aggregate(first=Min("created_time"))["first"]
    if first_order is None:
        return []
    first_month = business_date(first_order).replace(day=1)
    existing = set(FinanceRecord.objects.filter(month__gte=first_month).values_list("month", flat=True))
    written = []
    for month in _months_between(first_month, this_month - timedelta(days=1)):
        if month in existing:
            continue
        figures = finance_month_compute(month, now=now)
        try:
            with transaction.atomic():  # a savepoint, so a duplicate does not spoil a caller's transaction
                FinanceRecord.objects.create(month=month, **figures)
        except IntegrityError:
            continue  # a concurrent run recorded it first: same figures, nothing to do
        written.append(month)
    return sorted(written + finance_settle(now=now, skip=written))


def finance_settle(*, now=None, skip=()) -> list[date]:
    """Recompute the records made while some of their month's orders could still be paid.

    A month's record is made just after midnight, when orders from its last
    ``ORDER_TIMEOUT`` may still be paid; once that window has closed (``ORDER_TIMEOUT``
    after the month's end) the record is computed again, so a payment at 00:40 counts in
    the month it belongs to. Called by every catch-up and by each cancel_timeouts run
    (every minute), so the record is right within a minute of the window closing, not a
    month later. Usually there is nothing to do: one query on ``orders_unpaid > 0``.
    Returns the months recomputed.
    """
    now = now or timezone.now()
    settled = []
    for record in FinanceRecord.objects.filter(orders_unpaid__gt=0).exclude(month__in=list(skip)):
        if now >= month_start(next_month(record.month)) + order_timeout():
            FinanceRecord.objects.filter(pk=record.pk).update(
                generated_time=now, **finance_month_compute(record.month, now=now)
            )
            settled.append(record.month)
    return settled


def finance_regenerate(month: date, *, now=None) -> FinanceRecord:
    """Recompute one finished month on purpose (staff command / admin action)."""
    month = month.replace(day=1)
    now = now or timezone.now()
    if month >= current_month(now):
        raise FinanceMonthRefused(
            f"{month:%Y-%m} has not finished yet (today is {business_date(now):%Y-%m-%d} in "
            f"{business_tz().key}); only finished months can be recorded"
        )
    first_order = Order.objects.aggregate(first=Min("created_time"))["first"]
    if (first_order is None or month < business_date(first_order).replace(day=1)) and not (
        FinanceRecord.objects.filter(month=month).exists()
    ):
        since = f"the first order is from {business_date(first_order):%Y-%m}" if first_order else "there are no orders"
        raise FinanceMonthRefused(f"{month:%Y-%m} is before any order ({since}); nothing to record")
    record, _ = FinanceRecord.objects.update_or_create(month=month, defaults=finance_month_compute(month, now=now))
    return record
