"""`cronjobs list|run|status`, the health API behind them, and the CRONJOBS system checks."""
import subprocess
from datetime import datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import CommandError

from basic.cron_runtime.installer import cron_daemon_running
from basic.cron_runtime.observability.health import health_report, heartbeat_age, is_healthy, job_states, problems
from basic.cron_runtime.models import JobLock, JobRun, RunOutcome, RunTrigger
from tests.cron_runtime.helpers import lines, run_manage
from tests.helpers import PROJECT_DIR

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 21, 10, 0, 20, tzinfo=SHANGHAI)


def call(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def beat(at: datetime, job="heartbeat", outcome=RunOutcome.SUCCEEDED, message=""):
    return JobRun.objects.create(job=job, trigger=RunTrigger.CRON, host="h", pid=1, started_at=at,
                                 finished_at=at + timedelta(seconds=1), outcome=outcome, message=message)


NO_CRONTAB_PROGRAM = "/nonexistent/crontab"
NOBODY_WITHOUT_CRONTAB = ("nobody starts the jobs on this host — the `crontab` program is not installed and "
                          "`cronjobs serve` is not running; start `python manage.py cronjobs serve`, or install cron "
                          "(apt-get install cron) and run `python manage.py crontab add`")


def test_list_shows_schedule_plain_language_next_and_last_run(test_jobs):
    test_jobs.CRON_HOST_TIME_ZONE = "UTC"
    test_jobs.CRONTAB_EXECUTABLE = NO_CRONTAB_PROGRAM
    with time_machine.travel(T0, tick=False):
        beat(T0 - timedelta(seconds=20), job="test_noop")
        output = call("cronjobs", "list")
    assert output.splitlines()[0] == f"engine: {NOBODY_WITHOUT_CRONTAB}"
    assert "Times in Asia/Shanghai." in output
    assert "test_noop  '* * * * *'  Every minute / 每分钟" in output
    assert "next run 2026-11-21 10:01:00; last run 2026-11-21 10:00:00 succeeded (cron, 0 items, 1.0 s)" in output
    assert "failing  '0 0 1 1 *'" in output and "next run 2027-01-01 00:00:00; last run never" in output
    assert "widened" not in output and "installed as" not in output  # no crontab program: no lines to widen


def test_list_mentions_widened_lines_once_they_are_installed(test_jobs, real_crontab):
    test_jobs.CRON_HOST_TIME_ZONE = "UTC"
    call("crontab", "add")
    with time_machine.travel(T0, tick=False):
        output = call("cronjobs", "list")
    if not cron_daemon_running():
        assert output.splitlines()[0] == (
            "engine: nobody starts the jobs on this host — the crontab lines are installed but no cron daemon runs and "
            "`cronjobs serve` is not running; start the cron daemon (`service cron start`, or `cron -f` in a "
            "container), or start `python manage.py cronjobs serve`")
    assert "crontab: widened — the cron daemon runs in UTC and TIME_ZONE is Asia/Shanghai; installed as " \
           "'0 * * * *'" in output


def test_run_by_name_dry_run_and_unknown_name(test_jobs):
    assert "test_noop: succeeded (run #" in call("cronjobs", "run", "test_noop")
    with pytest.raises(CommandError, match=r"failing: failed \(run #\d+, 0 items.*RuntimeError: boom"):
        call("cronjobs", "run", "failing")
    assert JobRun.objects.filter(job="failing", outcome="failed", trigger="manual").count() == 1
    before = JobRun.objects.count()
    assert "dry run: would call tests.cron_runtime.jobs.slow" in call("cronjobs", "run", "slow", "--dry-run")
    assert JobRun.objects.count() == before
    with pytest.raises(CommandError, match="known jobs: test_noop, failing, partly_failing, slow, heartbeat"):
        call("cronjobs", "run", "nope")


def test_run_records_who_asked_for_it_and_refuses_an_unknown_user(test_jobs, django_user_model):
    staff = django_user_model.objects.create_user("ops", is_staff=True)
    assert "test_noop: succeeded" in call("cronjobs", "run", "test_noop", "--triggered-by", str(staff.pk))
    run = JobRun.objects.get(job="test_noop")
    assert (run.trigger, run.triggered_by) == (RunTrigger.MANUAL, staff)
    with pytest.raises(CommandError, match=r"^--triggered-by 999999: no user with that id$") as refused:
        call("cronjobs", "run", "test_noop", "--triggered-by", "999999")
    assert refused.value.returncode == 2  # like any malformed argument
    assert JobRun.objects.count() == 1


def test_run_with_an_unknown_user_exits_2_in_one_line(cron_env, manage_py):
    unknown = run_manage(manage_py, cron_env, "cronjobs", "run", "test_noop", "--triggered-by", "999999")
    assert unknown.returncode == 2
    assert lines(unknown.stderr) == ["CommandError: --triggered-by 999999: no user with that id"]
    not_an_id = run_manage(manage_py, cron_env, "cronjobs", "run", "test_noop", "--triggered-by", "ops")
    assert not_an_id.returncode == 2
    assert lines(not_an_id.stderr)[-1].endswith("argument --triggered-by: invalid int value: 'ops'")
    assert not JobRun.objects.exists()


def test_status_never_beat_then_healthy_then_stale_overdue_and_failed(test_jobs):
    test_jobs.CRONTAB_EXECUTABLE = NO_CRONTAB_PROGRAM  # the same answer on every host: nobody starts the jobs
    with time_machine.travel(T0, tick=False):
        assert problems() == [f"heartbeat: never beat — {NOBODY_WITHOUT_CRONTAB}"]
        with pytest.raises(CommandError, match="1 problem"):
            call("cronjobs", "status")

        beat(T0 - timedelta(seconds=20))  # the first beat: the install
        beat(T0 - timedelta(seconds=20), job="test_noop")
        assert is_healthy() and "all well" in call("cronjobs", "status")
        assert heartbeat_age() == timedelta(seconds=20)  # since cron started it

    later = T0 + timedelta(minutes=5)
    with time_machine.travel(later, tick=False):
        found = problems()
        assert f"heartbeat: last beat 320 s ago (stale after 180 s) — {NOBODY_WITHOUT_CRONTAB}" in found
        assert "test_noop: overdue — due at 2026-11-21 10:03 CST, last run 2026-11-21 10:00 CST" in found
        with pytest.raises(CommandError, match="2 problem"):
            call("cronjobs", "status")

        beat(later - timedelta(seconds=5))
        beat(later - timedelta(seconds=5), job="test_noop")
        beat(later - timedelta(seconds=5), job="partly_failing", outcome=RunOutcome.FAILED, message="3 of 10\nmore")
        failed_pk = JobRun.objects.get(job="partly_failing").pk
        assert problems() == [f"partly_failing: failed last time (2026-11-21 10:05 CST, run #{failed_pk}): 3 of 10"]
        # a later skip does not hide the failure; a later success does
        beat(later - timedelta(seconds=2), job="partly_failing", outcome=RunOutcome.SKIPPED)
        assert not is_healthy()
        beat(later - timedelta(seconds=1), job="partly_failing")
        assert is_healthy()


def test_heartbeat_age_counts_any_outcome_started_by_cron_but_not_manual_runs(test_jobs):
    with time_machine.travel(T0, tick=False):
        beat(T0 - timedelta(minutes=30))  # the last success, long ago
        beat(T0 - timedelta(minutes=20), outcome=RunOutcome.RUNNING)  # a long catch-up holds the lock...
        beat(T0 - timedelta(seconds=30), outcome=RunOutcome.SKIPPED)  # ...so later beats are skipped
        beat(T0 - timedelta(seconds=30), job="test_noop")
        assert heartbeat_age() == timedelta(seconds=30) and is_healthy()
        JobRun.objects.filter(job="heartbeat", outcome=RunOutcome.SKIPPED).delete()
        assert heartbeat_age() == timedelta(minutes=20)  # the running one: cron started it 20 min ago
        JobRun.objects.create(job="heartbeat", trigger=RunTrigger.MANUAL, host="h", pid=1, started_at=T0,
                              outcome=RunOutcome.SUCCEEDED, finished_at=T0)
        assert heartbeat_age() == timedelta(minutes=20)  # a manual run proves nothing about the daemon
        assert not is_healthy()


def test_job_states_and_report_for_the_dashboard(test_jobs):
    with time_machine.travel(T0, tick=False):
        beat(T0 - timedelta(seconds=20))
        run = beat(T0 - timedelta(minutes=30), job="slow")
        JobLock.objects.create(job="slow", token="t", host="web-1", pid=7, run=run,
                               acquired_at=T0 - timedelta(minutes=30), expires_at=T0 + timedelta(seconds=40))
        states = {state.name: state for state in job_states()}
        slow = states["slow"]
        assert slow.running and slow.running_too_long and slow.running_since == T0 - timedelta(minutes=30)
        assert slow.last_outcome == "succeeded" and slow.last_duration == timedelta(seconds=1)
        assert states["heartbeat"].next_run == datetime(2026, 11, 21, 10, 1, tzinfo=SHANGHAI)
        # the first run on record (09:30) is the install: every-minute test_noop never ran since
        assert states["test_noop"].overdue and states["test_noop"].last_run is None
        assert not states["failing"].overdue  # its yearly tick was before the install
        assert problems() == ["test_noop: overdue — due at 2026-11-21 09:58 CST, never ran",
                              "slow: running since 2026-11-21 09:30 CST — longer than expected"]
        report = health_report()
        assert report["healthy"] is False and report["heartbeat_age_seconds"] == 20
        assert [job["name"] for job in report["jobs"]] == ["test_noop", "failing", "partly_failing", "slow",
                                                            "heartbeat"]


# --- system checks ---------------------------------------------------------------------------

def cronjobs_checks() -> list:
    """Every check tagged cronjobs, as `manage.py check` runs them; sorted by id (the registry has no order)."""
    return sorted(run_checks(tags=["cronjobs"]), key=lambda error: error.id)


def ids(errors) -> list[str]:
    return [error.id for error in errors]


@pytest.fixture
def no_names(settings):
    settings.CRONJOB_NAMES = {}
    return settings


def test_checks_pass_on_the_real_cronjobs():
    assert cronjobs_checks() == []


def test_check_e001_bad_schedule(no_names):
    settings = no_names
    settings.CRONJOBS = [("0 8 * * L", "tests.cron_runtime.jobs.noop"), ("61 * * * *", "tests.cron_runtime.jobs.slow")]
    errors = cronjobs_checks()
    assert ids(errors) == ["cronjobs.E001", "cronjobs.E001"] and "CRONJOBS[1]" in errors[1].msg and errors[0].hint


def test_check_e002_function_not_importable(no_names):
    settings = no_names
    settings.CRONJOBS = [("* * * * *", "tests.cron_runtime.jobs.no_such_function"),
                         ("* * * * *", "no_such_module.func"), ("* * * * *", "tests.cron_runtime.jobs.TEST_CRONJOBS")]
    errors = cronjobs_checks()
    assert ids(errors) == ["cronjobs.E002"] * 3
    assert "no_such_function" in errors[0].msg and "not callable" in errors[2].msg


def test_check_e003_duplicates(no_names):
    settings = no_names
    settings.CRONJOBS = [("* * * * *", "tests.cron_runtime.jobs.noop"), ("*/5 * * * *", "tests.cron_runtime.jobs.noop")]
    errors = cronjobs_checks()
    assert ids(errors) == ["cronjobs.E003"] and "'noop' is listed twice (also settings.CRONJOBS[0])" in errors[0].msg


def test_check_e004_log_folder_not_writable(settings, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    settings.CRON_LOG_DIR = blocker / "crontab"  # a folder inside a file: cannot exist, even for root
    errors = cronjobs_checks()
    assert ids(errors) == ["cronjobs.E004"] and str(blocker) in errors[0].msg


def test_check_e006_log_rotation_loguru_cannot_read(monkeypatch, tmp_path):
    """The job log is opened when a run starts: a bad LOG_ROTATION would fail every run after
    `check` and `crontab add` had said all was well."""
    import oms_conf.logging

    monkeypatch.setitem(oms_conf.logging._state, "log_dir", tmp_path)
    assert cronjobs_checks() == []
    monkeypatch.setitem(oms_conf.logging._state, "rotation", "20 megabytes")
    errors = cronjobs_checks()
    assert ids(errors) == ["cronjobs.E006"] and "LOG_ROTATION='20 megabytes'" in errors[0].msg
    assert not any(tmp_path.rglob("*.log")), "the check must not create a log file"


def test_check_e005_malformed_entry_and_w001(settings):
    settings.CRONJOBS = ["* * * * * tests.cron_runtime.jobs.noop", ("* * * * *", "tests.cron_runtime.jobs.noop", {})]
    settings.CRONJOB_NAMES = {"tests.cron_runtime.jobs.gone": "gone"}
    errors = cronjobs_checks()
    assert ids(errors) == ["cronjobs.E005", "cronjobs.E005", "cronjobs.W001"]
    assert "arguments (3rd item) must be a list" in errors[1].msg


def test_check_e002_any_import_time_error_is_reported_not_raised(no_names, tmp_path, monkeypatch):
    settings = no_names
    (tmp_path / "cronmod_syntax.py").write_text("def job(:\n    pass\n")
    (tmp_path / "cronmod_value.py").write_text("raise ValueError('bad setting at import')\n")
    (tmp_path / "cronmod_conf.py").write_text(
        "from django.core.exceptions import ImproperlyConfigured\nraise ImproperlyConfigured('no API key')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    settings.CRONJOBS = [("* * * * *", f"{module}.{module}_job") for module in ("cronmod_syntax", "cronmod_value", "cronmod_conf")]
    errors = cronjobs_checks()
    assert ids(errors) == ["cronjobs.E002"] * 3
    assert "SyntaxError" in errors[0].msg and "ValueError: bad setting at import" in errors[1].msg
    assert "ImproperlyConfigured: no API key" in errors[2].msg


def test_check_a_job_name_with_a_dot_is_refused(settings):
    # loguru's retention pattern "<name>.*.log" of job "noop" would delete the log of "noop.v2"
    settings.CRONJOBS = [("* * * * *", "tests.cron_runtime.jobs.noop")]
    settings.CRONJOB_NAMES = {"tests.cron_runtime.jobs.noop": "noop.v2"}
    errors = cronjobs_checks()
    assert ids(errors) == ["cronjobs.E005"] and "'noop.v2'" in errors[0].msg and "no '.'" in errors[0].msg


@pytest.mark.parametrize("args", [("cronjobs", "list"), ("cronjobs", "status"), ("cronjobs", "run", "noop"),
                                  ("crontab", "show"), ("crontab", "run", "0123abcd")])
def test_malformed_cronjobs_is_a_command_error_not_a_traceback(settings, args):
    settings.CRONJOBS = [("* * * * *", "tests.cron_runtime.jobs.noop", {})]  # kwargs where args belong
    with pytest.raises(CommandError, match=r"settings.CRONJOBS is malformed: .*arguments \(3rd item\) must be a list"):
        call(*args)


def test_check_e004_when_the_log_folder_cannot_be_created_at_startup(subprocess_env, manage_py, tmp_path):
    """An unusable LOG_DIR used to crash every command at settings import; now `check` explains it."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for log_dir in (blocker / "logs", "/proc/oms-test-no-such/logs"):
        env = {**subprocess_env, "LOG_DIR": str(log_dir)}
        proc = subprocess.run([*manage_py, "check"], env=env, cwd=PROJECT_DIR, capture_output=True, text=True,
                              timeout=120, check=False)
        assert proc.returncode != 0
        assert "cronjobs.E004" in proc.stderr and str(log_dir) in proc.stderr
        assert "or set LOG_DIR" in proc.stderr and "every run is recorded as failed" in proc.stderr
        assert "Traceback" not in proc.stderr + proc.stdout
