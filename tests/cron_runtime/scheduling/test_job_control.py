"""Staff in control of the jobs, with real processes on SQLite and MariaDB: pause and resume, a time
limit per job, retries of a failed slot, catch-up "all", and `tick --at` refusing the future."""
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from basic.cron_runtime.models import JobLock, JobPause, JobRun, RunOutcome
from basic.cron_runtime.scheduling.pausing import PauseRefused, job_pause, job_resume
from basic.cron_runtime.scheduling.registry import job_by_name
from basic.cron_runtime.scheduling.ticks import as_slot, catch_up_slots, slots_due
from tests.alert_robot import robot  # noqa: F401 — the fixture
from tests.cron_runtime.helpers import RecordingLog, run_manage, start, wait_for, wait_for_room_in_the_minute

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def options_env(cron_env) -> dict:
    return {**cron_env, "DJANGO_SETTINGS_MODULE": "tests.cron_runtime.options_test_settings"}


@pytest.fixture
def option_jobs(settings):
    from tests.cron_runtime import options_test_settings as module

    settings.CRONJOBS, settings.CRONJOB_NAMES = list(module.CRONJOBS), dict(module.CRONJOB_NAMES)
    settings.CRONJOB_OPTIONS, settings.CRON_TIME_LIMIT_GRACE = dict(module.CRONJOB_OPTIONS), 2
    return settings


# --- pause and resume -------------------------------------------------------------------------------

def test_pause_and_resume_from_the_command_line_with_who_when_why_until(cron_env, manage_py, test_jobs):
    refused = run_manage(manage_py, cron_env, "cronjobs", "pause", "test_noop", "--reason", " ")
    assert refused.returncode == 2 and "say why it is paused" in refused.stderr
    heartbeat = run_manage(manage_py, cron_env, "cronjobs", "pause", "heartbeat", "--reason", "x")
    assert heartbeat.returncode == 2 and "the heartbeat cannot be paused" in heartbeat.stderr

    paused = run_manage(manage_py, cron_env, "cronjobs", "pause", "test_noop", "--reason", "SMTP provider complains",
                        "--until", "2099-01-01 08:00")
    assert paused.returncode == 0, paused.stderr
    assert "test_noop: paused until 2099-01-01 08:00 CST — by " in paused.stdout
    pause = JobPause.objects.get(job="test_noop")
    assert pause.paused and pause.reason == "SMTP provider complains" and "@" in pause.paused_by
    assert pause.until == datetime(2099, 1, 1, 0, 0, tzinfo=UTC)

    listed = run_manage(manage_py, cron_env, "cronjobs", "list")
    assert "    test_noop: paused until 2099-01-01 08:00 CST — by " in listed.stdout
    status = run_manage(manage_py, cron_env, "cronjobs", "status")
    assert "note: test_noop: paused until 2099-01-01 08:00 CST" in status.stdout  # information...
    assert not any(line.startswith("test_noop:") for line in status.stdout.splitlines())  # ...not a problem

    # No engine starts it: a tick leaves it out, a crontab line records nothing
    tick = run_manage(manage_py, cron_env, "cronjobs", "tick", "--at", "2026-06-01 10:00")
    assert tick.returncode == 0 and "test_noop" not in tick.stdout and "heartbeat" in tick.stdout
    cron_line = run_manage(manage_py, cron_env, "cronjobs", "run", "test_noop", "--slot", "2026-06-01 10:01",
                           "--trigger", "cron")
    assert cron_line.returncode == 0 and "paused — not started" in cron_line.stdout
    assert not JobRun.objects.filter(job="test_noop").exists()
    # A manual run is allowed, with a clear warning
    manual = run_manage(manage_py, cron_env, "cronjobs", "run", "test_noop")
    assert manual.returncode == 0 and "warning: running a paused job by hand" in manual.stderr
    assert JobRun.objects.get(job="test_noop").trigger == "manual"

    resumed = run_manage(manage_py, cron_env, "cronjobs", "resume", "test_noop")
    assert resumed.returncode == 0 and "resumed" in resumed.stdout and "not made up" in resumed.stdout
    again = run_manage(manage_py, cron_env, "cronjobs", "resume", "test_noop")
    assert again.returncode == 2 and "test_noop is not paused" in again.stderr
    pause.refresh_from_db()
    assert not pause.paused and pause.resumed_at is not None and pause.reason == "SMTP provider complains"


