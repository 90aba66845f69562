"""`manage.py crontab add|show|remove|run` against the machine's real `crontab` program."""
import os
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError

from basic.cron_runtime.installer import (
    MARKER,
    CrontabError,
    build_line,
    checkout_id,
    env_file_variables,
    parse_line,
    write_env_file,
)
from basic.cron_runtime.models import JobRun
from basic.cron_runtime.scheduling.registry import HEARTBEAT_FUNCTION, all_jobs, job_by_name
from basic.cron_runtime.scheduling.schedule import InstalledSchedule
from tests.cron_runtime.helpers import crontab_text, run_manage, set_crontab
from tests.cron_runtime.jobs import TEST_CRONJOBS
from tests.helpers import PROJECT_DIR

# Lines that are not this checkout's: another project (stock django-crontab marker), another
# checkout of oms_test (other id), a variable, a comment and a plain job. All must survive.
OTHER_LINES = [
    "MAILTO=\"\"",
    "# keep me: backups",
    "15 3 * * * /usr/local/bin/backup --all",
    ("*/5 * * * * /srv/shop/venv/bin/python /srv/shop/manage.py crontab run 0123456789abcdef0123456789abcdef "
     "# django-cronjobs for shop"),
    ("* * * * * cd '/srv/oms other' && '/srv/oms other/.venv/bin/python' '/srv/oms other/manage.py' crontab run "
     "fedcba9876543210fedcba9876543210 --scheduled # django-cronjobs for oms_test [deadbeef] heartbeat"),
]


