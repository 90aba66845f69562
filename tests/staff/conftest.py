"""Fixtures for the staff console tests: users, run records, finance records."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from basic.cron_runtime.models import RunOutcome
from order.models import FinanceRecord
from tests.staff.helpers import CUSTOMER_PASSWORD, FLAKY_JOB_PATH, STAFF_PASSWORD, create_run


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user(
        username="ops", password=STAFF_PASSWORD, is_staff=True, email="ops@example.com"
    )


@pytest.fixture
def customer(django_user_model):
    return django_user_model.objects.create_user(username="alice", password=CUSTOMER_PASSWORD)


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def make_run(db):
    """Create a JobRun row: make_run("heartbeat", "failed", minutes_ago=3, traceback=...)."""
    return create_run


@pytest.fixture
def finance_records(db):
    """Three finished months with easy totals."""
    rows = [
        (date(2024, 1, 1), 10, 6, 2, 1, 1, "1200.50", "30.00", 500),
        (date(2024, 2, 1), 20, 15, 3, 2, 0, "2500.25", "45.50", 1200),
        (date(2024, 3, 1), 5, 4, 0, 1, 0, "99.99", "0.00", 0),
    ]
    return [
        FinanceRecord.objects.create(
            month=month, orders_created=created, orders_paid=paid, orders_cancelled=cancelled,
            orders_timeout_cancelled=timeout, orders_unpaid=unpaid, revenue=Decimal(revenue),
            discounts=Decimal(discounts), points_used=points,
        )
        for month, created, paid, cancelled, timeout, unpaid, revenue, discounts, points in rows
    ]


@pytest.fixture
def staff_cronjobs(settings, tmp_path, monkeypatch):
    """CRONJOBS = a flaky job and a heartbeat; logs in tmp; an in-sync crontab (no real `crontab -l`)."""
    settings.CRONJOBS = [
        ("* * * * *", FLAKY_JOB_PATH),
        ("* * * * *", "tests.staff.cron_jobs_for_tests.heartbeat"),
    ]
    settings.CRONJOB_NAMES = {FLAKY_JOB_PATH: "flaky", "tests.staff.cron_jobs_for_tests.heartbeat": "heartbeat"}
    settings.STAFF_TEST_JOB_FAILS = False
    monkeypatch.setattr("basic.cron_runtime.staff_selectors.crontab_drift", list)
    import oms_conf.logging

    monkeypatch.setitem(oms_conf.logging._state, "log_dir", tmp_path)
    (tmp_path / "crontab").mkdir()
    return tmp_path / "crontab"


@pytest.fixture
def healthy_runs(make_run, staff_cronjobs):
    """Both test jobs ran a minute ago and succeeded."""
    return [make_run("flaky", RunOutcome.SUCCEEDED, minutes_ago=1, items=7),
            make_run("heartbeat", RunOutcome.SUCCEEDED, minutes_ago=1)]
