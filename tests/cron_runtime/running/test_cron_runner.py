"""The one runner, in-process: run records, job log, lock outcomes, dry run, not-due ticks, catch-up, pruning."""
import dataclasses
import os
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from basic.cron_runtime import conf
from basic.cron_runtime.observability.housekeeping import cron_housekeeping, heartbeat, prune_old_runs
from basic.cron_runtime.running.joblog import job_log_path
from basic.cron_runtime.running.lease import JobLease, close_abandoned_runs
from basic.cron_runtime.models import JobLock, JobRun, RunOutcome, RunTrigger
from basic.cron_runtime.scheduling.registry import HEARTBEAT_FUNCTION, job_by_name, parse_entry
from basic.cron_runtime.observability.run_totals import fold_finished_runs
from basic.cron_runtime.running.runner import run_job
from basic.cron_runtime.running.stopping import Stopped
from basic.cron_runtime.scheduling.ticks import catch_up_slots

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("recorded_launches")]
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def own_log_folder(tmp_path, monkeypatch):
    """Each test writes the job logs in its own folder (as tests/staff does), never the shared
    var/test-logs, so a size or content check sees only this test's lines."""
    import oms_conf.logging

    monkeypatch.setitem(oms_conf.logging._state, "log_dir", tmp_path / "logs")
    return tmp_path / "logs" / "crontab"


def a_job(func: str, schedule="0 0 1 1 *", kwargs=None):
    return parse_entry((schedule, f"tests.cron_runtime.jobs.{func}", [], kwargs or {}), {})


def test_success_is_recorded_with_items_message_and_log_lines(settings):
    token = uuid.uuid4().hex
    run = run_job(a_job("noop", kwargs={"token": token}), trigger=RunTrigger.MANUAL)
    run.refresh_from_db()
    assert (run.outcome, run.items_processed, run.message) == ("succeeded", 1, f"did nothing {token}")
    assert (run.job, run.trigger, run.host, run.pid) == ("noop", "manual", settings.HOSTNAME, os.getpid())
    assert run.finished_at >= run.started_at and run.traceback == ""
    log = job_log_path("noop").read_text()
    assert f"noop job says hello {token}" in log  # the job's own plain `logger.info` lands in its log
    assert f"start tests.cron_runtime.jobs.noop (run #{run.pk}, trigger manual" in log
    assert "end: succeeded, 1 items" in log and f"did nothing {token}" in log
    assert not JobLock.objects.get(job="noop").token  # released


