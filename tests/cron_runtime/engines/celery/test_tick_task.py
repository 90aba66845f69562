"""The tick task in-process, against the tests' Redis: what it sends, where, and that nothing waits for later."""
from __future__ import annotations

import base64
import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import redis
import time_machine

from basic.cron_runtime.scheduling.registry import HEARTBEAT_FUNCTION
from basic.cron_runtime.scheduling.engine import queues

pytestmark = pytest.mark.django_db


def messages(broker_url: str, queue: str) -> list[dict]:
    """The messages waiting in ``queue``, oldest first: Celery's headers plus the decoded arguments."""
    found = []
    for raw in reversed(redis.Redis.from_url(broker_url).lrange(queue, 0, -1)):
        envelope = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
        found.append({**envelope["headers"], "args": args})
    return found


def test_a_tick_sends_one_run_per_due_slot_to_its_jobs_queue_with_no_eta(settings, broker_url):
    import oms_test.celery  # noqa: F401 — the project's Celery app, as in a worker
    from basic.cron_runtime.engines.celery_tasks import tick

    settings.CRONJOBS = [("* * * * *", HEARTBEAT_FUNCTION), ("0 8 * * *", "basic.cron.send_birthday_mail"),
                         ("*/5 * * * *", "order.cron.refresh_home_cache")]
    eight = datetime(2026, 12, 1, 8, 0, tzinfo=ZoneInfo(settings.TIME_ZONE))  # due: all three
    summary = tick.run(eight.isoformat())
    assert summary.startswith("tick 2026-12-01 08:00 CST: heartbeat 2026-12-01 08:00 CST → jobs")
    sent = {queue: messages(broker_url, queue) for queue in queues()}
    slot = "2026-12-01T00:00:00+00:00"  # the slot in UTC, as the run records keep it
    assert [m["args"] for m in sent["jobs"]] == [["heartbeat", slot, "celery"], ["refresh_home_cache", slot, "celery"]]
    assert [m["args"] for m in sent["jobs_long"]] == [["birthday_mail", slot, "celery"]]
    for message in sent["jobs"] + sent["jobs_long"]:
        assert message["task"] == "cron_runtime.run_slot"
        assert message["eta"] is None  # started at once: no eta, no countdown
        assert message["expires"]  # a run nobody took within a minute is dropped, not replayed later


def test_a_tick_at_a_minute_nothing_is_due_sends_nothing(settings, broker_url):
    import oms_test.celery  # noqa: F401
    from basic.cron_runtime.engines.celery_tasks import tick

    settings.CRONJOBS = [("0 8 * * *", "basic.cron.send_birthday_mail")]
    assert tick.run("2026-12-01T00:01:00+00:00") == "tick 2026-12-01 08:01 CST: nothing due"
    assert all(not messages(broker_url, queue) for queue in queues())


def test_after_beat_was_down_the_next_tick_catches_up_the_missed_slot_by_the_runtimes_policy(settings, broker_url):
    import oms_test.celery  # noqa: F401
    from basic.cron_runtime.models import JobRun, RunOutcome, RunTrigger
    from basic.cron_runtime.engines.celery_tasks import tick

    settings.CRONJOBS = [("* * * * *", HEARTBEAT_FUNCTION), ("0 8 * * *", "basic.cron.send_birthday_mail")]
    tz = ZoneInfo(settings.TIME_ZONE)
    JobRun.objects.create(job="birthday_mail", trigger=RunTrigger.CELERY, host="w1", pid=1,
                          outcome=RunOutcome.SUCCEEDED, started_at=datetime(2026, 11, 30, 8, 0, 1, tzinfo=tz),
                          slot=datetime(2026, 11, 30, 8, 0, tzinfo=tz))
    # beat was down from 07:50 to 08:20: its first tick after the outage is 08:21
    with time_machine.travel(datetime(2026, 12, 1, 8, 21, 3, tzinfo=tz), tick=False):
        tick.run(datetime(2026, 12, 1, 8, 21, tzinfo=tz).isoformat())
    assert [m["args"] for m in messages(broker_url, "jobs_long")] == [
        ["birthday_mail", "2026-12-01T00:00:00+00:00", "catch-up"]]
    assert [m["args"][0] for m in messages(broker_url, "jobs")] == ["heartbeat"]


