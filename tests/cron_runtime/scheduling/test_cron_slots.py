"""One run per scheduled slot, what is due at a minute (slots_due), --at parsing, and the ticker's minute loop."""
import os
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from basic.cron_runtime.observability.health import heartbeat_age
from basic.cron_runtime.models import JobLock, JobRun, RunOutcome, RunTrigger
from basic.cron_runtime.scheduling.registry import parse_entry
from basic.cron_runtime.running.runner import run_job
from basic.cron_runtime.engines.ticker import AlreadyServing, Ticker, serve_lock
from basic.cron_runtime.scheduling.ticks import as_slot, parse_minute, slots_due
from tests.cron_runtime.helpers import RecordingLog

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("recorded_launches")]
SHANGHAI = ZoneInfo("Asia/Shanghai")
SLOT = datetime(2026, 12, 1, 10, 0, tzinfo=SHANGHAI)


def a_job(func: str = "noop", schedule: str = "* * * * *"):
    return parse_entry((schedule, f"tests.cron_runtime.jobs.{func}"), {})


def test_a_second_start_of_a_slot_is_skipped_and_a_manual_run_is_not_blocked(capsys):
    job = a_job()
    first = run_job(job, trigger=RunTrigger.CRON, slot=SLOT + timedelta(seconds=7))
    assert first.outcome == RunOutcome.SUCCEEDED
    assert JobRun.objects.get(pk=first.pk).slot == datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # the minute, in UTC

    again = run_job(job, trigger=RunTrigger.TICKER, slot=SLOT)  # another engine, a retry, a duplicated line
    assert again.outcome == RunOutcome.SKIPPED and again.slot is None
    assert again.message == f"already ran for slot 2026-12-01 10:00 CST (run #{first.pk} on {first.host}, succeeded)"
    assert "already ran for slot 2026-12-01 10:00 CST" in capsys.readouterr().err
    assert not JobLock.objects.get(job="noop").token  # the lease went back

    manual = run_job(job, trigger=RunTrigger.MANUAL)
    assert manual.outcome == RunOutcome.SUCCEEDED and manual.slot is None
    assert run_job(job, trigger=RunTrigger.CRON, slot=SLOT + timedelta(minutes=1)).outcome == RunOutcome.SUCCEEDED


def test_a_failed_slot_is_not_run_again_by_a_retry():
    job = a_job("failing")
    assert run_job(job, trigger=RunTrigger.CRON, slot=SLOT).outcome == RunOutcome.FAILED
    assert run_job(job, trigger=RunTrigger.CRON, slot=SLOT).outcome == RunOutcome.SKIPPED


def test_the_database_itself_refuses_a_second_run_of_a_slot_but_not_two_runs_without_one():
    def record(slot):
        return JobRun.objects.create(job="noop", trigger="cron", host="h", pid=1, started_at=timezone.now(), slot=slot)

    record(None), record(None)  # NULLs are distinct in the unique index (SQLite, MariaDB, MySQL)
    record(SLOT)
    with pytest.raises(IntegrityError), transaction.atomic():
        record(SLOT)
    record(SLOT + timedelta(minutes=1))
    assert JobRun.objects.filter(job="noop").count() == 4


def test_a_start_refused_by_the_lease_leaves_its_slot_open_for_catch_up():
    """The previous slot's run still holds the lease: this start is skipped without using the slot
    up, so once the lease is free the slot can still be run (as catch-up) — never lost."""
    job = a_job()
    now = timezone.now()
    JobLock.objects.create(job="noop", token="previous", host="web-2", pid=4242, acquired_at=now,
                           expires_at=now + timedelta(seconds=60))
    refused = run_job(job, trigger=RunTrigger.CRON, slot=SLOT)
    assert refused.outcome == RunOutcome.SKIPPED and refused.slot is None
    assert refused.message.startswith("skipped: already running on web-2 pid 4242")
    assert refused.message.endswith("; slot 2026-12-01 10:00 CST left open for catch-up")
    JobLock.objects.filter(job="noop").update(token="", expires_at=None)
    late = run_job(job, trigger=RunTrigger.CATCH_UP, slot=SLOT)
    assert late.outcome == RunOutcome.SUCCEEDED and late.slot == as_slot(SLOT)