@pytest.mark.django_db(transaction=True)  # its own transactions: no test savepoints among the statements counted
def test_a_scheduled_runs_bookkeeping_is_four_statements_and_one_transaction_on_mysql(settings):
    """Record with its slot and take the lease (the pause read in the same UPDATE) in one transaction;
    record the end and free the lease (one statement on MySQL/MariaDB, a transaction of two elsewhere);
    the alert state. A short job's run is mostly this bookkeeping: a statement more is a regression
    (docs/celery.md, "Where the time goes")."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    job = a_job("noop")
    run_job(job, trigger=RunTrigger.CELERY, slot=datetime(2026, 12, 1, 10, 0, tzinfo=UTC))  # the lease's row exists
    with CaptureQueriesContext(connection) as captured:
        run = run_job(job, trigger=RunTrigger.CELERY, slot=datetime(2026, 12, 1, 10, 1, tzinfo=UTC))
    sql = [query["sql"] for query in captured.captured_queries]
    begins = [text for text in sql if text.startswith("BEGIN")]  # SQLite's is BEGIN IMMEDIATE
    statements = [text for text in sql if text not in begins and text != "COMMIT"]
    mysql = connection.vendor == "mysql"
    assert (len(statements), len(begins)) == ((4, 1) if mysql else (5, 2)), "\n".join(sql)
    assert run.outcome == RunOutcome.SUCCEEDED
    saved = JobRun.objects.get(pk=run.pk)
    assert (saved.outcome, saved.slot, saved.finished_at) == (RunOutcome.SUCCEEDED, run.slot, run.finished_at)
    assert not JobLock.objects.get(job="noop").token


def test_int_and_none_results():
    assert run_job(a_job("returns_count"), trigger=RunTrigger.MANUAL).items_processed == 42
    run = run_job(parse_entry(("0 0 1 1 *", "os.getpid"), {}), trigger=RunTrigger.MANUAL)
    assert run.outcome == RunOutcome.SUCCEEDED and run.items_processed == os.getpid()
    run = run_job(a_job("returns_none"), trigger=RunTrigger.MANUAL)
    assert (run.outcome, run.items_processed, run.message) == (RunOutcome.SUCCEEDED, 0, "")


def test_exception_fails_the_run_with_traceback_in_record_and_log():
    token = uuid.uuid4().hex
    run = run_job(a_job("failing", kwargs={"token": token}), trigger=RunTrigger.CRON)
    run.refresh_from_db()
    assert run.outcome == RunOutcome.FAILED and run.message == f"RuntimeError: boom {token}"
    assert "Traceback (most recent call last)" in run.traceback and 'jobs.py", line' in run.traceback
    log = job_log_path("failing").read_text()
    after = log[log.index(f"start tests.cron_runtime.jobs.failing (run #{run.pk}"):]
    assert "Traceback (most recent call last)" in after and f"RuntimeError: boom {token}" in after
    assert "end: failed" in after
    assert not JobLock.objects.get(job="failing").token


def test_job_failed_keeps_items_and_message():
    run = run_job(a_job("partly_failing"), trigger=RunTrigger.MANUAL)
    assert (run.outcome, run.items_processed, run.message) == ("failed", 7, "3 of 10 mails could not be sent")


def test_import_error_is_a_failed_run_not_a_crash():
    run = run_job(parse_entry(("0 0 1 1 *", "tests.cron_runtime.nowhere.func"), {}), trigger=RunTrigger.MANUAL)
    assert run.outcome == RunOutcome.FAILED and "ModuleNotFoundError" in run.message


def test_ctrl_c_in_the_job_is_recorded_as_terminated_then_stops_the_caller():
    with pytest.raises(Stopped) as stopped:
        run_job(a_job("interrupted"), trigger=RunTrigger.MANUAL)
    run = JobRun.objects.get(job="interrupted")
    assert run.outcome == RunOutcome.TERMINATED and run.message == "terminated by Ctrl-C after 0 items"
    assert not JobLock.objects.get(job="interrupted").token
    assert stopped.value.exit_code == 130
    assert stopped.value.line == "interrupted: terminated by Ctrl-C after 0 items; lease released"


@pytest.mark.parametrize("code", [0, None])
def test_a_job_calling_sys_exit_0_is_failed_and_the_process_exits_non_zero(code):
    """The record says failed (the job did not return); the exit code must agree, not be 0."""
    with pytest.raises(SystemExit) as stopped:
        run_job(a_job("exits", kwargs={"code": code}), trigger=RunTrigger.MANUAL)
    assert stopped.value.code == 1
    run = JobRun.objects.get(job="exits")
    assert run.outcome == RunOutcome.FAILED and run.message == "interrupted by SystemExit"


def test_a_job_exiting_with_a_code_keeps_it():
    with pytest.raises(SystemExit) as stopped:
        run_job(a_job("exits", kwargs={"code": 3}), trigger=RunTrigger.MANUAL)
    assert stopped.value.code == 3 and JobRun.objects.get(job="exits").outcome == RunOutcome.FAILED


def test_a_held_lock_means_skipped_with_the_holder_named(capsys):
    now = timezone.now()
    JobLock.objects.create(job="noop", token="someone", host="web-2", pid=4242, acquired_at=now,
                           expires_at=now + timedelta(seconds=60))
    run = run_job(a_job("noop"), trigger=RunTrigger.CRON)
    assert run.outcome == RunOutcome.SKIPPED
    assert "already running on web-2 pid 4242 since" in run.message
    assert "web-2 pid 4242" in capsys.readouterr().err
    assert JobLock.objects.get(job="noop").token == "someone"  # untouched


def test_an_expired_lock_is_taken_and_the_dead_run_is_closed_and_alerted(settings, mailoutbox):
    settings.ADMINS = [("Ops", "ops@example.com")]
    now = timezone.now()
    dead = JobRun.objects.create(job="noop", trigger="cron", host="web-2", pid=4242, started_at=now - timedelta(hours=1))
    JobLock.objects.create(job="noop", token="gone", host="web-2", pid=4242, run=dead,
                           acquired_at=now - timedelta(hours=1), expires_at=now - timedelta(seconds=1))
    run = run_job(a_job("noop"), trigger=RunTrigger.CRON)
    assert run.outcome == RunOutcome.SUCCEEDED
    dead.refresh_from_db()
    assert dead.outcome == RunOutcome.FAILED and "abandoned: web-2 pid 4242" in dead.message
    # the death is a failure staff hear of, then the recovery: one mail each, in that order
    assert len(mailoutbox) == 2
    assert "noop" in mailoutbox[0].subject and mailoutbox[0].subject != mailoutbox[1].subject


def test_same_host_dead_pid_is_taken_over_at_once(settings):
    dead_pid = _a_dead_pid()
    now = timezone.now()
    JobLock.objects.create(job="noop", token="crashed", host=settings.HOSTNAME, pid=dead_pid,
                           acquired_at=now, expires_at=now + timedelta(seconds=60))
    assert run_job(a_job("noop"), trigger=RunTrigger.CRON).outcome == RunOutcome.SUCCEEDED


def test_same_host_live_pid_is_respected(settings):
    now = timezone.now()
    with subprocess.Popen(["sleep", "30"]) as alive:
        JobLock.objects.create(job="noop", token="busy", host=settings.HOSTNAME, pid=alive.pid,
                               acquired_at=now, expires_at=now + timedelta(seconds=60))
        try:
            assert run_job(a_job("noop"), trigger=RunTrigger.CRON).outcome == RunOutcome.SKIPPED
        finally:
            alive.kill()


def test_lease_release_only_frees_its_own_token():
    lease = JobLease("noop")
    assert lease.acquire()
    assert not JobLease("noop").acquire()
    JobLock.objects.filter(job="noop").update(token="stolen")
    lease.release()
    assert JobLock.objects.get(job="noop").token == "stolen"


def test_dry_run_records_nothing_and_calls_nothing():
    token = uuid.uuid4().hex
    preview = run_job(a_job("failing", kwargs={"token": token}), trigger=RunTrigger.MANUAL, dry_run=True)
    assert preview.pk is None and "would call tests.cron_runtime.jobs.failing" in preview.message
    assert "lock is free" in preview.message
    assert not JobRun.objects.exists()
    with pytest.raises(ModuleNotFoundError):
        run_job(parse_entry(("0 0 1 1 *", "tests.nowhere.func"), {}), trigger=RunTrigger.MANUAL, dry_run=True)


def test_a_tick_not_due_in_time_zone_does_nothing():
    job = a_job("noop", schedule="30 0 1 * *")
    token_log = job_log_path("noop")
    size_before = token_log.stat().st_size if token_log.exists() else 0
    assert run_job(job, trigger=RunTrigger.CRON, tick=datetime(2026, 12, 1, 0, 30, tzinfo=ZoneInfo("UTC"))) is None
    assert not JobRun.objects.exists()
    assert (token_log.stat().st_size if token_log.exists() else 0) == size_before
    run = run_job(job, trigger=RunTrigger.CRON, tick=datetime(2026, 11, 30, 16, 30, tzinfo=ZoneInfo("UTC")))
    assert run.outcome == RunOutcome.SUCCEEDED and run.trigger == "cron"


def _a_dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


# --- catch-up and pruning (the heartbeat's housekeeping) -----------------------------------------

def _record(job, started, outcome=RunOutcome.SUCCEEDED, trigger=RunTrigger.CRON):
    return JobRun.objects.create(job=job, trigger=trigger, host="h", pid=1, started_at=started,
                                 finished_at=started + timedelta(seconds=1), outcome=outcome)


def _caught_up(now):
    return [(due.job.name, due.slot, due.trigger) for due in catch_up_slots(now)]


def test_catch_up_slot_for_a_job_whose_tick_was_missed(settings):
    settings.CRONJOBS = [("0 8 * * *", "tests.cron_runtime.jobs.noop"), ("* * * * *", HEARTBEAT_FUNCTION)]
    settings.CRONJOB_NAMES = {HEARTBEAT_FUNCTION: "heartbeat"}
    now = datetime(2026, 11, 21, 9, 0, tzinfo=SHANGHAI)
    _record("noop", datetime(2026, 11, 20, 8, 0, 1, tzinfo=SHANGHAI))  # yesterday's ran; today's 08:00 did not
    today_8 = datetime(2026, 11, 21, 0, 0, tzinfo=UTC)
    assert _caught_up(now) == [("noop", today_8, "catch-up")]  # never the heartbeat: its beat now is enough
    # a start refused by the lease did not run: the slot is still owed
    _record("noop", datetime(2026, 11, 21, 8, 0, 1, tzinfo=SHANGHAI), outcome=RunOutcome.SKIPPED)
    assert _caught_up(now) == [("noop", today_8, "catch-up")]
    # …but not while a run of the job holds its lease (it would only be skipped again)
    JobLock.objects.create(job="noop", token="busy", host="web-2", pid=7, acquired_at=timezone.now(),
                           expires_at=timezone.now() + timedelta(seconds=60))
    assert _caught_up(now) == []
    JobLock.objects.filter(job="noop").update(token="")
    # served: a run for that slot (or any run since) leaves nothing to catch up
    JobRun.objects.create(job="noop", trigger="catch-up", host="h", pid=1, slot=today_8, outcome="succeeded",
                          started_at=datetime(2026, 11, 21, 8, 50, tzinfo=SHANGHAI))
    assert _caught_up(now) == []


def test_catch_up_leaves_alone_jobs_on_time_never_run_before_install_or_within_grace(settings):
    settings.CRONJOBS = [("0 8 * * *", "tests.cron_runtime.jobs.noop"),
                         ("30 0 1 * *", "tests.cron_runtime.jobs.failing"),
                         ("* * * * *", "tests.cron_runtime.jobs.returns_count")]
    now = datetime(2026, 11, 21, 8, 1, tzinfo=SHANGHAI)
    # the install: the first run of anything
    _record("returns_count", datetime(2026, 11, 21, 7, 59, 30, tzinfo=SHANGHAI))
    # noop: its 08:00 tick is within the grace; failing: its last tick (1 Nov) was before the install
    assert _caught_up(now) == []
    # every-minute returns_count last ran 07:59:30, so at 08:05 its 08:03 tick (past 2 min grace) was missed;
    # noop's daily tick gets a 10 min grace
    assert [name for name, _, _ in _caught_up(datetime(2026, 11, 21, 8, 5, tzinfo=SHANGHAI))] == ["returns_count"]
    _record("returns_count", datetime(2026, 11, 21, 8, 10, 1, tzinfo=SHANGHAI))  # cron is back
    assert [name for name, _, _ in _caught_up(datetime(2026, 11, 21, 8, 11, tzinfo=SHANGHAI))] == ["noop"]


def test_prune_deletes_old_records_but_keeps_each_jobs_latest(settings):
    settings.CRON_RUN_RETENTION_DAYS = 30
    now = timezone.now()
    old = [_record("noop", now - timedelta(days=40 + i)) for i in range(5)]
    lonely = _record("monthly", now - timedelta(days=45))
    recent = _record("noop", now - timedelta(days=1))
    assert prune_old_runs(now) == 0  # only runs already in /metrics' tally may go
    fold_finished_runs(now)  # what the heartbeat does first
    assert prune_old_runs(now) == 5
    assert len(old) == 5 and set(JobRun.objects.values_list("pk", flat=True)) == {lonely.pk, recent.pk}


def test_housekeeping_reports_what_it_did(settings, recorded_launches):
    settings.CRONJOBS = [("0 8 * * *", "tests.cron_runtime.jobs.failing")]
    now = datetime(2026, 11, 21, 9, 0, tzinfo=SHANGHAI)
    _record("failing", now - timedelta(days=60))
    _record("failing", now - timedelta(days=50))
    _record("failing", now - timedelta(days=40))
    report = cron_housekeeping(now)
    assert report.items_processed == 1
    assert [str(due) for due in recorded_launches] == ["failing 2026-11-21 08:00 CST (catch-up)"]
    assert "started catch-up: failing for 2026-11-21 08:00 CST (pid " in report.message
    assert "pruned 2 old run records" in report.message  # the latest is kept


def test_the_heartbeat_closes_a_run_killed_mid_job_so_status_turns_red(settings, mailoutbox):
    """kill -9 of the monthly job at 00:30: its record said "running" until next month's run took
    the lease, while `cronjobs status` and /healthz/cron stayed green. The heartbeat closes it."""
    from basic.cron_runtime.observability.health import problems

    settings.CRONJOBS = [("30 0 1 * *", "tests.cron_runtime.jobs.noop"), ("* * * * *", HEARTBEAT_FUNCTION)]
    settings.CRONJOB_NAMES = {HEARTBEAT_FUNCTION: "heartbeat"}
    settings.ADMINS = [("Ops", "ops@example.com")]
    killed_at = datetime(2026, 3, 1, 0, 30, 2, tzinfo=SHANGHAI)
    _record("noop", datetime(2026, 2, 1, 0, 30, 1, tzinfo=SHANGHAI))  # last month's run succeeded
    killed = JobRun.objects.create(job="noop", trigger="cron", host="web-2", pid=4242, started_at=killed_at)
    JobLock.objects.create(job="noop", token="gone", host="web-2", pid=4242, run=killed,
                           acquired_at=killed_at, expires_at=killed_at + timedelta(seconds=60))  # never renewed
    now = killed_at + timedelta(hours=2)
    _record("heartbeat", now - timedelta(seconds=30))

    report = cron_housekeeping(now)

    killed.refresh_from_db()
    assert killed.outcome == RunOutcome.FAILED and killed.finished_at == now
    assert killed.message.startswith("abandoned: web-2 pid 4242 stopped while running (its lock expired")
    assert f"closed abandoned runs: noop #{killed.pk}" in report.message
    assert any(line.startswith("noop: failed last time") for line in problems(now))
    assert [m.to for m in mailoutbox] == [["ops@example.com"]] and "noop" in mailoutbox[0].subject


def test_the_heartbeat_leaves_live_and_just_started_runs_alone(settings):
    now = timezone.now()
    live = JobRun.objects.create(job="noop", trigger="cron", host=settings.HOSTNAME, pid=os.getpid(),
                                 started_at=now - timedelta(hours=3))
    JobLock.objects.create(job="noop", token="mine", host=settings.HOSTNAME, pid=os.getpid(), run=live,
                           acquired_at=now - timedelta(hours=3), expires_at=now + timedelta(seconds=40))
    starting = JobRun.objects.create(job="returns_count", trigger="cron", host="web-2", pid=7,
                                     started_at=now - timedelta(seconds=5))  # not holding its lease yet
    dead_pid = _a_dead_pid()
    crashed_here = JobRun.objects.create(job="failing", trigger="cron", host=settings.HOSTNAME, pid=dead_pid,
                                         started_at=now - timedelta(minutes=5))
    JobLock.objects.create(job="failing", token="t", host=settings.HOSTNAME, pid=dead_pid, run=crashed_here,
                           acquired_at=now - timedelta(minutes=5), expires_at=now + timedelta(seconds=40))

    renewing_late = JobRun.objects.create(job="slow", trigger="cron", host="web-2", pid=9,
                                          started_at=now - timedelta(minutes=5))  # its renewals failed a while
    JobLock.objects.create(job="slow", token="s", host="web-2", pid=9, run=renewing_late,
                           acquired_at=now - timedelta(minutes=5), expires_at=now - timedelta(seconds=20))

    assert [run.pk for run in close_abandoned_runs(now)] == [crashed_here.pk]
    assert JobRun.objects.get(pk=renewing_late.pk).outcome == RunOutcome.RUNNING
    assert JobRun.objects.get(pk=crashed_here.pk).message.endswith("(its process is gone; killed?)")
    assert {JobRun.objects.get(pk=r.pk).outcome for r in (live, starting)} == {RunOutcome.RUNNING}

    # A TTL later: that lease has been expired a whole TTL (dead), and the run that never took its
    # lease within a minute is dead too; the live one is still left alone.
    later = now + timedelta(seconds=conf.CRON_LOCK_TTL)
    assert {run.pk for run in close_abandoned_runs(later)} == {renewing_late.pk, starting.pk}
    assert JobRun.objects.get(pk=live.pk).outcome == RunOutcome.RUNNING


def test_the_heartbeat_job_does_the_housekeeping(settings, recorded_launches):
    """The heartbeat is not just "alive": it closes dead runs and starts the catch-up of missed
    ticks — each in a process of its own, never inside the heartbeat's run."""
    settings.CRONJOBS = [("0 8 * * *", "tests.cron_runtime.jobs.noop"), ("* * * * *", HEARTBEAT_FUNCTION)]
    settings.CRONJOB_NAMES = {HEARTBEAT_FUNCTION: "heartbeat"}
    now = timezone.now()
    _record("noop", now - timedelta(days=2))  # the 08:00 tick since then was missed
    dead = JobRun.objects.create(job="returns_count", trigger="cron", host="web-2", pid=4242,
                                 started_at=now - timedelta(hours=1))  # no lease: it died

    report = heartbeat()

    assert JobRun.objects.get(pk=dead.pk).outcome == RunOutcome.FAILED
    assert [(due.job.name, due.trigger) for due in recorded_launches] == [("noop", "catch-up")]
    assert not JobRun.objects.filter(job="noop", trigger=RunTrigger.CATCH_UP).exists()  # not run in here
    assert "started catch-up: noop for " in report.message and f"returns_count #{dead.pk}" in report.message


