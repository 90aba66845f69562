"""monthly_finance: one record per finished month, months in TIME_ZONE, catch-up, regenerate."""
from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.management import CommandError, call_command

from basic.cron_runtime.running.result import JobReport
from order import cron
from order.models import FinanceRecord, Order, OrderStatus
from order.services import finance
from order.services.finance import (
    FinanceMonthRefused,
    finance_catch_up,
    finance_month_compute,
    finance_regenerate,
    parse_month,
)
from tests.factories import make_user
from tests.jobs.helpers import local, run_in_threads

pytestmark = pytest.mark.django_db
_numbers = itertools.count(1)


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.ORDER_TIMEOUT = 3600
    settings.TIME_ZONE = "Asia/Shanghai"


@pytest.fixture
def buyer():
    return make_user()


def make_order(user, created, status=OrderStatus.PAID, *, pay="100.00", discount="0", points=0, settled_after=None):
    """An order row as it stands after the site and the jobs did their work."""
    settled = created + (settled_after or timedelta(minutes=10))
    return Order.objects.create(
        order_number=f"F{next(_numbers):012d}",
        user=user,
        total=Decimal(pay) + Decimal(discount) + Decimal(points) / 100,
        coupon_discount=Decimal(discount),
        points_used=points,
        pay_amount=Decimal(pay),
        order_status=status,
        created_time=created,
        paid_time=settled if status == OrderStatus.PAID else None,
        cancelled_time=settled if status in (OrderStatus.CANCELLED, OrderStatus.TIMEOUT_CANCELLED) else None,
    )


def test_month_boundaries_are_in_time_zone_not_utc(buyer):
    utc_evening = datetime(2026, 3, 31, 17, 0, tzinfo=UTC)  # 2026-04-01 01:00 in Shanghai
    utc_afternoon = datetime(2026, 3, 31, 15, 59, 59, tzinfo=UTC)  # 2026-03-31 23:59:59 in Shanghai
    make_order(buyer, utc_evening, pay="7.00")
    make_order(buyer, utc_afternoon, pay="5.00")
    make_order(buyer, local(2026, 4, 30, 23, 59, 59), pay="3.00")
    make_order(buyer, local(2026, 5, 1, 0, 0, 0), pay="1.00")  # 2026-04-30 16:00 UTC, but May here

    march = finance_month_compute(date(2026, 3, 1), now=local(2026, 6, 1))
    april = finance_month_compute(date(2026, 4, 1), now=local(2026, 6, 1))

    assert (march["orders_created"], march["revenue"]) == (1, Decimal("5.00"))
    assert (april["orders_created"], april["revenue"]) == (2, Decimal("10.00"))


def test_figures_count_by_status_and_sum_what_paid_orders_paid(buyer):
    day = local(2026, 2, 10, 12, 0)
    make_order(buyer, day, pay="80.00", discount="20.00", points=500)
    make_order(buyer, day, pay="50.00", discount="10.00")
    make_order(buyer, day, OrderStatus.CANCELLED, pay="99.00", discount="5.00", points=100)
    make_order(buyer, day, OrderStatus.TIMEOUT_CANCELLED, pay="70.00", points=300)
    make_order(buyer, day, OrderStatus.UNPAID, pay="60.00")  # past its deadline, job not run yet: timed out
    make_order(buyer, local(2026, 2, 28, 23, 50), OrderStatus.UNPAID, pay="40.00")  # still within its window
    make_order(buyer, local(2026, 3, 1, 0, 5), pay="1000.00")  # next month

    figures = finance_month_compute(date(2026, 2, 1), now=local(2026, 3, 1, 0, 30))

    assert figures == {
        "orders_created": 6,
        "orders_paid": 2,
        "orders_cancelled": 1,
        "orders_timeout_cancelled": 2,
        "orders_unpaid": 1,
        "revenue": Decimal("130.00"),
        "discounts": Decimal("30.00"),
        "points_used": 500,
    }
    counted = ("orders_paid", "orders_cancelled", "orders_timeout_cancelled", "orders_unpaid")
    assert figures["orders_created"] == sum(figures[k] for k in counted)


def test_a_month_is_one_aggregate_query(buyer, django_assert_num_queries):
    for day in range(1, 28):
        make_order(buyer, local(2026, 2, day, 12), OrderStatus(day % 4))
    with django_assert_num_queries(1):
        finance_month_compute(date(2026, 2, 1), now=local(2026, 5, 1))