def test_a_paused_job_is_never_overdue_and_its_slots_are_not_made_up_after_resume(test_jobs, recorded_launches):
    from basic.cron_runtime.observability.health import job_state, problems

    noop = job_by_name("test_noop")
    now = timezone.now()
    JobRun.objects.create(job="test_noop", trigger="cron", host="h", pid=1, started_at=now - timedelta(hours=2),
                          finished_at=now - timedelta(hours=2), outcome=RunOutcome.SUCCEEDED)
    assert job_state(noop, now).overdue  # two hours without its every-minute run
    job_pause(job=noop, by="ops", reason="mail template wrong", now=now - timedelta(minutes=90))
    state = job_state(noop, now)
    assert not state.overdue and state.paused.reason == "mail template wrong"
    assert not any(line.startswith("test_noop") for line in problems(now))
    from basic.cron_runtime.observability.health import health_report

    noop_json = next(job for job in health_report(now)["jobs"] if job["name"] == "test_noop")
    assert noop_json["paused"] is True and noop_json["overdue"] is False
    assert "test_noop" not in {due.job.name for due in catch_up_slots(now)}
    job_resume(job=noop, by="ops", now=now)
    later = now + timedelta(seconds=30)
    assert "test_noop" not in {due.job.name for due in catch_up_slots(later)}  # the pause is not made up
    assert not job_state(noop, later).overdue
    # the next slot runs
    assert "test_noop" in {due.job.name for due in slots_due(as_slot(later) + timedelta(minutes=1), now=later)}


def test_metrics_expose_the_pause(test_jobs, client):
    job_pause(job=job_by_name("test_noop"), by="ops", reason="r")
    body = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert 'oms_cron_job_paused{job="test_noop"} 1.0' in body
    assert 'oms_cron_job_paused{job="failing"} 0.0' in body


def test_an_engine_start_of_a_paused_job_leaves_no_record_and_no_lease(test_jobs, recorded_launches):
    """The runner reads the pause once, under the lease, and rolls the start back: a paused job's
    crontab line or Celery message writes nothing, whether its lease was free or held by a run."""
    from basic.cron_runtime.running.lease import JobLease
    from basic.cron_runtime.running.runner import run_job

    noop = job_by_name("test_noop")
    job_pause(job=noop, by="ops", reason="mail template wrong")
    slot = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
    assert run_job(noop, trigger="cron", slot=slot) is None
    assert not JobRun.objects.exists()
    assert not JobLock.objects.filter(job="test_noop").exclude(token="").exists()  # the lease's UPDATE rolled back

    holder = JobLease("test_noop", ttl=30)
    assert holder.acquire()
    try:
        assert run_job(noop, trigger="celery", slot=slot + timedelta(minutes=1)) is None
        assert not JobRun.objects.exists()  # not even "skipped: already running"
        assert JobLock.objects.get(job="test_noop").token == holder.token
    finally:
        holder.release()
    manual = run_job(noop, trigger="manual")  # a person's run still runs
    assert manual.outcome == RunOutcome.SUCCEEDED
    # The lease's row now exists and is free: the start's one UPDATE reads the pause itself.
    assert run_job(noop, trigger="cron", slot=slot + timedelta(minutes=2)) is None
    assert list(JobRun.objects.all()) == [manual]
    assert not JobLock.objects.filter(job="test_noop").exclude(token="").exists()


