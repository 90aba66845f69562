"""End to end: the real cron daemon fires a job that `manage.py crontab add` installed (slow: ~1-2 min)."""
import subprocess
import time
from pathlib import Path

import pytest

from basic.cron_runtime.installer import cron_daemon_running
from basic.cron_runtime.models import JobRun
from tests.cron_runtime.helpers import run_manage

pytestmark = [pytest.mark.cron_daemon, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def cron_daemon():
    """A running cron daemon; started here in the foreground (and stopped afterwards) only if none was running.

    The test stops only the process it started (its own Popen), never a pid read from
    /run/crond.pid, which may be stale or name another daemon.
    """
    if cron_daemon_running():  # a live daemon, not a zombie left by a killed one
        yield
        return
    if not Path("/usr/sbin/cron").exists():
        pytest.fail("the cron daemon is not installed (apt-get install cron)")
    daemon = subprocess.Popen(["/usr/sbin/cron", "-f"])
    deadline = time.monotonic() + 10
    while not cron_daemon_running() and time.monotonic() < deadline:
        if daemon.poll() is not None:
            pytest.fail(f"cron -f exited at once with code {daemon.returncode}")
        time.sleep(0.1)
    try:
        yield
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=10)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()


def test_cron_daemon_fires_an_installed_job(cron_daemon, real_crontab, cron_env, manage_py, tmp_path):
    assert cron_daemon_running()
    installed = run_manage(manage_py, cron_env, "crontab", "add")
    assert installed.returncode == 0, installed.stderr
    assert "no cron daemon" not in installed.stderr
    assert "test_noop" in run_manage(manage_py, cron_env, "crontab", "show").stdout

    deadline = time.monotonic() + 150  # cron rereads its spool each minute, then fires on the next one
    while not JobRun.objects.filter(job="test_noop", trigger="cron", finished_at__isnull=False).exists():
        if time.monotonic() > deadline:
            out = tmp_path / "logs" / "crontab" / "cron-test_noop.out"
            pytest.fail(f"cron did not run test_noop within 150 s; its output: "
                        f"{out.read_text() if out.exists() else '(none)'}")
        time.sleep(2)
    run = JobRun.objects.get(job="test_noop", trigger="cron")
    assert run.outcome == "succeeded"
    log = (tmp_path / "logs" / "crontab" / "test_noop.log").read_text()
    assert f"start tests.cron_runtime.jobs.noop (run #{run.pk}, trigger cron" in log
    assert "noop job says hello" in log and "end: succeeded, 1 items" in log


def test_a_zombie_cron_process_is_not_a_running_daemon(tmp_path):
    """A killed daemon not yet reaped keeps its name in /proc; it must not count as running."""
    import shutil

    from basic.cron_runtime.installer import cron_daemon_pids

    fake = tmp_path / "cron"
    shutil.copy("/bin/true", fake)
    child = subprocess.Popen([str(fake)])  # exits at once; not waited for, so it stays a zombie
    try:
        deadline = time.monotonic() + 5
        while Path(f"/proc/{child.pid}/stat").read_text().split(")")[-1].split()[0] != "Z":
            assert time.monotonic() < deadline, "the child did not become a zombie"
            time.sleep(0.05)
        assert child.pid not in cron_daemon_pids()
    finally:
        child.wait()
