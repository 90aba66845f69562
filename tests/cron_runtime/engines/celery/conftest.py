"""Fixtures of the Celery engine's tests: the test's Redis database and the workers' environment."""
from __future__ import annotations

import fcntl
import os

import pytest
import redis

from basic.cron_runtime import conf
from tests.cron_runtime.engines.celery.helpers import celery_env, flush
from tests.smtp import smtp_server  # noqa: F401 - the fixture, for the failing job's alert mail


@pytest.fixture
def broker_url(settings):
    """The tests' own Redis database on the machine's server, empty before and after the test.

    A file lock serialises these tests across pytest runs on one machine (two checkouts, or the
    SQLite and MariaDB legs at once): they would otherwise share that database and its queues.
    """
    url = conf.CELERY_BROKER_URL
    with open(f"/tmp/oms_test-celery-broker-{url.rsplit('/', 1)[-1]}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            flush(url)
        except redis.ConnectionError as exc:
            message = f"Redis is unreachable ({exc}): start it, e.g. as .ci/run does"
            if os.environ.get("CI"):  # CI starts Redis itself: unreachable there is a failure, never a skip
                pytest.fail(message)
            pytest.skip(message)
        yield url
        flush(url)


@pytest.fixture
def celery_env_for(subprocess_env, tmp_path, broker_url):
    """``celery_env_for("real", KEY=value, …)``: the environment of worker/beat children running a job set."""

    def make(jobs: str, *, broker: str | None = None, **extra: str) -> dict:
        return celery_env({**subprocess_env, "LOG_DIR": str(tmp_path / "logs")}, broker_url=broker or broker_url,
                          jobs=jobs, **extra)

    return make