@pytest.mark.parametrize(("paused", "until", "in_force"), [
    (True, None, True),
    (True, timedelta(minutes=10), True),
    (True, timedelta(0), False),  # its end has come: not paused any more
    (True, -timedelta(minutes=10), False),
    (False, None, False),  # resumed
])
def test_the_pause_read_in_the_leases_statement_is_the_pause_state(test_jobs, paused, until, in_force):
    """The runner reads the pause inside the lease's UPDATE, in SQL: it must say what job_pause_state says."""
    from django.db import connection

    from basic.cron_runtime.scheduling.pausing import job_pause_state, pause_in_force_sql

    now = timezone.now()
    JobPause.objects.create(job="test_noop", paused=paused, paused_at=now - timedelta(hours=1), paused_by="ops",
                            reason="r", until=None if until is None else now + until)
    JobPause.objects.create(job="failing", paused=True, paused_at=now, paused_by="ops", reason="another job's pause")

    def in_sql(name: str) -> bool:
        sql, params = pause_in_force_sql(name, now)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT CASE WHEN {sql} THEN 1 ELSE 0 END", params)
            return bool(cursor.fetchone()[0])

    assert in_sql("test_noop") is (job_pause_state("test_noop", now) is not None) is in_force
    assert in_sql("failing") and not in_sql("slow")


def test_pause_refuses_an_end_in_the_past(test_jobs):
    with pytest.raises(PauseRefused, match="not in the future"):
        job_pause(job=job_by_name("test_noop"), by="ops", reason="r", until=timezone.now() - timedelta(minutes=1))


def test_pause_during_a_tick_storm_no_run_starts_after_the_pause_commits(cron_env, manage_py, test_jobs):
    """Sixteen `cronjobs run --slot … --trigger cron` starts (cron lines of a storm of minutes), the pause
    committed in the middle: every run that started did so before the pause's commit time."""
    procs = []
    pause_committed = None
    for number in range(16):
        minute = f"2026-06-01 11:{number:02d}"
        procs.append(start(manage_py, {**cron_env, "OMS_HOSTNAME": f"h{number}"}, "cronjobs", "run", "test_noop",
                           "--slot", minute, "--trigger", "cron"))
        if number == 7:  # some of the first ones are under way
            wait_for(lambda: JobRun.objects.filter(job="test_noop", outcome=RunOutcome.SUCCEEDED).exists(),
                     60, "a first run of the storm")
            job_pause(job=job_by_name("test_noop"), by="ops", reason="storm")
            pause_committed = timezone.now()
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * len(procs), outputs
    ran = JobRun.objects.filter(job="test_noop").exclude(outcome=RunOutcome.SKIPPED)
    assert ran.exists()  # some ran before the pause
    assert len(procs) - ran.count() >= 8  # and no engine start after it ran
    assert all(run.started_at < pause_committed for run in ran), [(r.started_at, pause_committed) for r in ran]
    # A start after the pause is recorded as skipped: for the pause, or for a run from before the pause
    # that still held the lease (the lease is taken before the pause is read again under it).
    late = JobRun.objects.filter(job="test_noop", started_at__gte=pause_committed)
    skip_reasons = ("paused", "already running on", "another run took the lock first")
    assert all(run.outcome == RunOutcome.SKIPPED and any(reason in run.message for reason in skip_reasons)
               for run in late), [(run.outcome, run.message) for run in late]


# --- tick --at ----------------------------------------------------------------------------------------

def test_tick_at_a_future_minute_is_refused_with_exit_2_and_one_line(cron_env, manage_py, test_jobs):
    future = (timezone.localtime() + timedelta(minutes=3)).strftime("%Y-%m-%d %H:%M")
    proc = run_manage(manage_py, cron_env, "cronjobs", "tick", "--at", future)
    assert proc.returncode == 2
    assert [line for line in proc.stderr.splitlines() if line.strip()] == [
        f"CommandError: --at {future} CST is in the future: a tick runs that slot now and uses it up (its real run "
        "would then be skipped); --at only replays past minutes"]
    assert not JobRun.objects.exists()


# --- time limits --------------------------------------------------------------------------------------

def _check_time_limited_run(run: JobRun) -> None:
    assert run.outcome == RunOutcome.TERMINATED
    assert run.message == "time limit of 2 s reached after 12 chunks (12,000 orders)"
    assert run.duration < timedelta(seconds=10)
    assert not JobLock.objects.get(job="hangs_on_a_socket").token  # the lease is free