def test_a_slot_must_be_timezone_aware():
    with pytest.raises(ValueError, match="timezone-aware"):
        run_job(a_job(), trigger=RunTrigger.CRON, slot=datetime(2026, 12, 1, 10, 0))
    assert not JobRun.objects.exists()


def test_dry_run_says_when_the_slot_already_ran():
    job = a_job()
    run_job(job, trigger=RunTrigger.CRON, slot=SLOT)
    preview = run_job(job, trigger=RunTrigger.CRON, slot=SLOT, dry_run=True)
    assert "slot 2026-12-01 10:00 CST already ran (run #" in preview.message and preview.pk is None


# --- slots_due ------------------------------------------------------------------------------------

def names(slots):
    return [(due.job.name, due.slot.astimezone(SHANGHAI).strftime("%m-%d %H:%M"), due.trigger) for due in slots]


def test_slots_due_lists_the_jobs_due_at_that_minute_in_time_zone(test_jobs):
    assert names(slots_due(SLOT, trigger=RunTrigger.TICKER)) == [
        ("test_noop", "12-01 10:00", "ticker"), ("heartbeat", "12-01 10:00", "ticker")]
    new_year = datetime(2026, 12, 31, 16, 0, 40, tzinfo=UTC)  # 00:00:40 on 1 January in Shanghai
    assert [name for name, *_ in names(slots_due(new_year))] == [
        "test_noop", "failing", "partly_failing", "slow", "heartbeat"]
    assert {due.trigger for due in slots_due(new_year)} == {"cron"}  # the default
    assert slots_due(new_year)[0].slot == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    with pytest.raises(ValueError):
        slots_due(datetime(2026, 12, 1, 10, 0))


def _ran(job, started, slot=None):
    JobRun.objects.create(job=job, trigger="cron", host="h", pid=1, started_at=started, slot=slot,
                          finished_at=started, outcome="succeeded")


def test_slots_due_adds_one_catch_up_slot_per_job_that_missed_its_tick(test_jobs):
    _ran("slow", datetime(2026, 1, 1, 0, 0, 1, tzinfo=SHANGHAI))  # last year's ran, this year's did not
    _ran("failing", datetime(2027, 1, 1, 0, 0, 2, tzinfo=SHANGHAI))  # ran on time
    _ran("partly_failing", datetime(2027, 1, 1, 0, 9, tzinfo=SHANGHAI), slot=datetime(2027, 1, 1, 0, 0, tzinfo=SHANGHAI))
    quarter_past = datetime(2027, 1, 1, 0, 15, tzinfo=SHANGHAI)
    assert names(slots_due(quarter_past, trigger=RunTrigger.TICKER)) == [
        ("test_noop", "01-01 00:15", "ticker"), ("heartbeat", "01-01 00:15", "ticker"),
        ("slow", "01-01 00:00", "catch-up")]
    # within the grace (10 min for a yearly job) it is not missed yet
    assert [n for n, _, t in names(slots_due(datetime(2027, 1, 1, 0, 5, tzinfo=SHANGHAI))) if t == "catch-up"] == []