@pytest.mark.parametrize(("trigger", "starts_catch_up"), [
    (RunTrigger.CRON, True), (RunTrigger.MANUAL, True), (RunTrigger.TICKER, False), (RunTrigger.CELERY, False)])
def test_only_under_os_cron_does_the_heartbeat_start_the_catch_up(settings, recorded_launches, trigger,
                                                                   starts_catch_up):
    """cronjobs serve and Celery ask slots_due(), which already holds the catch-up slots."""
    settings.CRONJOBS = [("0 8 * * *", "tests.cron_runtime.jobs.noop"), ("* * * * *", HEARTBEAT_FUNCTION)]
    settings.CRONJOB_NAMES = {HEARTBEAT_FUNCTION: "heartbeat"}
    _record("noop", timezone.now() - timedelta(days=2))
    run = run_job(job_by_name("heartbeat"), trigger=trigger)
    assert run.outcome == RunOutcome.SUCCEEDED
    assert bool(recorded_launches) is starts_catch_up


def test_real_heartbeat_through_the_runner(settings):
    run = run_job(job_by_name("heartbeat"), trigger=RunTrigger.MANUAL)
    assert run.outcome == RunOutcome.SUCCEEDED, run.traceback


def test_runner_mails_admins_once_when_a_job_starts_failing_and_once_when_it_recovers(settings, mailoutbox):
    settings.ADMINS = [("Ops", "ops@example.com")]
    failing, recovering = a_job("failing"), parse_entry(("0 0 1 1 *", "tests.cron_runtime.jobs.noop"), {})
    # Same job name for both: the alert state belongs to the job, whatever its function did.
    recovering = dataclasses.replace(recovering, name=failing.name)

    run_job(failing, trigger=RunTrigger.CRON)
    run_job(failing, trigger=RunTrigger.CRON)
    assert [m.subject for m in mailoutbox] == [f"[Django] cron job {failing.name} FAILED on {settings.HOSTNAME}"]
    assert "RuntimeError: boom" in mailoutbox[0].body

    run_job(recovering, trigger=RunTrigger.CRON)
    run_job(recovering, trigger=RunTrigger.CRON)
    assert [m.subject for m in mailoutbox][1:] == [f"[Django] cron job {failing.name} recovered"]