def test_a_hung_job_is_stopped_at_its_limit_under_a_crontab_line(options_env, manage_py, option_jobs, tmp_path,
                                                                 robot):
    port, received = robot
    mail_dir = tmp_path / "mail"
    wait_for_room_in_the_minute(20)
    job = job_by_name("hangs_on_a_socket")
    proc = run_manage(manage_py, {**options_env, "ADMINS": "ops@example.com", "OMS_TEST_EMAIL_FILE_PATH": str(mail_dir),
                                  "ALERT_URLS": f"json://127.0.0.1:{port}/alerts"},
                      "crontab", "run", job.hash, "--scheduled")
    assert proc.returncode == 124, proc.stderr
    run = JobRun.objects.get(job="hangs_on_a_socket")
    assert run.trigger == "cron"
    _check_time_limited_run(run)
    mails = [path.read_text() for path in mail_dir.iterdir()]
    assert len(mails) == 1 and "stopped at its time limit" in mails[0]  # admins alerted once
    assert [(path, body["title"]) for path, body in received] == [  # and the chat channel, once
        ("/alerts", f"cron job hangs_on_a_socket stopped at its time limit on {run.host}")]
    assert "time limit of 2 s reached after 12 chunks" in received[0][1]["message"]


def test_a_hung_job_is_stopped_at_its_limit_under_serve(options_env, manage_py, option_jobs):
    import signal

    serve = start(manage_py, {**options_env, "OMS_HOSTNAME": "serve-host"}, "cronjobs", "serve", "--grace", "1")
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            run = JobRun.objects.filter(job="hangs_on_a_socket").exclude(outcome=RunOutcome.RUNNING).first()
            if run is not None:
                break
            time.sleep(0.5)
        else:
            pytest.fail("serve never ran the hung job to its limit")
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.communicate(timeout=60)
    assert run.trigger == "ticker"
    _check_time_limited_run(run)


def test_a_job_that_ignores_its_limit_is_recorded_and_killed_after_the_grace(options_env, manage_py, option_jobs):
    proc = run_manage(manage_py, options_env, "cronjobs", "run", "stuck_where_no_signal_reaches")
    assert proc.returncode == -9  # SIGKILL
    run = JobRun.objects.get(job="stuck_where_no_signal_reaches")
    assert run.outcome == RunOutcome.TERMINATED
    assert run.message.startswith("time limit of 1 s reached; did not stop within 2 s more, its process (pid ")
    assert not JobLock.objects.get(job="stuck_where_no_signal_reaches").token
    assert "killed" in proc.stdout


def _finance_mails(mail_dir) -> list[str]:
    """The alert mails about monthly_finance (a tick also runs the hung every-minute job, which alerts too)."""
    if not mail_dir.exists():
        return []
    return [text for path in sorted(mail_dir.iterdir()) if "cron job monthly_finance" in (text := path.read_text())]


# --- retries ------------------------------------------------------------------------------------------

def test_a_failing_monthly_finance_is_retried_after_the_delay_and_succeeds_on_attempt_2(
        options_env, manage_py, option_jobs, tmp_path):
    marker = tmp_path / "db-restarting"
    marker.write_text("")
    mail_dir = tmp_path / "mail"
    env = {**options_env, "OMS_TEST_FAIL_MARKER": str(marker), "ADMINS": "ops@example.com",
           "OMS_TEST_EMAIL_FILE_PATH": str(mail_dir)}
    slot = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)  # 2026-12-01 00:30 CST
    first = run_manage(manage_py, env, "cronjobs", "tick", "--at", "2026-12-01 00:30")
    assert first.returncode == 1 and "monthly_finance: failed" in first.stderr
    assert _finance_mails(mail_dir) == []  # attempts are left: no alert yet

    failed = JobRun.objects.get(job="monthly_finance")

    def due_at(seconds_after_the_failure: float):
        moment = failed.finished_at + timedelta(seconds=seconds_after_the_failure)
        return [due for due in catch_up_slots(moment) if due.job.name == "monthly_finance"]

    assert due_at(1) == []  # the delay (3 s after the failure's end) has not passed
    retry = due_at(3.5)
    assert [(due.slot, due.trigger, due.attempt) for due in retry] == [(slot, "retry", 2)]
    assert "retry, attempt 2 of 3" in str(retry[0])

    marker.unlink()  # the database is back
    from basic.cron_runtime.engines import launcher

    command = launcher.command(retry[0])  # what every engine starts for it (serve, tick, heartbeat)
    assert command[-6:] == ["--slot", slot.isoformat(), "--attempt", "2", "--trigger", "retry"]
    second = run_manage(manage_py, env, *command[2:])
    assert second.returncode == 0, second.stderr
    runs = list(JobRun.objects.filter(job="monthly_finance").order_by("attempt"))
    assert [(run.slot, run.attempt, run.trigger, run.outcome) for run in runs] == [
        (slot, 1, "ticker", "failed"), (slot, 2, "retry", "succeeded")]
    assert due_at(3600) == []  # never an attempt after one succeeded
    again = run_manage(manage_py, env, "cronjobs", "run", "monthly_finance", "--slot", "2026-12-01 00:30",
                       "--attempt", "3", "--trigger", "retry")
    assert "already succeeded" in again.stdout + again.stderr
    assert _finance_mails(mail_dir) == []  # a blip absorbed by its retry is no news