def test_the_catch_up_asks_about_every_job_in_one_query_whatever_their_number(test_jobs):
    """The tick asks the catch-up questions of every job not due on time, every minute: what the
    runs say (latest start, latest slot) comes in one query, not one or two per job."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from basic.cron_runtime.scheduling.registry import all_jobs
    from basic.cron_runtime.scheduling.ticks import catch_up_slots

    for n, name in enumerate(("slow", "failing", "partly_failing", "test_noop")):
        _ran(name, datetime(2026, 12, 31, 23, 40 + n, tzinfo=SHANGHAI))
    at = datetime(2027, 1, 1, 0, 15, tzinfo=SHANGHAI)
    jobs = [job for job in all_jobs() if job.name != "heartbeat"]
    counts = []
    for some in (jobs[:1], jobs):
        with CaptureQueriesContext(connection) as queries:
            catch_up_slots(at, jobs=some)
        counts.append(sum(JobRun._meta.db_table in q["sql"] for q in queries.captured_queries))
    assert len(jobs) >= 4 and counts[0] == counts[1], counts


def test_a_tick_reads_the_pauses_once_for_the_jobs_due_and_the_catch_up(test_jobs):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from basic.cron_runtime.models import JobPause

    _ran("slow", datetime(2026, 1, 1, 0, 0, 1, tzinfo=SHANGHAI))
    with CaptureQueriesContext(connection) as queries:
        slots = slots_due(datetime(2027, 1, 1, 0, 15, tzinfo=SHANGHAI), trigger=RunTrigger.TICKER)
    assert ("slow", "01-01 00:00", "catch-up") in names(slots)
    assert sum(JobPause._meta.db_table in q["sql"] for q in queries.captured_queries) == 1


def test_minutes_an_engine_could_not_tick_are_caught_up_at_once_without_grace(test_jobs):
    """A ticker that was stopped from 23:58 to 00:02 (or whose tick took that long) hands those
    minutes to the catch-up at its next tick: each job due in them once, with its slot."""
    _ran("slow", datetime(2026, 1, 1, 0, 0, 1, tzinfo=SHANGHAI))
    _ran("test_noop", datetime(2026, 12, 31, 23, 57, 1, tzinfo=SHANGHAI))
    at = datetime(2027, 1, 1, 0, 2, tzinfo=SHANGHAI)
    slots = slots_due(at, trigger=RunTrigger.TICKER, skipped_from=datetime(2026, 12, 31, 23, 58, tzinfo=SHANGHAI))
    assert ("slow", "01-01 00:00", "catch-up") in names(slots)  # 2 minutes late: within any grace, still caught up
    assert ("test_noop", "01-01 00:02", "ticker") in names(slots)  # due now: its run covers the gap
    assert not [n for n in names(slots) if n[0] in ("test_noop", "heartbeat") and n[2] == "catch-up"]


# --- --at -----------------------------------------------------------------------------------------

def test_parse_minute_reads_time_zone_wall_clock_or_iso_with_offset(settings):
    assert parse_minute("2026-12-01 10:00") == datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    assert parse_minute("2026-12-01T02:00:00+00:00") == datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    for bad in ("tomorrow", "2026-12-01", "2026-12-01 25:00", "2026-12-01T10:00"):
        with pytest.raises(ValueError, match="YYYY-MM-DD HH:MM"):
            parse_minute(bad)
    settings.TIME_ZONE = "Europe/Berlin"
    with pytest.raises(ValueError, match="does not exist in Europe/Berlin"):
        parse_minute("2026-03-29 02:30")  # the clocks jump from 02:00 to 03:00


def test_a_heartbeat_started_by_the_ticker_counts_as_proof_of_life_a_manual_one_does_not(test_jobs):
    now = timezone.now()
    JobRun.objects.create(job="heartbeat", trigger="manual", host="h", pid=1, started_at=now)
    assert heartbeat_age(now) is None
    JobRun.objects.create(job="heartbeat", trigger="ticker", host="h", pid=1, started_at=now - timedelta(seconds=30))
    assert heartbeat_age(now) == timedelta(seconds=30)


# --- the ticker's minute loop (fake clock; the real one is tested as a process) ---------------------

class FakeClock:
    current = None  # the clock of the running test, for the fake slots_due

    def __init__(self, start: datetime):
        self.now = start
        self.jumps: dict[datetime, timedelta] = {}  # when a tick happens at this minute, the clock moves on

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def ticked(monkeypatch):
    """The ticker's ticks, recorded as (minute, skipped_from) instead of started."""
    from basic.cron_runtime.engines import ticker

    calls = []

    def fake_slots_due(minute, *, now=None, trigger=None, skipped_from=None):
        calls.append((minute, skipped_from))
        clock = FakeClock.current
        clock.now += clock.jumps.get(minute, timedelta(0))  # a slow tick (or a suspended process)
        return []

    monkeypatch.setattr(ticker, "slots_due", fake_slots_due)
    return calls


