"""Fixtures for the staff console tests: users, run records, finance records."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from basic.cron_runtime.engines import launcher
from basic.cron_runtime.models import RunOutcome
from order.models import FinanceRecord
from tests.staff.cron_jobs_for_tests import RUN_NOW_TEST_CRONJOBS, STAFF_TEST_CRONJOB_NAMES, STAFF_TEST_CRONJOBS
from tests.staff.helpers import CUSTOMER_PASSWORD, STAFF_PASSWORD, create_run


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
    settings.CRONJOBS = list(STAFF_TEST_CRONJOBS)
    settings.CRONJOB_NAMES = dict(STAFF_TEST_CRONJOB_NAMES)
    settings.STAFF_TEST_JOB_FAILS = False
    monkeypatch.setattr("basic.cron_runtime.console.selectors.crontab_drift", list)
    import oms_conf.logging

    monkeypatch.setitem(oms_conf.logging._state, "log_dir", tmp_path)
    (tmp_path / "crontab").mkdir()
    return tmp_path / "crontab"


@pytest.fixture
def healthy_runs(make_run, staff_cronjobs):
    """Both test jobs ran a minute ago and succeeded."""
    return [make_run("flaky", RunOutcome.SUCCEEDED, minutes_ago=1, items=7),
            make_run("heartbeat", RunOutcome.SUCCEEDED, minutes_ago=1)]


@pytest.fixture(autouse=True)
def _run_now_only_with_run_now_children(request, monkeypatch):
    """Run now starts a real `manage.py` child; without run_now_children it would run against the
    environment's database (the developer's), not the test's: such a test fails instead."""
    if "run_now_children" in request.fixturenames:
        return

    def refuse(job, **_):
        pytest.fail(f"this test pressed Run now ({job.name}) without the run_now_children fixture")

    monkeypatch.setattr(launcher, "launch_manual", refuse)


@pytest.fixture
def run_now_children(staff_cronjobs, subprocess_env, settings, monkeypatch) -> list[launcher.Launched]:
    """Run now's children use the test's database, the staff test jobs (plus `slow`) and the test's
    log folder; returns the launches, in order. A child still running at the end is sent SIGTERM
    and waited for (recorded as terminated), so none outlives the test's database.

    The children see the rows the test commits: a test that waits for them needs
    ``@pytest.mark.django_db(transaction=True)``.
    """
    settings.CRONJOBS = list(RUN_NOW_TEST_CRONJOBS)  # the view finds the same jobs as its children
    settings.CRON_LOG_DIR = staff_cronjobs  # where a detached child's output goes: manual-<job>.out
    env = {**subprocess_env, "DJANGO_SETTINGS_MODULE": "tests.staff.run_now_settings",
           "LOG_DIR": str(staff_cronjobs.parent)}
    for name, value in env.items():  # the launcher hands its own environment on to the child
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("STAFF_TEST_JOB_FAILS", raising=False)
    launched: list[launcher.Launched] = []
    real_launch = launcher.launch_manual

    def launch_and_keep(job, **kwargs):
        started = real_launch(job, **kwargs)
        launched.append(started)
        return started

    monkeypatch.setattr(launcher, "launch_manual", launch_and_keep)
    yield launched
    launcher.stop(launched, grace=0)