def test_the_last_failed_attempt_alerts_once_and_the_recovery_once(options_env, manage_py, option_jobs, tmp_path):
    marker = tmp_path / "db-restarting"
    marker.write_text("")
    mail_dir = tmp_path / "mail"
    env = {**options_env, "OMS_TEST_FAIL_MARKER": str(marker), "ADMINS": "ops@example.com",
           "OMS_TEST_EMAIL_FILE_PATH": str(mail_dir)}
    for attempt, at in ((1, None), (2, "2026-12-01 00:31"), (3, "2026-12-01 00:33")):
        if at is None:
            proc = run_manage(manage_py, env, "cronjobs", "tick", "--at", "2026-12-01 00:30")
        else:
            proc = run_manage(manage_py, env, "cronjobs", "run", "monthly_finance", "--slot", "2026-12-01 00:30",
                              "--attempt", str(attempt), "--trigger", "retry")
        assert proc.returncode == 1
    assert ["FAILED" in text for text in _finance_mails(mail_dir)] == [True]  # one alert, for the last attempt
    marker.unlink()
    assert run_manage(manage_py, env, "cronjobs", "run", "monthly_finance").returncode == 0
    texts = _finance_mails(mail_dir)
    assert len(texts) == 2 and sum("recovered" in text for text in texts) == 1


# --- catch-up "all" -----------------------------------------------------------------------------------

def test_catch_up_all_after_a_10_minute_outage_runs_each_slot_in_order_one_at_a_time(
        options_env, manage_py, option_jobs, tmp_path):
    out = tmp_path / "slots.txt"
    env = {**options_env, "OMS_TEST_SLOT_FILE": str(out)}
    # (the same ticks run the hung every-minute job of these settings to its limit: exit 1 for that one)
    run_manage(manage_py, env, "cronjobs", "tick", "--at", "2026-06-01 10:00")
    # the host is down 10:01 … 10:10; at 10:11 the tick runs the ten missed slots, then 10:11 itself
    proc = run_manage(manage_py, env, "cronjobs", "tick", "--at", "2026-06-01 10:11")
    assert "1 of 4 failed: hangs_on_a_socket" in proc.stderr
    assert "records_its_slot 2026-06-01 10:01 CST and 10 more slot(s) to 2026-06-01 10:11 CST (catch-up)" in proc.stdout
    rows = [line.split() for line in out.read_text().splitlines()]
    slots = [datetime.fromisoformat(row[0]) for row in rows]
    expected = [datetime(2026, 6, 1, 2, minute, tzinfo=UTC) for minute in range(0, 12)]
    assert slots == expected  # the 10:00 run, the 10 missed ones oldest first, then 10:11
    spans = [(float(row[1]), float(row[2])) for row in rows[1:]]
    assert all(end <= next_start for (_, end), (next_start, _) in zip(spans, spans[1:]))  # one at a time
    assert JobRun.objects.filter(job="records_its_slot", trigger="catch-up").count() == 11