def test_an_alert_problem_never_fails_the_run(settings, monkeypatch):
    from basic.cron_runtime.running import runner

    def broken_alert(run):
        raise RuntimeError("mail system on fire")

    monkeypatch.setattr(runner, "job_alert_after_run", broken_alert)
    run = run_job(a_job("noop"), trigger=RunTrigger.MANUAL)
    run.refresh_from_db()
    assert run.outcome == RunOutcome.SUCCEEDED


def test_under_os_cron_a_job_due_this_minute_is_left_to_its_own_line(settings, recorded_launches):
    settings.CRONJOBS = [("*/5 * * * *", "tests.cron_runtime.jobs.noop")]
    _record("noop", datetime(2026, 11, 21, 8, 0, 1, tzinfo=SHANGHAI))  # then cron stopped for an hour
    cron_housekeeping(datetime(2026, 11, 21, 9, 0, tzinfo=SHANGHAI))  # noop's line fires at 09:00 itself
    assert recorded_launches == []
    cron_housekeeping(datetime(2026, 11, 21, 9, 1, tzinfo=SHANGHAI))
    assert [str(due) for due in recorded_launches] == ["noop 2026-11-21 08:55 CST (catch-up)"]


def test_job_log_rotates_by_LOG_ROTATION_and_is_closed_between_runs(monkeypatch, own_log_folder):
    """The job's file is opened per run through loguru's file sink: LOG_ROTATION still rotates it, and no run
    leaves it open (the next writer may be another process holding the lease)."""
    import oms_conf.logging

    monkeypatch.setitem(oms_conf.logging._state, "rotation", "300 B")
    for _ in range(4):
        assert run_job(a_job("noop"), trigger=RunTrigger.MANUAL).outcome == RunOutcome.SUCCEEDED
    assert len(list(own_log_folder.glob("noop.*.log"))) >= 2  # rotated files beside noop.log
    open_files = {os.path.realpath(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
                  if os.path.islink(f"/proc/self/fd/{fd}")}
    assert not any(path.startswith(str(own_log_folder)) for path in open_files)


def test_job_log_written_after_its_sink_was_removed():
    """Someone's logger.remove() also removes the one sink the job logs go through: the next run adds it again."""
    from loguru import logger

    from basic.cron_runtime.running import joblog

    run_job(a_job("noop"), trigger=RunTrigger.MANUAL)
    logger.remove(joblog._open_logs.sink_id)
    token = uuid.uuid4().hex
    run_job(a_job("noop", kwargs={"token": token}), trigger=RunTrigger.MANUAL)
    assert f"noop job says hello {token}" in job_log_path("noop").read_text()