def test_a_tick_sends_nothing_for_a_paused_job_and_a_retry_with_its_attempt(settings, broker_url):
    import oms_test.celery  # noqa: F401
    from basic.cron_runtime.models import JobRun, RunOutcome
    from basic.cron_runtime.scheduling.pausing import job_pause
    from basic.cron_runtime.scheduling.registry import job_by_name
    from basic.cron_runtime.engines.celery_tasks import tick

    settings.CRONJOBS = [("* * * * *", HEARTBEAT_FUNCTION), ("0 8 * * *", "basic.cron.send_birthday_mail"),
                         ("*/5 * * * *", "order.cron.refresh_home_cache")]
    job_pause(job=job_by_name("refresh_home_cache"), by="ops", reason="cache server moving")
    eight = datetime(2026, 12, 1, 8, 0, tzinfo=ZoneInfo(settings.TIME_ZONE))
    assert "refresh_home_cache" not in tick.run(eight.isoformat())
    assert [m["args"][0] for m in messages(broker_url, "jobs")] == ["heartbeat"]

    # birthday_mail's 08:00 slot failed; its retry (retry_delay 600 s) goes out with the tick after the delay
    slot = eight.astimezone(ZoneInfo("UTC"))
    JobRun.objects.create(job="birthday_mail", trigger="celery", host="w", pid=1, started_at=slot, finished_at=slot,
                          outcome=RunOutcome.FAILED, slot=slot)
    redis.Redis.from_url(broker_url).flushdb()
    later = datetime(2026, 12, 1, 8, 11, tzinfo=ZoneInfo(settings.TIME_ZONE))
    with time_machine.travel(later, tick=False):  # beat's tick: the retry is judged by the clock
        summary = tick.run(later.isoformat())
    assert "birthday_mail 2026-12-01 08:00 CST (retry, attempt 2 of 4)" in summary
    [retry] = messages(broker_url, "jobs_long")
    assert retry["args"] == ["birthday_mail", "2026-12-01T00:00:00+00:00", "retry"]
    envelope_kwargs = json.loads(base64.b64decode(json.loads(
        redis.Redis.from_url(broker_url).lrange("jobs_long", 0, -1)[0])["body"]))[1]
    assert envelope_kwargs == {"attempt": 2, "backlog": []}


@pytest.mark.parametrize(("clock", "minute"), [
    ("2026-12-01T07:59:58.500+00:00", "2026-12-01T08:00:00+00:00"),  # beat woke a moment early: that minute
    ("2026-12-01T07:59:57+00:00", "2026-12-01T07:59:00+00:00"),  # earlier than the slack: still the minute before
    ("2026-12-01T08:00:30+00:00", "2026-12-01T08:00:00+00:00"),
])
def test_beat_ticks_for_the_minute_it_is_about_to_start_within_two_seconds(clock, minute):
    from oms_test.celery import tick_minute

    with time_machine.travel(datetime.fromisoformat(clock), tick=False):
        assert tick_minute() == minute


def test_an_interval_job_goes_to_a_queue_of_its_own_which_workers_consume(settings, broker_url):
    """Its run keeps a worker process busy for the whole minute: never in front of the every-minute jobs."""
    import oms_test.celery  # noqa: F401
    from basic.cron_runtime.engines.celery_tasks import tick
    from basic.cron_runtime.scheduling.engine import worker_queues

    settings.CRONJOBS = [("* * * * *", HEARTBEAT_FUNCTION), ("every 10s", "tests.cron_runtime.jobs.records_beats")]
    summary = tick.run("2026-12-01T00:00:00+00:00")
    assert "records_beats 2026-12-01 08:00 CST → jobs_interval" in summary
    assert [m["args"] for m in messages(broker_url, "jobs_interval")] == [
        ["records_beats", "2026-12-01T00:00:00+00:00", "celery"]]
    assert [m["args"][0] for m in messages(broker_url, "jobs")] == ["heartbeat"]
    assert queues() == ["jobs", "jobs_interval", "jobs_long"] and "jobs_interval" in worker_queues()
    settings.CRONJOBS = [("* * * * *", HEARTBEAT_FUNCTION)]
    assert "jobs_interval" not in queues()  # no interval job: no queue to serve


def test_a_busy_worker_does_not_ping_the_database_before_each_task_and_an_idle_one_does(monkeypatch):
    """The check before a task costs a round trip: worth it after a second idle (the server may have
    closed the connection), not between back-to-back runs. A connection that reported an error is
    replaced either way (the real worker's case: test_worker_stops_and_failures)."""
    import time

    from django.db import connections

    import oms_test.celery as celery_app

    connection = connections["default"]
    connection.ensure_connection()
    pings = []
    monkeypatch.setattr(type(connection), "is_usable", lambda self: pings.append(self.alias) or True)
    monkeypatch.setattr(celery_app, "_last_task_end", [float("-inf")])
    celery_app._note_the_task_end()
    celery_app._drop_broken_database_connections()
    assert pings == []
    celery_app._last_task_end[0] = time.monotonic() - celery_app.PING_AFTER_IDLE_SECONDS
    celery_app._drop_broken_database_connections()
    assert pings == ["default"]
    assert connection.connection is not None  # usable: kept