def test_catch_up_none_and_grace(option_jobs, settings):
    settings.CRONJOB_OPTIONS = {**settings.CRONJOB_OPTIONS, "test_noop": {"catch_up": "none"},
                                "slow": {"grace": 600}}
    now = datetime(2026, 6, 1, 2, 30, tzinfo=UTC)
    for name in ("test_noop", "slow"):
        JobRun.objects.create(job=name, trigger="cron", host="h", pid=1, started_at=now - timedelta(days=400),
                              finished_at=now - timedelta(days=400), outcome=RunOutcome.SUCCEEDED)
    names = {due.job.name for due in catch_up_slots(now)}
    assert "test_noop" not in names  # catch_up none
    assert "slow" not in names  # its missed New Year is far older than its grace of 10 minutes


def test_check_validates_the_job_options(settings):
    from django.core.management.base import SystemCheckError

    settings.CRONJOBS = [("* * * * *", "tests.cron_runtime.jobs.noop")]
    settings.CRONJOB_OPTIONS = {"noop": {"catch_up": "some", "timeout": 0, "retires": 1}}
    with pytest.raises(SystemCheckError, match=r"cronjobs.E007.*unknown option\(s\) retires"):
        call_command("check")
    settings.CRONJOB_OPTIONS = {"noop": {"catch_up": "some"}}
    with pytest.raises(SystemCheckError, match=r"catch_up='some' is not a policy: use latest, all, none"):
        call_command("check")
    settings.CRONJOB_OPTIONS = {"noop": {"timeout": 0}}
    with pytest.raises(SystemCheckError, match=r"timeout=0 must be a whole number of at least 1"):
        call_command("check")


def test_concurrent_starts_of_one_retry_run_it_once(options_env, manage_py, option_jobs):
    slot = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)
    JobRun.objects.create(job="monthly_finance", trigger="cron", host="h", pid=1, started_at=slot, finished_at=slot,
                          outcome=RunOutcome.FAILED, slot=slot)
    procs = [start(manage_py, {**options_env, "OMS_HOSTNAME": f"host-{n}"}, "cronjobs", "run", "monthly_finance",
                   "--slot", "2026-12-01 00:30", "--attempt", "2", "--trigger", "retry") for n in range(4)]
    for proc in procs:
        proc.communicate(timeout=120)
    wrong = run_manage(manage_py, options_env, "cronjobs", "run", "monthly_finance", "--attempt", "2")
    assert wrong.returncode == 2 and "a retry (2, 3…) of a --slot" in wrong.stderr
    attempts = JobRun.objects.filter(job="monthly_finance", attempt=2)
    assert sorted(run.outcome for run in attempts) == ["skipped", "skipped", "skipped", "succeeded"]
    assert attempts.get(outcome="succeeded").slot == slot


def test_under_os_cron_the_heartbeat_starts_the_backlog_of_a_catch_up_all_job_due_every_minute(
        option_jobs, recorded_launches):
    from basic.cron_runtime.observability.housekeeping import catch_up_missed_runs

    now = timezone.now().replace(second=30, microsecond=0)
    first = as_slot(now) - timedelta(minutes=10)
    JobRun.objects.create(job="records_its_slot", trigger="cron", host="h", pid=1, started_at=first,
                          finished_at=first, outcome=RunOutcome.SUCCEEDED, slot=first)
    catch_up_missed_runs(now)
    [backlog] = [due for due in recorded_launches if due.job.name == "records_its_slot"]
    # every minute since, oldest first, up to the one 2 minutes ago (the wait before a slot counts as missed)
    assert list(backlog.slots) == [first + timedelta(minutes=n) for n in range(1, 9)]
    assert backlog.slots[-1] == as_slot(now) - timedelta(minutes=2)


def test_serve_starts_no_paused_job_and_the_next_slot_after_resume(test_jobs, recorded_launches):
    from basic.cron_runtime.engines.ticker import Ticker

    noop = job_by_name("test_noop")
    ticker = Ticker(RecordingLog(), clock=timezone.now)
    minute = as_slot(timezone.now())
    job_pause(job=noop, by="ops", reason="r")
    ticker.tick(minute)
    assert [due.job.name for due in recorded_launches] == ["heartbeat"]
    job_resume(job=noop, by="ops")
    ticker.tick(minute + timedelta(minutes=1))
    assert [due.job.name for due in recorded_launches[1:]] == ["test_noop", "heartbeat"]
    assert recorded_launches[1].slot == minute + timedelta(minutes=1)
