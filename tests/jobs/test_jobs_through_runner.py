"""Each business job once through the one runner: run record, outcome, items and message, job log."""
from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from basic.cron_runtime.running import runner
from basic.cron_runtime.running.joblog import job_log_path
from basic.cron_runtime.models import RunOutcome
from basic.cron_runtime.scheduling.registry import job_by_name
from tests.factories import make_product, make_user
from tests.jobs.helpers import local, place_at

pytestmark = pytest.mark.django_db


def run(name):
    return runner.run_job(job_by_name(name), trigger="manual")


def log_size(name) -> int:
    path = job_log_path(name)
    return path.stat().st_size if path.exists() else 0


def log_since(name, offset: int) -> str:
    """What this test's run appended to the job's log (earlier tests wrote there too)."""
    with open(job_log_path(name), "rb") as log:
        log.seek(offset)
        return log.read().decode("utf-8")


def test_cancel_timeouts_through_the_runner(settings):
    settings.ORDER_TIMEOUT = 3600
    user, product = make_user(points=100), make_product(stock=5)
    place_at(local(2026, 3, 1, 9, 0), user, product, 2, points=100)
    offset = log_size("cancel_timeouts")
    with time_machine.travel(local(2026, 3, 1, 11, 0), tick=False):
        record = run("cancel_timeouts")
    assert record.outcome == RunOutcome.SUCCEEDED and record.items_processed == 1
    assert record.message == f"cancelled 1 orders; returned 2 stock units (#{product.pk}: 2), 0 coupons, 100 points"
    assert record.message in log_since("cancel_timeouts", offset)


def test_one_cancel_timeouts_run_cancels_refunds_and_settles_at_its_one_moment(settings):
    """The run's start is the moment of all it writes: with a clock that moves on (tick=True), the
    cancel, the points refund and the finance settle each reading the clock would disagree."""
    from basic.models import PointsEntry, PointsReason
    from order.models import FinanceRecord, Order
    from order.services.finance import finance_catch_up

    settings.ORDER_TIMEOUT = 3600
    user, product = make_user(points=100), make_product(stock=5)
    order = place_at(local(2026, 3, 31, 23, 30), user, product, 1, points=100)  # payable until 00:30 on 1 April
    [march] = finance_catch_up(now=local(2026, 4, 1, 0, 10))  # recorded while the order could still be paid
    with time_machine.travel(local(2026, 4, 1, 1, 0, 30), tick=True):  # every March window has closed
        record = run("cancel_timeouts")
    assert record.outcome == RunOutcome.SUCCEEDED and "finance recomputed for 2026-03" in record.message
    cancelled = Order.objects.get(pk=order.pk).cancelled_time
    refunded = PointsEntry.objects.get(order_id=order.pk, reason=PointsReason.ORDER_REFUND).created_time
    settled = FinanceRecord.objects.get(month=march).generated_time
    assert cancelled == refunded == settled == record.started_at


def test_birthday_mail_partial_smtp_failure_fails_the_run_with_what_was_sent(smtp_server):
    for i in range(3):
        make_user(birthday=local(1990, 6, 15).date(), email=f"r{i}@example.com")
    smtp_server.refuse = {"r1@example.com": "550 5.1.1 mailbox unavailable"}
    offset = log_size("birthday_mail")
    with time_machine.travel(local(2026, 6, 15, 8, 0), tick=False):
        record = run("birthday_mail")
    assert record.outcome == RunOutcome.FAILED and record.items_processed == 2
    assert record.message.startswith("1 of 3 birthday emails failed: ")
    assert "r1@example.com" in log_since("birthday_mail", offset)


def test_monthly_finance_and_home_cache_through_the_runner(settings, tmp_path):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                                   "LOCATION": str(tmp_path / "cache")}}
    place_at(local(2026, 3, 1, 9, 0), make_user(), make_product())
    with time_machine.travel(local(2026, 4, 1, 0, 30) + timedelta(seconds=1), tick=False):
        finance = run("monthly_finance")
        home = run("refresh_home_cache")
    assert (finance.outcome, finance.items_processed) == (RunOutcome.SUCCEEDED, 1)
    assert finance.message == "finance recorded for 1 month(s): 2026-03"
    assert (home.outcome, home.items_processed) == (RunOutcome.SUCCEEDED, 1)
