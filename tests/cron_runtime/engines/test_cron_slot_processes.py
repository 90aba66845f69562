"""Real processes: one run per slot across "hosts", `cronjobs tick --at`, catch-up runs of their own,
and `cronjobs serve` (the one test that waits for real minute boundaries) — on SQLite and MariaDB."""
import signal
from datetime import UTC, datetime

import pytest
from django.utils import timezone

from basic.cron_runtime.observability.health import heartbeat_age
from basic.cron_runtime.models import JobLock, JobRun, RunOutcome
from basic.cron_runtime.scheduling.registry import job_by_name
from tests.cron_runtime.helpers import run_manage, start, wait_for, wait_for_room_in_the_minute

pytestmark = pytest.mark.django_db(transaction=True)
NEW_YEAR_UTC = datetime(2025, 12, 31, 16, 0, tzinfo=UTC)  # 2026-01-01 00:00 in Shanghai (a past slot: --at replays the past only)


def test_two_hosts_start_one_slot_one_runs_the_other_is_skipped_and_manual_runs_are_not_blocked(
        cron_env, manage_py, test_jobs, tmp_path):
    noop = job_by_name("test_noop")
    minute = wait_for_room_in_the_minute(20)  # both starts fall in the same minute: the same slot
    first = run_manage(manage_py, {**cron_env, "OMS_HOSTNAME": "host-a"}, "crontab", "run", noop.hash, "--scheduled")
    second = run_manage(manage_py, {**cron_env, "OMS_HOSTNAME": "host-b"}, "crontab", "run", noop.hash, "--scheduled")
    assert (first.returncode, second.returncode) == (0, 0), (first.stderr, second.stderr)
    ran = JobRun.objects.get(job="test_noop", outcome=RunOutcome.SUCCEEDED)
    skipped = JobRun.objects.get(job="test_noop", outcome=RunOutcome.SKIPPED)
    assert (ran.host, ran.trigger, ran.slot) == ("host-a", "cron", minute)
    assert skipped.host == "host-b" and skipped.slot is None
    assert skipped.message.startswith(f"already ran for slot {timezone.localtime(minute):%Y-%m-%d %H:%M} CST "
                                      f"(run #{ran.pk} on host-a, succeeded)")
    # under cron (--scheduled) the runner's output goes to the job's cron output file
    assert "already ran for slot" in (tmp_path / "logs" / "crontab" / "cron-test_noop.out").read_text()

    by_hash = run_manage(manage_py, {**cron_env, "OMS_HOSTNAME": "host-b"}, "crontab", "run", noop.hash)
    by_name = run_manage(manage_py, {**cron_env, "OMS_HOSTNAME": "host-b"}, "cronjobs", "run", "test_noop")
    assert "test_noop: succeeded" in by_hash.stdout and "test_noop: succeeded" in by_name.stdout
    assert JobRun.objects.filter(job="test_noop", trigger="manual", outcome=RunOutcome.SUCCEEDED).count() == 2


def test_concurrent_starts_of_one_slot_run_it_exactly_once(cron_env, manage_py, test_jobs):
    procs = [start(manage_py, {**cron_env, "OMS_HOSTNAME": f"host-{n}"}, "cronjobs", "run", "test_noop",
                   "--slot", "2026-12-01 10:00", "--trigger", "cron") for n in range(4)]
    results = [proc.communicate(timeout=120) + (proc.returncode,) for proc in procs]
    assert [code for *_, code in results] == [0, 0, 0, 0], results
    runs = list(JobRun.objects.filter(job="test_noop"))
    assert len(runs) == 4
    assert sorted(run.outcome for run in runs) == ["skipped", "skipped", "skipped", "succeeded"]
    assert [run.slot for run in runs if run.outcome == "succeeded"] == [datetime(2026, 12, 1, 2, 0, tzinfo=UTC)]


