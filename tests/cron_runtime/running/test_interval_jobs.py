"""Interval jobs ("every 1s"): one run a minute calling the function on the grid, with real processes —
`cronjobs serve` across real minute boundaries, `tick --at`, a call longer than its interval, SIGTERM."""
from __future__ import annotations

import math
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from basic.cron_runtime.checks import check_cronjob_options, check_cronjobs_schedules
from basic.cron_runtime.models import JobRun, RunOutcome
from basic.cron_runtime.running.beats import HANDOVER_LIMIT
from basic.cron_runtime.scheduling.registry import job_by_name
from basic.cron_runtime.scheduling.schedule import describe
from basic.cron_runtime.scheduling.ticks import slot_label
from tests.cron_runtime.helpers import run_manage, start, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
JOB = "records_beats"


@pytest.fixture
def interval_env(cron_env, tmp_path) -> dict:
    return {**cron_env, "DJANGO_SETTINGS_MODULE": "tests.cron_runtime.interval_test_settings",
            "TEST_BEATS_FILE": str(tmp_path / "beats.txt")}


@pytest.fixture
def interval_jobs(test_jobs):
    from tests.cron_runtime import interval_test_settings as module

    test_jobs.CRONJOBS = list(module.CRONJOBS)
    return test_jobs


def beats(env) -> list[tuple[int, float]]:
    """(pid, wall-clock time) of every call so far."""
    path = Path(env["TEST_BEATS_FILE"])
    if not path.exists():
        return []
    return [(int(pid), float(at)) for pid, at in (line.split() for line in path.read_text().splitlines())]


def lateness(at: float) -> float:
    """How far after its whole second (the 1 s grid) a call started."""
    return at - math.floor(at)


def wait_until_second(low: int, high: int) -> datetime:
    """Wait until the wall clock's second is in [low, high]; return the current minute (UTC)."""
    while not low <= timezone.now().second <= high:
        time.sleep(0.2)
    return timezone.now().replace(second=0, microsecond=0)


def tick_at(manage_py, env, minute: datetime):
    return run_manage(manage_py, env, "cronjobs", "tick", "--at",
                      minute.astimezone(timezone.get_current_timezone()).strftime("%Y-%m-%d %H:%M"), timeout=120)


# --- schedule, options, descriptions ------------------------------------------------------------------

@pytest.mark.parametrize(("schedule", "problem"), [
    ("every 7s", "'every 7s': 7 s does not divide 60, so the beats would not fall on the same seconds every "
                 "minute; use one of 1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60"),
    ("every 0s", "'every 0s': an interval is 1 to 60 seconds"),
    ("every 90s", "'every 90s': an interval is 1 to 60 seconds"),
    ("every 5m", "'every 5m' is not an interval: write 'every Ns' in seconds (e.g. 'every 10s')"),
])
def test_check_names_what_is_wrong_with_an_interval(settings, schedule, problem):
    settings.CRONJOBS = [(schedule, "tests.cron_runtime.jobs.records_beats")]
    [error] = check_cronjobs_schedules()
    assert error.id == "cronjobs.E001" and problem in error.msg and "'every Ns'" in error.hint


@pytest.mark.parametrize("schedule", ["every 10s", "every 10 s", "every second", "every 60 seconds", "EVERY 1s"])
def test_check_accepts_intervals_dividing_a_minute(settings, schedule):
    settings.CRONJOBS = [(schedule, "tests.cron_runtime.jobs.records_beats")]
    assert check_cronjobs_schedules() == []


def test_an_interval_job_neither_catches_up_nor_retries_and_check_says_why(settings):
    settings.CRONJOBS = [("every 10s", "tests.cron_runtime.jobs.records_beats")]
    assert job_by_name(JOB).options.catch_up == "none"  # the default: a past minute's beats are past
    settings.CRONJOB_OPTIONS = {JOB: {"catch_up": "latest", "timeout": 5}}
    [error] = check_cronjob_options()
    assert error.id == "cronjobs.E007" and "an interval job does not catch up missed minutes" in error.msg
    settings.CRONJOB_OPTIONS = {JOB: {"retries": 2}}
    [error] = check_cronjob_options()
    assert "an interval job's failed minute is not retried" in error.msg


