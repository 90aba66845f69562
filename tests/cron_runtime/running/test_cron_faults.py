"""Faults of the environment, each met by a real `manage.py` process: one clear line, a non-zero exit.

The database on a closed port, refusing the password, without the database; the log folder
missing or not writable; the crontab program missing or refusing. And a cron line whose log
cannot be written still starts the runner, which records the run as failed and alerts.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
from email import message_from_bytes
from pathlib import Path

import pytest
from django.db import connection

from basic.cron_runtime.models import JobRun
from basic.cron_runtime.scheduling.registry import job_by_name
from tests.cron_runtime.helpers import run_manage
from tests.cron_runtime.helpers import lines
from tests.helpers import PROJECT_DIR

pytestmark = pytest.mark.django_db(transaction=True)  # the children's records are committed rows

# Root ignores file permissions; dropping these capabilities makes it meet them like any user.
AS_PLAIN_USER = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


def mysql_url(*, port=None, password=None, name=None) -> str:
    db = connection.settings_dict if connection.vendor == "mysql" else {}
    user = db.get("USER") or "root"
    auth = f"{user}:{password}" if password else user
    return f"mysql://{auth}@127.0.0.1:{port or db.get('PORT') or 3306}/{name or db.get('NAME') or 'oms'}"


DATABASE_FAULTS = {
    "closed port": (lambda: mysql_url(port=closed_port()),
                    r"^CommandError: database unreachable: nothing answers at 127\.0\.0\.1:\d+ \(Connection refused\)"
                    r" — start the MySQL/MariaDB server, or fix the host and port in DATABASE_URL$"),
    "wrong password": (lambda: mysql_url(password="not-the-password"),
                       r"^CommandError: the database at 127\.0\.0\.1:\d+ refused the login of user 'root' "
                       r"\(Access denied .*\) — fix the user and password in DATABASE_URL$"),
    "unknown database": (lambda: mysql_url(name="oms_faults_no_such_db"),
                         r"^CommandError: the database 'oms_faults_no_such_db' does not exist at 127\.0\.0\.1:\d+ — "
                         r"create it .* or fix the name in DATABASE_URL$"),
    "sqlite folder missing": (lambda: "sqlite:////nonexistent/folder/db.sqlite3",
                              r"^CommandError: cannot open the SQLite database /nonexistent/folder/db\.sqlite3 — "),
}


@pytest.mark.parametrize("fault", DATABASE_FAULTS)
def test_each_database_fault_is_one_line_naming_it(cron_env, manage_py, fault, test_jobs):
    make_url, expected = DATABASE_FAULTS[fault]
    env = {**cron_env, "DATABASE_URL": make_url()}
    commands = [["crontab", "run", job_by_name("test_noop").hash], ["cronjobs", "run", "test_noop"],
                ["cronjobs", "list"], ["cronjobs", "status"]]
    if fault != "sqlite folder missing":  # Django's MySQL checks connect; SQLite's never do
        commands.append(["check", "--database", "default"])
    for command in commands:
        proc = run_manage(manage_py, env, *command)
        assert proc.returncode == 1, (command, proc.stdout, proc.stderr)
        assert lines(proc.stderr) and len(lines(proc.stderr)) == 1, (command, proc.stderr)
        assert re.match(expected, proc.stderr.strip()), (command, proc.stderr)


def test_traceback_option_still_shows_the_whole_story(cron_env, manage_py):
    env = {**cron_env, "DATABASE_URL": mysql_url(port=closed_port())}
    proc = run_manage(manage_py, env, "cronjobs", "--traceback", "list")
    assert proc.returncode == 1
    assert "Traceback (most recent call last)" in proc.stderr and "Connection refused" in proc.stderr
    assert "database unreachable: nothing answers at" in proc.stderr


@pytest.fixture
def log_dir_is_a_file(cron_env, tmp_path):
    """LOG_DIR names a file: the log folder is missing and cannot be created."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    cron_env["LOG_DIR"] = str(blocker)
    return blocker


@pytest.fixture
def mailbox(cron_env, tmp_path) -> Path:
    """The children mail ADMINS into this folder."""
    folder = tmp_path / "mail"
    folder.mkdir()
    cron_env.update(ADMINS="ops@example.com", OMS_TEST_EMAIL_FILE_PATH=str(folder))
    return folder


def mails(folder: Path) -> list:
    return [message_from_bytes(path.read_bytes()) for path in sorted(folder.iterdir())]


def test_missing_log_folder_runs_are_recorded_failed_and_alerted(cron_env, manage_py, log_dir_is_a_file, mailbox,
                                                                 test_jobs):
    for command in (["crontab", "run", job_by_name("test_noop").hash], ["cronjobs", "run", "test_noop"]):
        proc = run_manage(manage_py, cron_env, *command)
        assert proc.returncode == 1, proc.stderr
        assert len(lines(proc.stderr)) <= 3, proc.stderr
        assert f"cannot write {log_dir_is_a_file}/crontab: Not a directory" in proc.stderr
        assert "Traceback" not in proc.stderr
    runs = list(JobRun.objects.filter(job="test_noop"))
    assert [run.outcome for run in runs] == ["failed", "failed"]
    assert all(run.message == f"cannot write {log_dir_is_a_file}/crontab: Not a directory" for run in runs)
    [alert] = mails(mailbox)  # one mail when the job starts failing
    assert "test_noop FAILED" in alert["Subject"]


def test_check_names_the_log_folder_fault(cron_env, manage_py, log_dir_is_a_file):
    proc = run_manage(manage_py, cron_env, "check")
    assert proc.returncode == 1
    fault, count = lines(proc.stderr)  # one line per issue, then the count: not Django's page
    assert fault.startswith("cronjobs.E004: ")
    assert f"cannot write {log_dir_is_a_file}/crontab: Not a directory" in fault and "set LOG_DIR" in fault
    assert "recorded as failed" in fault  # the hint, on the same line
    assert count == "System check identified 1 issue (0 silenced)."