def test_tick_at_runs_the_due_jobs_only_each_in_its_own_process(cron_env, manage_py, test_jobs):
    env = {**cron_env, "TEST_SLOW_JOB_SECONDS": "3"}
    proc = start(manage_py, env, "cronjobs", "tick", "--at", "2026-06-01 10:00")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "tick 2026-06-01 10:00 CST: test_noop 2026-06-01 10:00 CST, heartbeat 2026-06-01 10:00 CST" in out
    runs = list(JobRun.objects.all())
    assert sorted(run.job for run in runs) == ["heartbeat", "test_noop"]  # the yearly jobs were not due
    assert {(run.trigger, run.slot, run.outcome) for run in runs} == {
        ("ticker", datetime(2026, 6, 1, 2, 0, tzinfo=UTC), "succeeded")}
    assert len({run.pid for run in runs} | {proc.pid}) == 3  # one process each, not the tick's own

    again = run_manage(manage_py, env, "cronjobs", "tick", "--at", "2026-06-01 10:00")
    assert again.returncode == 0 and again.stdout.count("already ran for slot 2026-06-01 10:00 CST") == 2

    # New Year: every test job is due; two of them fail, and the slow one delays no other
    failing = run_manage(manage_py, env, "cronjobs", "tick", "--at", "2026-01-01 00:00")
    assert failing.returncode == 1
    assert "2 of 5 failed: failing, partly_failing" in failing.stderr
    assert "failing: failed (run #" in failing.stderr and "RuntimeError: boom" in failing.stderr
    new_year = {run.job: run for run in JobRun.objects.filter(slot=NEW_YEAR_UTC)}
    assert set(new_year) == {"test_noop", "failing", "partly_failing", "slow", "heartbeat"}
    assert new_year["test_noop"].finished_at < new_year["slow"].finished_at
    assert new_year["test_noop"].finished_at < new_year["slow"].started_at + (new_year["slow"].duration / 2)


@pytest.mark.parametrize("bad", ["tomorrow", "2026-13-01 10:00", "2026-12-01", "10:00"])
def test_tick_at_malformed_exits_2_naming_the_format(cron_env, manage_py, bad):
    proc = run_manage(manage_py, cron_env, "cronjobs", "tick", "--at", bad)
    assert proc.returncode == 2
    assert "YYYY-MM-DD HH:MM" in proc.stderr and "Traceback" not in proc.stderr
    assert not JobRun.objects.exists()


def _ran(job, local_text):
    started = datetime.fromisoformat(local_text + "+08:00")
    JobRun.objects.create(job=job, trigger="cron", host="h", pid=1, started_at=started, finished_at=started,
                          outcome="succeeded")


def test_a_tick_after_a_gap_starts_catch_up_runs_with_their_slots_each_in_its_own_process(
        cron_env, manage_py, test_jobs):
    _ran("slow", "2025-01-01T00:00:01")  # last New Year's ran; this one's did not (the host was down)
    _ran("failing", "2026-01-01T00:00:05")
    _ran("partly_failing", "2026-01-01T00:00:05")
    proc = start(manage_py, {**cron_env, "TEST_SLOW_JOB_SECONDS": "0"}, "cronjobs", "tick", "--at", "2026-01-01 00:15")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "slow 2026-01-01 00:00 CST (catch-up)" in out
    caught_up = JobRun.objects.get(job="slow", trigger="catch-up")
    assert caught_up.slot == NEW_YEAR_UTC and caught_up.outcome == RunOutcome.SUCCEEDED
    on_time = JobRun.objects.get(job="test_noop")
    assert on_time.trigger == "ticker" and caught_up.pid not in (on_time.pid, proc.pid)
    # caught up once: the next tick finds nothing more to do for it
    assert "catch-up" not in run_manage(manage_py, cron_env, "cronjobs", "tick", "--at", "2026-01-01 00:16").stdout