def test_list_describes_an_interval_in_english_and_chinese(interval_jobs, capsys):
    assert (describe("every 1s"), describe("every 1s", "zh_CN")) == ("Every second", "每秒")
    assert (describe("every 10s"), describe("every 10s", "zh_CN")) == ("Every 10 seconds", "每 10 秒")
    call_command("cronjobs", "list")
    out = capsys.readouterr().out
    assert f"{JOB}  'every 1s'  Every second / 每秒" in out
    assert "one run a minute calls it every 1 s" in out


def test_the_crontab_line_of_an_interval_job_fires_every_minute(interval_jobs):
    from basic.cron_runtime.installer.lines import expected_lines

    [(job, installed, line)] = [entry for entry in expected_lines() if entry[0].name == JOB]
    assert installed.schedule == "* * * * *" and line.startswith(f"* * * * * cd ") and job.hash in line


def test_crontab_show_describes_an_interval_jobs_every_minute_line(interval_jobs, tmp_path, capsys):
    from basic.cron_runtime.installer.lines import expected_lines

    installed = tmp_path / "installed.txt"
    installed.write_text("".join(f"{line}\n" for _, _, line in expected_lines()))
    fake = tmp_path / "crontab"
    fake.write_text(f"#!/bin/sh\ncat {installed}\n")  # `crontab -l`: this checkout's lines, as `add` wrote them
    fake.chmod(0o755)
    interval_jobs.CRONTAB_EXECUTABLE = str(fake)
    call_command("crontab", "show")
    [line] = [line for line in capsys.readouterr().out.splitlines() if line.strip().startswith(JOB)]
    assert "* * * * *" in line and line.endswith("— 'every 1s': Every second / 每秒, one run a minute")


# --- runs, with real processes -------------------------------------------------------------------------

def test_tick_at_the_current_minute_calls_on_the_grid_to_its_end_in_one_run(interval_env, manage_py, interval_jobs):
    minute = wait_until_second(45, 48)
    proc = tick_at(manage_py, interval_env, minute)
    assert proc.returncode == 0, proc.stderr
    [run] = JobRun.objects.filter(job=JOB)
    calls = [at for _, at in beats(interval_env)]
    assert run.outcome == RunOutcome.SUCCEEDED and run.slot == minute and run.items_processed == len(calls)
    seconds = [round(at - lateness(at)) for at in calls]
    assert seconds == list(range(seconds[0], seconds[-1] + 1))  # every second, once, in order
    end = minute.timestamp() + 60
    # With no next minute's run to take over (no engine ticks), it goes on a while past its minute, then ends.
    assert seconds[-1] == end + HANDOVER_LIMIT - 1
    assert max(lateness(at) for at in calls) < 0.25
    assert run.message.startswith(f"{len(calls)} calls every 1 s, ")


def test_tick_at_a_past_minute_calls_nothing(interval_env, manage_py, interval_jobs):
    past = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=5)
    proc = tick_at(manage_py, interval_env, past)
    assert proc.returncode == 0, proc.stderr
    [run] = JobRun.objects.filter(job=JOB)
    assert run.outcome == RunOutcome.SUCCEEDED and run.slot == past and run.items_processed == 0
    assert "0 calls: its minute was over before the run started" in run.message
    assert beats(interval_env) == []


def test_a_beat_that_finds_the_call_still_running_is_skipped_and_logged_once(interval_env, manage_py,
                                                                              interval_jobs, tmp_path):
    minute = wait_until_second(44, 46)
    proc = tick_at(manage_py, {**interval_env, "TEST_BEAT_BUSY_SECONDS": "2.5"}, minute)
    assert proc.returncode == 0, proc.stderr
    calls = [at for _, at in beats(interval_env)]
    gaps = [round(later - earlier) for earlier, later in zip(calls, calls[1:], strict=False)]
    assert len(calls) >= 6 and set(gaps) == {3}  # never piled up: each call at the first free second
    [run] = JobRun.objects.filter(job=JOB)
    # Every other second of the run (to the end of its time past the minute) found a call running.
    skipped = int(minute.timestamp() + 60 + HANDOVER_LIMIT) - math.floor(calls[0]) - len(calls)
    assert run.items_processed == len(calls)
    assert f"; {skipped} beats skipped: the call before was still running" in run.message
    log = (tmp_path / "logs" / "crontab" / f"{JOB}.log").read_text()
    assert log.count("skipped: the call of") == 1 and "further skips are counted, not logged" in log


