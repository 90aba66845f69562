"""Under SCHEDULER=celery every view of the jobs says so: commands, /healthz/cron, the dashboard."""
from __future__ import annotations

import io
import subprocess
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import CommandError, call_command

from basic.cron_runtime.scheduling.registry import HEARTBEAT_FUNCTION
from basic.cron_runtime.models import JobRun, RunOutcome, RunTrigger
from tests.cron_runtime.engines.celery.helpers import CELERY, PROJECT_DIR, send_tick

pytestmark = pytest.mark.django_db


@pytest.fixture
def under_celery(settings, broker_url):
    settings.SCHEDULER = "celery"
    settings.CELERY_BROKER_URL = broker_url
    settings.CRONJOBS = [("* * * * *", HEARTBEAT_FUNCTION), ("0 8 * * *", "basic.cron.send_birthday_mail")]
    return settings


def output_of(*args) -> tuple[str, str | None]:
    """(stdout, the CommandError's message or None)."""
    out = io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=io.StringIO())
    except CommandError as exc:
        return out.getvalue(), str(exc)
    return out.getvalue(), None


def test_crontab_add_refuses_and_crontab_show_says_beat_owns_the_schedule(under_celery):
    out, error = output_of("crontab", "add")
    assert error and error.startswith("SCHEDULER=celery: Celery beat ticks the jobs") and "SCHEDULER=cron" in error
    out, error = output_of("crontab", "show")
    assert error is None and out.startswith("SCHEDULER=celery: Celery beat owns the schedule")
    assert "MISSING" not in out  # no cron line is expected under Celery


def test_cronjobs_list_and_status_name_the_engine(settings, under_celery):
    out, _ = output_of("cronjobs", "list")
    assert out.splitlines()[0].startswith("engine: celery (SCHEDULER=celery) — Celery beat sends one tick a minute")
    assert "workers consume jobs, jobs_long" in out.splitlines()[0]
    out, error = output_of("cronjobs", "status")
    assert out.splitlines()[0].startswith("engine: celery")
    assert error  # never beat
    assert "heartbeat: never beat — is Celery beat running (`make beat`) and a worker consuming the queue jobs" in out
    settings.SCHEDULER = "cron"
    out, _ = output_of("cronjobs", "list")
    assert out.splitlines()[0].startswith("engine: ") and "celery" not in out.splitlines()[0]


def test_no_worker_consuming_means_waiting_ticks_overdue_jobs_a_stale_heartbeat_and_503(
        client, under_celery, broker_url, django_user_model):
    tz = ZoneInfo(under_celery.TIME_ZONE)
    now = datetime(2026, 12, 1, 8, 15, 30, tzinfo=tz)  # birthday_mail was due at 08:00; its grace is 10 minutes
    JobRun.objects.create(job="birthday_mail", trigger=RunTrigger.CELERY, host="w1", pid=1,
                          outcome=RunOutcome.SUCCEEDED, started_at=now - timedelta(days=1, minutes=15))
    JobRun.objects.create(job="heartbeat", trigger=RunTrigger.CELERY, host="w1", pid=1, outcome=RunOutcome.SUCCEEDED,
                          started_at=now - timedelta(minutes=10))
    for minute in (now - timedelta(minutes=1), now):  # beat ticks, nobody consumes them
        send_tick(broker_url, minute)
    with time_machine.travel(now, tick=False):
        response = client.get("/healthz/cron")
        report = response.json()
        client.force_login(django_user_model.objects.create_user(username="ops", password="x-123456", is_staff=True))
        page = client.get("/staff/").content.decode()
    assert response.status_code == 503
    assert report["engine"] == "celery"
    assert report["broker"] == {"reachable": True, "waiting": {"jobs": 2, "jobs_long": 0}}
    # anonymous: which engine beat last and when, not the host's name
    assert (report["started_by"], report["last_seen"]) == ("celery", {"engine": "celery", "host": None,
                                                                      "age_seconds": 600})
    assert "birthday_mail: overdue — due at 2026-12-01 08:00 CST, last run 2026-11-30 08:00 CST" in report["problems"]
    assert any(line.startswith("heartbeat: last beat 600 s ago") and "`make worker`" in line
               for line in report["problems"])
    assert "调度引擎：Celery beat 每分钟向 <code>redis://" in page
    assert 'data-engine="celery">调度器上次心跳：10 分钟前，由 Celery beat 启动' in page


def test_healthz_names_the_cron_engine_by_default(client):
    assert client.get("/healthz/cron").json()["engine"] == "cron"


def test_a_worker_or_beat_under_scheduler_cron_refuses_to_start(subprocess_env, broker_url):
    env = {**subprocess_env, "SCHEDULER": "cron", "CELERY_BROKER_URL": broker_url, "C_FORCE_ROOT": "1"}
    for command in ("worker", "beat"):
        proc = subprocess.run([CELERY, "-A", "oms_test", command], env=env, cwd=PROJECT_DIR, capture_output=True,
                              text=True, timeout=60, check=False)
        assert proc.returncode != 0
        assert "SCHEDULER=cron: cron ticks the jobs here, not Celery. Set SCHEDULER=celery" in proc.stderr


def test_an_unknown_scheduler_is_refused_by_name(subprocess_env, manage_py):
    proc = subprocess.run([*manage_py, "check"], env={**subprocess_env, "SCHEDULER": "celeryy"}, cwd=PROJECT_DIR,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode != 0
    assert "SCHEDULER='celeryy' is not an engine: use 'cron' (the default) or 'celery'" in proc.stderr


def test_cronjobs_serve_refuses_under_celery(under_celery):
    _, error = output_of("cronjobs", "serve")
    assert error and error.startswith("SCHEDULER=celery: Celery beat ticks the jobs, so `cronjobs serve`")
