"""Fixtures of the runner's tests: test CRONJOBS, child-process environment, the real crontab."""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from tests.cron_runtime.helpers import CRONTAB, FakeProcess, crontab_text, set_crontab
from tests.cron_runtime.jobs import TEST_CRONJOB_NAMES, TEST_CRONJOBS
from tests.helpers import PROJECT_DIR


@pytest.fixture
def test_jobs(settings):
    """settings.CRONJOBS = the test jobs (the same list the child processes' settings use)."""
    settings.CRONJOBS = list(TEST_CRONJOBS)
    settings.CRONJOB_NAMES = dict(TEST_CRONJOB_NAMES)
    settings.CRON_HOST_TIME_ZONE = settings.TIME_ZONE
    return settings


@pytest.fixture
def cron_env(subprocess_env, tmp_path) -> dict:
    """Environment for `manage.py` children running the test jobs, with their own log folder."""
    env = dict(subprocess_env)
    env["DJANGO_SETTINGS_MODULE"] = "tests.cron_runtime.cron_test_settings"
    env["LOG_DIR"] = str(tmp_path / "logs")
    env.pop("CRON_HOST_TIME_ZONE", None)
    return env


@pytest.fixture
def real_crontab():
    """The machine's crontab, backed up and restored (also the main checkout's .cron.env).

    A file lock serialises these tests across pytest runs that happen at the same time
    (the SQLite and MariaDB legs, other engineers' runs) since there is one crontab.
    """
    if not Path(CRONTAB).exists():
        pytest.fail(f"{CRONTAB} is missing: apt-get install cron")
    with open("/tmp/oms_test-crontab-tests.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        saved = crontab_text()
        env_file = PROJECT_DIR / ".cron.env"
        saved_env = env_file.read_bytes() if env_file.exists() else None
        try:
            yield saved
        finally:
            set_crontab(saved)
            if saved_env is None:
                env_file.unlink(missing_ok=True)
            else:
                env_file.write_bytes(saved_env)
                os.chmod(env_file, 0o600)


@pytest.fixture
def recorded_launches(monkeypatch) -> list:
    """In-process tests never start `manage.py` children (they would use the environment's database,
    not the test's): each launch is recorded instead and reported as started with a made-up pid."""
    from basic.cron_runtime.engines import launcher

    launched = []

    def record(due, *, output_path=None):
        launched.append(due)
        return launcher.Launched(due, FakeProcess(pid=40000 + len(launched)))

    monkeypatch.setattr(launcher, "launch", record)
    return launched