def test_sigterm_between_calls_ends_the_run_terminated_saying_what_it_did(interval_env, manage_py, interval_jobs):
    minute = wait_until_second(5, 40)
    run_proc = start(manage_py, interval_env, "cronjobs", "run", JOB, "--slot", minute.isoformat(),
                     "--trigger", "ticker")
    wait_for(lambda: len(beats(interval_env)) >= 3, 60, "three calls")
    time.sleep(0.3)  # between two calls
    run_proc.send_signal(signal.SIGTERM)
    _, err = run_proc.communicate(timeout=30)
    calls = len(beats(interval_env))
    assert run_proc.returncode == 128 + signal.SIGTERM
    assert err == f"{JOB}: terminated by SIGTERM after {calls} calls ({calls} items); lease released\n"
    [run] = JobRun.objects.filter(job=JOB)
    assert run.outcome == RunOutcome.TERMINATED and run.items_processed == calls
    assert run.message == f"terminated by SIGTERM after {calls} calls ({calls} items)"


@pytest.mark.one_database
def test_serve_runs_a_1_second_job_across_three_minute_boundaries_one_run_a_minute(interval_env, manage_py,
                                                                                   interval_jobs, tmp_path):
    """The one test that waits for real minutes: that is the point. Each minute's run takes the lease over
    from the previous one, which beats on until it sees its successor waiting: no beat lost there."""
    wait_until_second(45, 52)
    serve = start(manage_py, interval_env, "cronjobs", "serve")
    try:
        first = wait_for(lambda: JobRun.objects.filter(job=JOB, slot__isnull=False).order_by("slot").first(), 90,
                         "the first run")
        boundaries = [first.slot + timedelta(minutes=n) for n in (1, 2, 3)]
        wait_for(lambda: time.time() > boundaries[-1].timestamp() + 5, 270, "three minute boundaries", interval=1)
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.communicate(timeout=60)
    assert serve.returncode == 0
    runs = list(JobRun.objects.filter(job=JOB).order_by("slot"))
    assert [run.slot for run in runs] == [first.slot, *boundaries]  # one run a minute, none skipped
    assert [run.outcome for run in runs] == ["succeeded", "succeeded", "succeeded", "terminated"]
    calls = beats(interval_env)
    seconds = [round(at - lateness(at)) for _, at in calls]
    assert len(seconds) == len(set(seconds))  # never two calls for one beat
    by_pid = {run.pid: run for run in runs}
    assert {pid for pid, _ in calls} == set(by_pid)
    for run in runs[:-1]:  # each run's record sums its own calls
        assert run.items_processed == sum(1 for pid, _ in calls if pid == run.pid)
    for boundary in boundaries:  # at most one beat lost where one run hands over to the next
        start_second = int(boundary.timestamp())
        around = set(range(start_second - 3, start_second + 4))
        assert len(around - set(seconds)) <= 1, sorted(around - set(seconds))
    steady = [lateness(at) for _, at in calls]
    assert sorted(steady)[len(steady) // 2] < 0.05 and max(steady) < 0.5


# --- the loop on a driven clock (no real seconds waited) ------------------------------------------------

class DrivenClock:
    """The loop's clock and sleep: sleeping moves the clock; ``at`` runs something once the clock passes a time."""

    def __init__(self, start: float):
        self.now = start
        self.events: list[tuple[float, object]] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0)
        for due, action in [event for event in self.events if event[0] <= self.now]:
            self.events.remove((due, action))
            action()


def driven_loop(job_name: str, clock: DrivenClock, call, slot: datetime):
    from loguru import logger

    from basic.cron_runtime.running.beats import BeatLoop
    from basic.cron_runtime.running.progress import RunProgress

    run = JobRun.objects.create(job=job_name, trigger="ticker", host="h", pid=1, started_at=slot, slot=slot)
    return run, BeatLoop(job_by_name(job_name), run, call, log=logger, progress=RunProgress(),
                         on_kill=lambda message: None, clock=clock.time, sleep=clock.sleep)


def test_past_its_minute_a_run_calls_on_until_the_next_minutes_run_waits_then_hands_over(interval_jobs):
    slot = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    clock = DrivenClock(slot.timestamp() + 0.4)  # started 0.4 s late: its first call is at :01
    calls = []
    run, loop = driven_loop(JOB, clock, lambda: calls.append(clock.now) or 2, slot)
    # the next minute's run comes for the lease 0.3 s into its minute
    clock.events.append((slot.timestamp() + 60.3, lambda: JobRun.objects.create(
        job=JOB, trigger="ticker", host="h", pid=2, started_at=timezone.now())))
    report = loop.run_beats()
    assert [round(at - slot.timestamp()) for at in calls] == list(range(1, 61))  # :01 … :59, then :00 of the next
    assert clock.now < slot.timestamp() + 60.5  # handed over in time for the next minute's :01, the successor's first
    assert report.items_processed == 120 and report.message == "60 calls every 1 s, 08:00:01 to 08:01:00"