def call(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def our_lines(text: str, checkout: str | None = None) -> list[str]:
    checkout = checkout or checkout_id()
    return [line for line in text.splitlines()
            if (m := MARKER.search(line)) and m["checkout"] == checkout and m["comment"].endswith("oms_test")]


# 31 February: a real cron daemon never fires these lines while a test has them installed (the
# in-process `crontab add` writes the developer's environment, i.e. their database, into .cron.env).
NEVER = "0 0 31 2 *"


@pytest.fixture
def quiet_jobs(test_jobs):
    """The test jobs with a schedule that never fires."""
    test_jobs.CRONJOBS = [(NEVER, *entry[1:]) for entry in TEST_CRONJOBS]
    return test_jobs


def test_add_show_remove_idempotent_and_other_lines_untouched(quiet_jobs, real_crontab):
    set_crontab("\n".join(OTHER_LINES) + "\n")
    output = call("crontab", "add")
    assert "5 added, 0 removed, 0 unchanged, 5 other line(s) left as they were" in output
    text = crontab_text()
    assert text.splitlines()[:5] == OTHER_LINES  # untouched, in place
    ours = our_lines(text)
    assert len(ours) == 5
    for job, line in zip(all_jobs(), ours, strict=True):
        assert line.startswith(f"{job.schedule} cd {shlex.quote(str(PROJECT_DIR))} && ")
        assert f"crontab run {job.hash} --scheduled" in line and line.endswith(f"] {job.name}")
        assert "OMS_ENV_FILE=" in line and "DJANGO_SETTINGS_MODULE=" in line
    env_file = PROJECT_DIR / ".cron.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert f"SECRET_KEY='{os.environ['SECRET_KEY']}'" in env_file.read_text()
    assert os.environ["SECRET_KEY"] not in text  # no secret in the crontab

    assert "0 added, 0 removed, 5 unchanged" in call("crontab", "add")
    assert crontab_text() == text

    shown = call("crontab", "show")
    for job in all_jobs():
        assert f"  {job.name:<20} {job.schedule}" in shown
    assert "STALE" not in shown and "MISSING" not in shown and "(5 other line(s)" in shown

    assert "5 line(s) of this checkout removed" in call("crontab", "remove")
    assert crontab_text().splitlines() == OTHER_LINES
    assert not env_file.exists()
    assert "0 line(s) of this checkout removed" in call("crontab", "remove")  # nothing left: still fine


def test_changed_cronjobs_show_marks_stale_and_one_add_replaces_them(quiet_jobs, real_crontab):
    set_crontab("\n".join(OTHER_LINES) + "\n")
    call("crontab", "add")
    old = {job.name: job.hash for job in all_jobs()}
    quiet_jobs.CRONJOBS = [
        ("0 0 30 2 *", "tests.cron_runtime.jobs.noop"),  # changed schedule → new hash (30 Feb: never fires either)
        (NEVER, "tests.cron_runtime.jobs.failing"),  # unchanged
        (NEVER, "tests.cron_runtime.jobs.returns_count"),  # new
        (NEVER, HEARTBEAT_FUNCTION),  # unchanged; partly_failing and slow are gone
    ]
    shown = call("crontab", "show")  # must not crash on the stale lines
    assert shown.count("STALE") == 3 and "MISSING returns_count" in shown and "MISSING test_noop" in shown
    with pytest.raises(CommandError, match="crontab add"):
        call("crontab", "run", old["test_noop"])

    output = call("crontab", "add")
    assert "2 added, 3 removed, 2 unchanged" in output
    text = crontab_text()
    assert text.splitlines()[:5] == OTHER_LINES
    assert [line.rsplit("] ", 1)[1] for line in our_lines(text)] == ["test_noop", "failing", "returns_count",
                                                                      "heartbeat"]  # CRONJOBS order
    assert old["slow"] not in text and old["test_noop"] not in text
    assert "STALE" not in call("crontab", "show")


def test_add_refuses_to_install_invalid_cronjobs(quiet_jobs, real_crontab):
    set_crontab("\n".join(OTHER_LINES) + "\n")
    quiet_jobs.CRONJOBS = [("0 25 * * *", "tests.cron_runtime.jobs.noop")]
    with pytest.raises(SystemCheckError, match="cronjobs.E001"):
        call("crontab", "add")
    assert crontab_text().splitlines() == OTHER_LINES


def test_unknown_hash_exits_non_zero_with_a_clear_message(cron_env, manage_py):
    proc = run_manage(manage_py, cron_env, "crontab", "run", "0" * 32, "--scheduled")
    assert proc.returncode == 1
    assert "out of date" in proc.stderr and "crontab add" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("subcommand", ["add", "show", "remove"])
def test_missing_crontab_program_is_a_clear_error(cron_env, manage_py, subcommand, real_crontab):
    cron_env["TEST_CRONTAB_EXECUTABLE"] = "/nonexistent/bin/crontab"
    proc = run_manage(manage_py, cron_env, "crontab", subcommand)
    assert proc.returncode == 1, proc.stdout
    assert "the `crontab` program was not found at /nonexistent/bin/crontab" in proc.stderr
    assert "apt-get install cron" in proc.stderr and "Traceback" not in proc.stderr


def test_crontab_rejecting_the_file_is_a_clear_error(cron_env, manage_py, tmp_path, real_crontab):
    fake = tmp_path / "crontab"
    fake.write_text('#!/bin/sh\nif [ "$1" = "-l" ]; then echo "no crontab for root" >&2; exit 1; fi\n'
                    'cat >/dev/null\necho \'"-":2: bad hour\' >&2\necho "errors in crontab file, can\'t install." >&2\n'
                    "exit 1\n")
    fake.chmod(0o755)
    cron_env["TEST_CRONTAB_EXECUTABLE"] = str(fake)
    proc = run_manage(manage_py, cron_env, "crontab", "add")
    assert proc.returncode == 1
    assert "rejected the new crontab (exit 1)" in proc.stderr and "bad hour" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.fixture
def project_copy(settings, tmp_path):
    """A project folder holding only .env.example, so .cron.env is written there, not in the checkout."""
    shutil.copy(PROJECT_DIR / ".env.example", tmp_path / ".env.example")
    settings.BASE_DIR = tmp_path
    return tmp_path


def test_cron_env_holds_every_documented_variable_that_is_set_and_nothing_else(project_copy, settings, monkeypatch):
    monkeypatch.setenv("ORDER_REMINDER_BEFORE", "120")
    monkeypatch.setenv("SCHEDULER", "cron")
    monkeypatch.setenv("SITE_OWN_TOKEN", "not-ours")
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")  # the crontab line sets it
    assert {"ORDER_REMINDER_BEFORE", "SCHEDULER", "METRICS_TOKEN"} <= env_file_variables()

    written = write_env_file()
    text = (project_copy / ".cron.env").read_text()
    assert "ORDER_REMINDER_BEFORE='120'" in text and "SCHEDULER='cron'" in text
    assert "SITE_OWN_TOKEN" not in text and "LOG_LEVEL" not in text and "OMS_ENV_FILE" not in text
    assert set(written) <= env_file_variables()

    settings.CRON_ENV_EXTRA_VARIABLES = ["SITE_OWN_TOKEN"]
    write_env_file()
    assert "SITE_OWN_TOKEN='not-ours'" in (project_copy / ".cron.env").read_text()


def test_without_env_example_add_says_what_to_restore(project_copy):
    (project_copy / ".env.example").unlink()
    with pytest.raises(CrontabError, match=r"cannot read .env.example .*restore it from the repository"):
        write_env_file()
    assert not (project_copy / ".cron.env").exists()


def test_line_quotes_every_path_and_escapes_percent(settings, tmp_path):
    base = tmp_path / "my shop's 100%"
    settings.BASE_DIR = base
    settings.CRONTAB_DJANGO_MANAGE_PATH = str(base / "manage.py")
    settings.CRONTAB_PYTHON_EXECUTABLE = str(base / ".venv bin" / "python")
    settings.CRON_LOG_DIR = base / "logs" / "crontab"
    job = all_jobs()[0]
    line = build_line(job, InstalledSchedule(job.schedule, False, ""))
    command = line.split(None, 5)[5].rsplit(" # ", 1)[0]
    assert "%" not in command.replace(r"\%", "")  # cron would turn a bare % into a newline
    words = shlex.split(command.replace(r"\%", "%"))
    assert words[:3] == ["cd", str(base), "&&"]
    assert str(base / ".venv bin" / "python") in words and str(base / "manage.py") in words
    assert f"OMS_ENV_FILE={base / '.cron.env'}" in words
    # no redirect for the shell to fail on: the runner opens logs/crontab/cron-<job>.out itself
    assert words[-4:] == ["crontab", "run", job.hash, "--scheduled"]


@pytest.mark.django_db(transaction=True)
def test_project_in_a_folder_with_spaces_runs_under_cron_bare_environment(
        quiet_jobs, cron_env, manage_py, tmp_path, real_crontab):
    """A second checkout, in a folder with spaces: its lines work under `env -i` and leave ours alone."""
    set_crontab("\n".join(OTHER_LINES) + "\n")
    call("crontab", "add")  # this checkout's lines
    main_lines = our_lines(crontab_text())

    copy = tmp_path / "oms test copy"
    shutil.copytree(PROJECT_DIR, copy, ignore=shutil.ignore_patterns(
        ".venv", "var", "logs", ".git", "__pycache__", "*.pyc", ".pytest_cache", "db.sqlite3*", ".env", ".cron.env"))
    env = {**cron_env, "LOG_DIR": str(copy / "logs"), "PYTHONPATH": ""}
    proc = subprocess.run([sys.executable, str(copy / "manage.py"), "crontab", "add"], cwd=copy, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    text = crontab_text()
    assert our_lines(text) == main_lines and text.splitlines()[:5] == OTHER_LINES
    copy_id = next(m["checkout"] for line in text.splitlines() if (m := MARKER.search(line))
                   and m["checkout"] not in (checkout_id(), "deadbeef"))
    noop_line = next(line for line in our_lines(text, copy_id) if line.endswith("] test_noop"))
    command = noop_line.split(None, 5)[5].rsplit(" # ", 1)[0].replace(r"\%", "%")

    bare = subprocess.run(["env", "-i", "/bin/sh", "-c", command], capture_output=True, text=True, timeout=120,
                          check=False)
    assert bare.returncode == 0, (bare.stdout, bare.stderr, (copy / "logs/crontab/cron-test_noop.out").read_text())
    # (a cron daemon running on this machine may fire the copy's every-minute line as well)
    runs = list(JobRun.objects.filter(job="test_noop"))
    assert runs and {(run.outcome, run.trigger) for run in runs} == {("succeeded", "cron")}
    log = (copy / "logs" / "crontab" / "test_noop.log").read_text()
    assert all(f"start tests.cron_runtime.jobs.noop (run #{run.pk}, trigger cron" in log for run in runs)

    proc = subprocess.run([sys.executable, str(copy / "manage.py"), "crontab", "remove"], cwd=copy, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert our_lines(crontab_text(), copy_id) == [] and our_lines(crontab_text()) == main_lines
    assert Path(copy / ".cron.env").exists() is False


def test_a_write_in_the_same_second_as_the_last_change_waits_for_the_next_second(real_crontab):
    """Debian's cron compares the spool folder's mtime in whole seconds: a second change in the same
    second as one it had loaded would never be noticed, and the jobs would silently not run."""
    from basic.cron_runtime.installer import CRON_SPOOL_DIRS, write_crontab

    spool = next((d for d in CRON_SPOOL_DIRS if d.is_dir()), None)
    assert spool is not None, f"none of {[str(d) for d in CRON_SPOOL_DIRS]} exists"
    set_crontab(f"{NEVER} /bin/true # first change\n")
    first_change = spool.stat().st_mtime
    write_crontab([f"{NEVER} /bin/true # second change"])
    second_change = spool.stat().st_mtime
    assert int(second_change) > int(first_change), (first_change, second_change)
    assert "# second change" in crontab_text()


def test_releases_in_their_own_folders_share_lines_when_the_installation_is_named(settings, tmp_path):
    """Release-directory deploys: each release is another folder; with CRON_CHECKOUT_ID set, the
    new release's `crontab add` owns (and replaces) the old release's lines."""
    ids = {}
    for name in ("CRON_CHECKOUT_ID", ""):
        settings.CRON_CHECKOUT_ID = name and "shop-prod"
        for release in ("releases/41", "releases/42"):
            settings.BASE_DIR = tmp_path / release
            ids[(name, release)] = checkout_id()
    assert ids[("CRON_CHECKOUT_ID", "releases/41")] == ids[("CRON_CHECKOUT_ID", "releases/42")]
    assert ids[("", "releases/41")] != ids[("", "releases/42")]
    settings.BASE_DIR = tmp_path / "releases" / "41"
    settings.CRON_CHECKOUT_ID = "shop-prod"
    old_line = build_line(all_jobs()[0], InstalledSchedule(NEVER, False, ""))
    settings.BASE_DIR = tmp_path / "releases" / "42"
    assert our_lines(old_line) == [old_line]  # the new release sees the old release's line as its own…
    old = parse_line(old_line)
    assert old.ours and old.stale and "another folder" in old.stale_reason  # …but as stale until `add`
    new = parse_line(build_line(all_jobs()[0], InstalledSchedule(NEVER, False, "")))
    assert new.ours and not new.stale


@pytest.mark.django_db(transaction=True)  # the child's records are committed rows
def test_a_widened_line_fires_the_job_only_on_ticks_due_in_time_zone(cron_env, manage_py, test_jobs):
    """`crontab run HASH --scheduled` is what cron runs: on a tick that is not due in TIME_ZONE (a
    widened line) it does nothing and records nothing; typed by hand, without the flag, it runs."""
    yearly = job_by_name("failing")  # 0 0 1 1 *: not due now (unless this runs at New Year's midnight)
    scheduled = run_manage(manage_py, cron_env, "crontab", "run", yearly.hash, "--scheduled")
    assert scheduled.returncode == 0, scheduled.stderr
    assert not JobRun.objects.filter(job="failing").exists()

    by_hand = run_manage(manage_py, cron_env, "crontab", "run", yearly.hash)
    assert by_hand.returncode == 1
    assert JobRun.objects.get(job="failing").trigger == "manual"


@pytest.fixture
def daemon_seen(monkeypatch):
    """Whether this host runs a cron daemon, as the drift report sees it: set ``.running``."""
    from basic.cron_runtime.installer import commands

    class Daemon:
        running = True

    monkeypatch.setattr(commands, "cron_daemon_running", lambda: Daemon.running)
    return Daemon


def test_drift_names_missing_mis_scheduled_and_stale_lines(quiet_jobs, tmp_path, daemon_seen):
    """What the dashboard's warning and `cronjobs status` read: compared with a crontab program that
    answers `-l` with a given text (no real crontab is touched)."""
    from basic.cron_runtime.installer import crontab_drift, expected_lines

    wanted = {job.name: line for job, _, line in expected_lines()}
    installed = [
        wanted["test_noop"],  # as it should be
        wanted["heartbeat"].replace(NEVER, "15 3 * * *", 1),  # another schedule
        wanted["slow"].replace(job_by_name("slow").hash, "f" * 32),  # a job no longer in CRONJOBS
        OTHER_LINES[2],  # not ours
    ]  # failing and partly_failing: missing
    listing = tmp_path / "listing.txt"
    listing.write_text("\n".join(installed) + "\n")
    fake = tmp_path / "crontab"
    fake.write_text(f'#!/bin/sh\n[ "$1" = "-l" ] && exec cat {shlex.quote(str(listing))}\nexit 1\n')
    fake.chmod(0o755)
    quiet_jobs.CRONTAB_EXECUTABLE = str(fake)

    drift = crontab_drift()

    assert sorted(drift) == sorted([
        "failing: not in the crontab (run `python manage.py crontab add`)",
        "partly_failing: not in the crontab (run `python manage.py crontab add`)",
        "slow: not in the crontab (run `python manage.py crontab add`)",
        (f"heartbeat: installed as '15 3 * * *' but should be '{NEVER}' (the host timezone changed?) — "
         "run `python manage.py crontab add`"),
        "stale crontab line slow: its job is no longer in CRONJOBS (run `python manage.py crontab add`)",
    ])
    listing.write_text("\n".join(wanted.values()) + "\n")
    assert crontab_drift() == []


def test_without_a_cron_daemon_the_crontab_is_not_compared(quiet_jobs, settings, daemon_seen):
    """A host where `cronjobs serve` runs the jobs: no "not in the crontab" notes, not even when
    there is no crontab program at all (a container)."""
    from basic.cron_runtime.installer import crontab_drift

    settings.CRONTAB_EXECUTABLE = "/nonexistent/crontab"
    assert "was not found" in crontab_drift()[0]  # with a daemon, a missing program is worth a note
    daemon_seen.running = False
    assert crontab_drift() == []