@pytest.fixture
def fake_crontab(cron_env, tmp_path, real_crontab) -> Path:
    """A crontab program keeping the table in a file (real_crontab guards the project's .cron.env)."""
    table = tmp_path / "crontab.txt"
    program = tmp_path / "crontab"
    program.write_text(f'#!/bin/sh\nT={shlex.quote(str(table))}\n'
                       'if [ "$1" = "-l" ]; then [ -f "$T" ] || { echo "no crontab for $(id -un)" >&2; exit 1; }; '
                       'exec cat "$T"; fi\n'
                       'cat > "$T"\n')
    program.chmod(0o755)
    cron_env["TEST_CRONTAB_EXECUTABLE"] = str(program)
    return table


def test_add_installs_but_warns_when_the_log_folder_cannot_be_written(cron_env, manage_py, log_dir_is_a_file,
                                                                      fake_crontab):
    proc = run_manage(manage_py, cron_env, "crontab", "add")
    assert proc.returncode == 0, proc.stderr
    assert "5 added" in proc.stdout
    [warning] = [line for line in lines(proc.stderr) if line.startswith("warning: cannot write")]
    assert f"cannot write {log_dir_is_a_file}/crontab: Not a directory" in warning
    assert "every run is recorded as failed and alerted" in warning
    assert len(lines(proc.stderr)) <= 3 and "Traceback" not in proc.stderr


def need_setpriv():
    if os.geteuid() == 0 and not shutil.which("setpriv"):
        pytest.fail("setpriv (util-linux) is needed to run as root without the right to ignore file permissions")


def as_plain_user(command: list[str]) -> list[str]:
    return [*AS_PLAIN_USER, *command] if os.geteuid() == 0 else command


def test_a_cron_line_whose_logs_cannot_be_written_still_runs_records_and_alerts(cron_env, manage_py, tmp_path,
                                                                               fake_crontab, mailbox, test_jobs):
    """The crontab's user cannot write logs/crontab: the line still starts the runner (no shell redirect
    to fail first), the run is recorded as failed naming the file, ADMINS hear of it, and `crontab add`
    and `check` had warned."""
    need_setpriv()
    logs = tmp_path / "logs" / "crontab"
    logs.mkdir(parents=True)
    logs.chmod(0o555)
    try:
        add = subprocess.run(as_plain_user([*manage_py, "crontab", "add"]), env=cron_env, cwd=PROJECT_DIR,
                             capture_output=True, text=True, timeout=120, check=False)
        assert add.returncode == 0, add.stderr
        assert f"warning: cannot write {logs}: Permission denied — give the user" in add.stderr

        check = subprocess.run(as_plain_user([*manage_py, "check"]), env=cron_env, cwd=PROJECT_DIR,
                               capture_output=True, text=True, timeout=120, check=False)
        assert check.returncode == 1 and "cronjobs.E004" in check.stderr and "Permission denied" in check.stderr

        [line] = [text for text in fake_crontab.read_text().splitlines() if text.endswith("] test_noop")]
        assert ">>" not in line and "2>&1" not in line  # nothing for the shell to fail on before Python starts
        command = line.split(" ", 5)[5].rsplit(" # ", 1)[0]
        # What cron does: /bin/sh -c with a bare environment (the line brings the rest).
        cron = subprocess.run(as_plain_user(["env", "-i", "/bin/sh", "-c", command]), capture_output=True,
                              text=True, timeout=120, check=False)
    finally:
        logs.chmod(0o755)
    assert cron.returncode == 1
    cron_output = lines(cron.stderr)  # what cron mails (or puts in syslog): the output file could not be opened
    assert 1 <= len(cron_output) <= 3, cron.stderr
    assert f"cannot write {logs}/cron-test_noop.out: Permission denied" in cron_output[0]
    assert f"cannot write {logs}/test_noop.log: Permission denied" in cron.stderr and "Traceback" not in cron.stderr
    run = JobRun.objects.get(job="test_noop")
    assert (run.outcome, run.trigger) == ("failed", "cron")
    assert run.message == f"cannot write {logs}/test_noop.log: Permission denied"
    [alert] = mails(mailbox)
    assert "test_noop FAILED" in alert["Subject"] and "cannot write" in alert.get_payload()


CRONTAB_FAULTS = {
    "missing": ("/nonexistent/bin/crontab",
                "the `crontab` program was not found at /nonexistent/bin/crontab (install cron: apt-get install cron; "
                "or set CRONTAB_EXECUTABLE)"),
    "refusing": ('#!/bin/sh\necho "You (root) are not allowed to use this program (crontab)" >&2\nexit 1\n',
                 "`crontab -l` failed (exit 1): You (root) are not allowed to use this program (crontab) — "
                 "is this user allowed to use cron? (/etc/cron.allow, /etc/cron.deny)"),
}


@pytest.mark.parametrize("fault", CRONTAB_FAULTS)
def test_crontab_program_faults_are_one_line(cron_env, manage_py, tmp_path, fault, real_crontab):
    program, expected = CRONTAB_FAULTS[fault]
    if program.startswith("#!"):
        path = tmp_path / "crontab"
        path.write_text(program)
        path.chmod(0o755)
        program = str(path)
    cron_env["TEST_CRONTAB_EXECUTABLE"] = program
    for subcommand in ("add", "show", "remove"):
        proc = run_manage(manage_py, cron_env, "crontab", subcommand)
        assert proc.returncode == 1, (subcommand, proc.stdout)
        assert lines(proc.stderr) == [f"CommandError: {expected}"], (subcommand, proc.stderr)