def test_a_successor_that_comes_close_to_a_beat_gets_the_lease_after_that_beat(interval_jobs):
    slot = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    clock = DrivenClock(slot.timestamp() + 58.2)
    calls = []
    run, loop = driven_loop(JOB, clock, lambda: calls.append(clock.now), slot)
    clock.events.append((slot.timestamp() + 60.7, lambda: JobRun.objects.create(
        job=JOB, trigger="ticker", host="h", pid=2, started_at=timezone.now())))
    loop.run_beats()  # 0.3 s before :01 is too close for a slow successor to take the lease: this run calls :01
    assert [round(at - slot.timestamp()) for at in calls] == [59, 60, 61]
    assert clock.now < slot.timestamp() + 61.5


def test_a_call_longer_than_the_interval_skips_the_beats_it_overran(interval_jobs):
    slot = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    clock = DrivenClock(slot.timestamp() + 49.9)

    def busy_call():
        clock.now += 2.5  # the call takes 2.5 s: two beats find it running

    run, loop = driven_loop(JOB, clock, busy_call, slot)
    report = loop.run_beats()
    assert report.message.startswith("7 calls every 1 s, 08:00:50 to 08:01:08; 13 beats skipped")


def test_a_pause_ends_the_run_at_its_minute_without_waiting_for_a_successor(interval_jobs):
    from basic.cron_runtime.scheduling.pausing import job_pause

    slot = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    clock = DrivenClock(slot.timestamp() + 50.2)
    calls = []
    run, loop = driven_loop(JOB, clock, lambda: calls.append(clock.now), slot)
    clock.events.append((slot.timestamp() + 55.5,
                         lambda: job_pause(job=job_by_name(JOB), by="ops", reason="provider down")))
    loop.run_beats()
    assert [round(at - slot.timestamp()) for at in calls] == list(range(51, 60))  # to the end of its minute, no further


def test_a_gap_in_the_ticks_starts_no_catch_up_of_an_interval_job(interval_jobs):
    from basic.cron_runtime.scheduling.ticks import slots_due

    minute = timezone.now().replace(second=0, microsecond=0)
    JobRun.objects.create(job=JOB, trigger="ticker", host="h", pid=1, outcome=RunOutcome.SUCCEEDED,
                          started_at=minute - timedelta(minutes=30), slot=minute - timedelta(minutes=30))
    due = [str(slot) for slot in slots_due(minute, skipped_from=minute - timedelta(minutes=20))
           if slot.job.name == JOB]
    assert due == [f"{JOB} {slot_label(minute)}"]  # this minute's run only: the missed minutes' beats are past


def test_the_time_limit_bounds_each_call_and_ends_the_run_terminated(interval_env, manage_py, interval_jobs):
    minute = wait_until_second(5, 45)
    proc = run_manage(manage_py, {**interval_env, "TEST_BEAT_TIMEOUT": "1", "TEST_BEAT_BUSY_SECONDS": "30"},
                      "cronjobs", "run", JOB, "--slot", minute.isoformat(), "--trigger", "ticker")
    assert proc.returncode == 124, proc.stderr
    [run] = JobRun.objects.filter(job=JOB)
    assert run.outcome == RunOutcome.TERMINATED and run.message == "time limit of 1 s reached after 0 calls (0 items)"
    assert len(beats(interval_env)) == 1


def test_a_failing_call_leaves_the_other_beats_running_and_fails_the_run_at_its_end(interval_jobs):
    from basic.cron_runtime.running.result import JobFailed

    slot = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    clock = DrivenClock(slot.timestamp() + 55.5)
    calls = []

    def flaky():
        calls.append(clock.now)
        if len(calls) % 2:
            raise ConnectionError("provider timed out")
        return 3

    run, loop = driven_loop(JOB, clock, flaky, slot)
    with pytest.raises(JobFailed) as failed:
        loop.run_beats()
    assert len(calls) == 14  # :56 … :59, then :00 … :09 past the minute (no successor came)
    assert str(failed.value).startswith("7 of 14 calls failed, the last with ConnectionError: provider timed out; "
                                        "14 calls every 1 s, 08:00:56 to 08:01:09")
    assert failed.value.items_processed == 21