def test_an_empty_month_is_all_zeros():
    assert finance_month_compute(date(2026, 2, 1), now=local(2026, 5, 1)) == {
        "orders_created": 0,
        "orders_paid": 0,
        "orders_cancelled": 0,
        "orders_timeout_cancelled": 0,
        "orders_unpaid": 0,
        "revenue": Decimal(0),
        "discounts": Decimal(0),
        "points_used": 0,
    }


def test_catch_up_records_every_finished_month_since_the_first_order_never_the_current_one(buyer):
    make_order(buyer, local(2025, 12, 31, 23, 0), pay="10.00")
    make_order(buyer, local(2026, 2, 14, 9, 0), pay="20.00")
    make_order(buyer, local(2026, 4, 2, 9, 0), pay="40.00")

    written = finance_catch_up(now=local(2026, 4, 15, 8, 0))

    assert written == [date(2025, 12, 1), date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]
    records = {r.month: r for r in FinanceRecord.objects.all()}
    assert set(records) == set(written)
    assert records[date(2026, 1, 1)].orders_created == 0  # a month without orders is still a finished month
    assert records[date(2026, 2, 1)].revenue == Decimal("20.00")

    assert finance_catch_up(now=local(2026, 4, 30, 23, 0)) == []
    FinanceRecord.objects.filter(month=date(2026, 1, 1)).delete()
    assert finance_catch_up(now=local(2026, 4, 30, 23, 0)) == [date(2026, 1, 1)]
    assert FinanceRecord.objects.count() == 4


def test_the_month_turns_at_midnight_in_time_zone_not_in_utc(buyer):
    make_order(buyer, local(2026, 4, 10, 9, 0))
    # 2026-04-30 16:30 UTC is already 2026-05-01 00:30 in Shanghai: April has finished.
    assert finance_catch_up(now=datetime(2026, 4, 30, 15, 59, tzinfo=UTC)) == []
    assert finance_catch_up(now=datetime(2026, 4, 30, 16, 30, tzinfo=UTC)) == [date(2026, 4, 1)]


def test_the_job_function_records_and_reports(buyer):
    make_order(buyer, local(2026, 3, 10, 9, 0))
    with time_machine.travel(local(2026, 5, 1, 0, 30), tick=False):
        report = cron.monthly_finance()
        again = cron.monthly_finance()
    assert report == JobReport(2, "finance recorded for 2 month(s): 2026-03, 2026-04")
    assert again == JobReport(0, "finance: every finished month already has its record")


def test_a_month_recorded_by_a_concurrent_run_is_not_recorded_twice(buyer, monkeypatch):
    make_order(buyer, local(2026, 3, 10, 9, 0), pay="30.00")
    real_compute = finance.finance_month_compute

    def other_run_wins(month, *, now=None):
        figures = real_compute(month, now=now)
        FinanceRecord.objects.create(month=month, **figures)  # the other host commits first
        return figures

    monkeypatch.setattr(finance, "finance_month_compute", other_run_wins)
    assert finance_catch_up(now=local(2026, 4, 1, 0, 30)) == []
    assert FinanceRecord.objects.filter(month=date(2026, 3, 1)).count() == 1


def test_a_record_made_while_orders_could_still_be_paid_is_settled_later(buyer):
    late_order = make_order(buyer, local(2026, 3, 31, 23, 50), OrderStatus.UNPAID, pay="25.00")
    assert finance_catch_up(now=local(2026, 4, 1, 0, 30)) == [date(2026, 3, 1)]
    record = FinanceRecord.objects.get(month=date(2026, 3, 1))
    assert (record.orders_unpaid, record.orders_paid, record.revenue) == (1, 0, Decimal(0))

    Order.objects.filter(pk=late_order.pk).update(order_status=OrderStatus.PAID, paid_time=local(2026, 4, 1, 0, 40))
    assert finance_catch_up(now=local(2026, 4, 1, 0, 59)) == []  # the order's window is not closed yet
    assert finance_catch_up(now=local(2026, 4, 1, 1, 0)) == [date(2026, 3, 1)]
    record.refresh_from_db()
    assert (record.orders_unpaid, record.orders_paid, record.revenue) == (0, 1, Decimal("25.00"))