def minutes(*texts):
    return [datetime.fromisoformat(f"2026-12-01T{text}:00+08:00").astimezone(UTC) for text in texts]


def test_the_ticker_ticks_every_minute_once_at_its_start(ticked):
    clock = FakeClock.current = FakeClock(datetime(2026, 12, 1, 10, 0, 42, tzinfo=SHANGHAI))
    Ticker(RecordingLog(), clock=clock, sleep=clock.sleep).serve(max_ticks=4)
    assert [minute for minute, _ in ticked] == minutes("10:01", "10:02", "10:03", "10:04")
    assert all(skipped is None for _, skipped in ticked)


def test_a_tick_longer_than_a_minute_skips_no_minute_and_fires_none_twice(ticked):
    clock = FakeClock.current = FakeClock(datetime(2026, 12, 1, 10, 0, 59, tzinfo=SHANGHAI))
    clock.jumps = {minutes("10:01")[0]: timedelta(seconds=75),  # ends at 10:02:15: 10:02 is ticked late
                   minutes("10:02")[0]: timedelta(seconds=130)}  # ends at 10:04:25: 10:04 is ticked, 10:03 is skipped
    log = RecordingLog()
    Ticker(log, clock=clock, sleep=clock.sleep).serve(max_ticks=4)
    assert ticked == [(minutes("10:01")[0], None), (minutes("10:02")[0], None),
                      (minutes("10:04")[0], minutes("10:03")[0]), (minutes("10:05")[0], None)]
    assert any("not ticked on time: 2026-12-01 10:03 CST to 2026-12-01 10:03 CST" in line for line in log.lines)


def test_a_clock_stepped_back_fires_no_minute_twice(ticked):
    clock = FakeClock.current = FakeClock(datetime(2026, 12, 1, 10, 0, 30, tzinfo=SHANGHAI))
    clock.jumps = {minutes("10:01")[0]: timedelta(seconds=-50)}  # NTP steps the clock back to 10:00:10
    Ticker(RecordingLog(), clock=clock, sleep=clock.sleep).serve(max_ticks=3)
    assert [minute for minute, _ in ticked] == minutes("10:01", "10:02", "10:03")


def test_a_stop_request_ends_the_loop_before_the_next_tick(ticked):
    clock = FakeClock.current = FakeClock(datetime(2026, 12, 1, 10, 0, 30, tzinfo=SHANGHAI))
    log = RecordingLog()
    ticker = Ticker(log, clock=clock, sleep=lambda seconds: (clock.sleep(seconds), ticker.request_stop()))
    ticker.serve()
    assert ticked == [] and log.lines[-1] == "ticker stopped"


def test_a_second_ticker_on_the_host_is_refused_naming_the_first(tmp_path):
    path = tmp_path / "serve.pid"
    with serve_lock(path):
        with pytest.raises(AlreadyServing, match=rf"already running here \(pid {os.getpid()}, lock "):
            with serve_lock(path):
                pass
    with serve_lock(path):  # free again once the first stopped
        pass



def test_a_minute_whose_tick_failed_on_the_database_is_caught_up_at_the_next_tick(monkeypatch):
    from django.db import OperationalError

    from basic.cron_runtime.engines import ticker

    calls = []

    def flaky_slots_due(minute, *, now=None, trigger=None, skipped_from=None):
        calls.append((minute, skipped_from))
        if len(calls) == 1:
            raise OperationalError("server has gone away")
        return []

    monkeypatch.setattr(ticker, "slots_due", flaky_slots_due)
    clock = FakeClock(datetime(2026, 12, 1, 10, 0, 30, tzinfo=SHANGHAI))
    log = RecordingLog()
    Ticker(log, clock=clock, sleep=clock.sleep).serve(max_ticks=3)
    assert calls == [(minutes("10:01")[0], None), (minutes("10:02")[0], minutes("10:01")[0]),
                     (minutes("10:03")[0], None)]
    assert any("the database did not answer (OperationalError: server has gone away)" in line for line in log.lines)