def test_under_os_cron_the_heartbeat_starts_each_catch_up_as_a_process_of_its_own(cron_env, manage_py, test_jobs):
    now = timezone.now()
    JobRun.objects.create(job="slow", trigger="cron", host="h", pid=1, outcome="succeeded",
                          started_at=now.replace(year=now.year - 2), finished_at=now.replace(year=now.year - 2))
    for name in ("test_noop", "failing", "partly_failing"):  # on time
        JobRun.objects.create(job=name, trigger="cron", host="h", pid=1, started_at=now, outcome="succeeded")
    heartbeat = job_by_name("heartbeat")
    beat = run_manage(manage_py, {**cron_env, "TEST_SLOW_JOB_SECONDS": "0"}, "crontab", "run", heartbeat.hash,
                      "--scheduled")
    assert beat.returncode == 0, beat.stderr
    beat_run = JobRun.objects.get(job="heartbeat")
    assert beat_run.outcome == "succeeded" and beat_run.trigger == "cron" and beat_run.items_processed == 1
    assert "started catch-up: slow for " in beat_run.message
    caught_up = wait_for(lambda: JobRun.objects.filter(job="slow", trigger="catch-up", finished_at__isnull=False)
                         .first(), 60, "the catch-up run of slow")
    assert caught_up.outcome == "succeeded" and caught_up.pid != beat_run.pid
    assert f"(pid {caught_up.pid})" in beat_run.message
    assert caught_up.slot == datetime(now.year, 1, 1, tzinfo=timezone.get_current_timezone()).astimezone(UTC)


def test_stopping_an_engine_records_its_running_children(cron_env, test_jobs, monkeypatch):
    from basic.cron_runtime.engines import launcher
    from basic.cron_runtime.scheduling.ticks import DueSlot

    monkeypatch.setattr(launcher, "child_env", lambda: {**cron_env, "TEST_SLOW_JOB_SECONDS": "120"})
    started = launcher.launch(DueSlot(job_by_name("slow"), NEW_YEAR_UTC, "ticker"))
    wait_for(lambda: JobLock.objects.filter(job="slow", pid=started.pid).exclude(token="").exists(), 60,
             "the child to hold the lease")
    launcher.stop([started], grace=0.5)
    assert started.returncode == 128 + signal.SIGTERM
    run = JobRun.objects.get(job="slow")
    assert run.outcome == RunOutcome.TERMINATED and run.message.startswith("terminated by SIGTERM")
    assert run.slot == NEW_YEAR_UTC
    assert not JobLock.objects.get(job="slow").token


def test_serve_ticks_every_minute_once_and_stops_cleanly_on_sigterm(cron_env, manage_py, test_jobs, tmp_path):
    """About two minutes of real time: the ticker's heartbeats, one per minute, no gap, no double."""
    serve = start(manage_py, cron_env, "cronjobs", "serve")
    try:
        wait_for(lambda: JobRun.objects.filter(job="heartbeat", finished_at__isnull=False).count() >= 2
                 or serve.poll() is not None, 150, "two heartbeats from the ticker")
        assert serve.poll() is None, serve.communicate()
        second = run_manage(manage_py, cron_env, "cronjobs", "serve")
        assert second.returncode == 1
        assert f"another `cronjobs serve` is already running here (pid {serve.pid}" in second.stderr
    finally:
        serve.send_signal(signal.SIGTERM)
        out, err = serve.communicate(timeout=60)
    assert serve.returncode == 0, err
    beats = list(JobRun.objects.filter(job="heartbeat").order_by("slot"))
    slots = [run.slot for run in beats]
    assert len(slots) >= 2 and len(set(slots)) == len(slots)
    assert all((b - a).total_seconds() == 60 for a, b in zip(slots, slots[1:], strict=False))  # no gap
    for run in beats:
        assert run.trigger == "ticker" and run.outcome == RunOutcome.SUCCEEDED
        assert 0 <= (run.started_at - run.slot).total_seconds() < 15  # at the start of its minute
    assert {run.slot for run in JobRun.objects.filter(job="test_noop")} == set(slots)
    assert not JobRun.objects.filter(outcome=RunOutcome.RUNNING).exists()
    assert heartbeat_age() is not None and heartbeat_age().total_seconds() < 120  # counts as the scheduler
    log = (tmp_path / "logs" / "crontab" / "serve.log").read_text()
    assert "ticker started" in log and log.count("tick ") >= 2 and "SIGTERM received: stopping" in log
    assert log.rstrip().endswith("ticker stopped")