def test_the_minute_job_settles_the_record_once_the_months_last_window_closes_not_a_month_later(buyer):
    """Recorded at 00:30 with an order still payable, paid at 00:40: the record must count it
    within a minute of its window closing (01:00), not when the monthly job next runs."""
    paid_late = make_order(buyer, local(2026, 3, 31, 23, 50), OrderStatus.UNPAID, pay="25.00")
    timed_out = make_order(buyer, local(2026, 3, 31, 23, 55), OrderStatus.UNPAID, pay="15.00")
    with time_machine.travel(local(2026, 4, 1, 0, 30), tick=False):
        cron.monthly_finance()
    Order.objects.filter(pk=paid_late.pk).update(order_status=OrderStatus.PAID, paid_time=local(2026, 4, 1, 0, 40))

    with time_machine.travel(local(2026, 4, 1, 0, 59), tick=False):  # a 23:59 order could still be paid
        report = cron.cancel_timeouts()
    assert report.items_processed == 1 and "finance" not in report.message  # the 23:55 order timed out
    assert Order.objects.get(pk=timed_out.pk).order_status == OrderStatus.TIMEOUT_CANCELLED
    assert FinanceRecord.objects.get(month=date(2026, 3, 1)).orders_unpaid == 2

    with time_machine.travel(local(2026, 4, 1, 1, 0, 30), tick=False):  # every March window has closed
        report = cron.cancel_timeouts()
    assert "finance recomputed for 2026-03" in report.message
    record = FinanceRecord.objects.get(month=date(2026, 3, 1))
    assert (record.orders_unpaid, record.orders_paid, record.orders_timeout_cancelled, record.revenue) == (
        0, 1, 1, Decimal("25.00"))


def test_regenerate_recomputes_a_month_on_purpose(buyer):
    order = make_order(buyer, local(2026, 3, 10, 9, 0), pay="30.00")
    finance_catch_up(now=local(2026, 4, 2))
    Order.objects.filter(pk=order.pk).update(pay_amount=Decimal("33.00"))  # e.g. a data fix by staff

    with time_machine.travel(local(2026, 4, 2), tick=False):
        record = finance_regenerate(date(2026, 3, 1))
    assert record.revenue == Decimal("33.00")
    assert FinanceRecord.objects.filter(month=date(2026, 3, 1)).count() == 1


@pytest.mark.parametrize("month", [date(2026, 4, 1), date(2026, 7, 1)], ids=["current", "future"])
def test_regenerate_refuses_a_month_that_has_not_finished(month):
    with pytest.raises(FinanceMonthRefused, match="has not finished yet"):
        finance_regenerate(month, now=local(2026, 4, 30, 23, 59))
    assert not FinanceRecord.objects.exists()


def test_regenerate_command(buyer, capsys):
    make_order(buyer, local(2026, 3, 10, 9, 0), pay="30.00", discount="5.00", points=200)
    with time_machine.travel(local(2026, 4, 2), tick=False):
        call_command("finance_regenerate", "2026-03")
        with pytest.raises(CommandError, match="not a month; write it as YYYY-MM"):
            call_command("finance_regenerate", "March")
        with pytest.raises(CommandError, match="2026-04 has not finished yet"):
            call_command("finance_regenerate", "2026-04")
    out = capsys.readouterr().out
    assert "2026-03: 1 orders created, 1 paid" in out and "revenue ¥30.00" in out
    assert FinanceRecord.objects.get(month=date(2026, 3, 1)).points_used == 200


def test_regenerate_refuses_months_before_any_order_unless_recorded(buyer):
    make_order(buyer, local(2026, 3, 10, 9, 0))
    with pytest.raises(FinanceMonthRefused, match="before any order"):
        finance_regenerate(date(2026, 1, 1), now=local(2026, 4, 2))
    assert not FinanceRecord.objects.exists()
    FinanceRecord.objects.create(month=date(2026, 1, 1), orders_created=9)  # e.g. imported history
    assert finance_regenerate(date(2026, 1, 1), now=local(2026, 4, 2)).orders_created == 0


def test_regenerate_command_refuses_far_past_months_clearly(buyer):
    make_order(buyer, local(2026, 3, 10, 9, 0))
    with pytest.raises(CommandError, match="too early"):
        call_command("finance_regenerate", "0001-01")


def test_parse_month():
    assert parse_month(" 2026-03 ") == date(2026, 3, 1)
    for bad in ("2026-13", "2026/03", "", "2026-03-01", "0001-01", "1999-12"):
        with pytest.raises(FinanceMonthRefused):
            parse_month(bad)


@pytest.mark.mysql_only
@pytest.mark.django_db(transaction=True)
def test_two_catch_ups_at_once_record_each_month_once(buyer):
    for month in range(1, 11):
        make_order(buyer, local(2025, month, 5, 12))
    now = local(2026, 1, 1, 0, 30)
    first, second = run_in_threads(lambda: finance_catch_up(now=now), lambda: finance_catch_up(now=now))
    assert sorted(first + second) == [date(2025, m, 1) for m in range(1, 13)]
    assert FinanceRecord.objects.count() == 12
