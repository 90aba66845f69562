"""Job functions for the runner's tests (named in TEST_CRONJOBS, run in-process and by cron)."""
from __future__ import annotations

import os
import time

from loguru import logger

from basic.cron_runtime.result import JobFailed, JobReport

# The every-minute ones are what the real cron daemon fires in the end-to-end test; the
# others have a yearly schedule so that cron (and catch-up) never starts them by itself.
TEST_CRONJOBS = [
    ("* * * * *", "tests.cron_runtime.jobs.noop"),
    ("0 0 1 1 *", "tests.cron_runtime.jobs.failing"),
    ("0 0 1 1 *", "tests.cron_runtime.jobs.partly_failing"),
    ("0 0 1 1 *", "tests.cron_runtime.jobs.slow"),
    ("* * * * *", "basic.cron.heartbeat"),
]
TEST_CRONJOB_NAMES = {"basic.cron.heartbeat": "heartbeat", "tests.cron_runtime.jobs.noop": "test_noop"}


def noop(token: str = "") -> JobReport:
    logger.info("noop job says hello {}", token)
    return JobReport(items_processed=1, message=f"did nothing {token}".strip())


def failing(token: str = "") -> None:
    raise RuntimeError(f"boom {token}".strip())


def partly_failing() -> None:
    raise JobFailed("3 of 10 mails could not be sent", items_processed=7)


def returns_count() -> int:
    return 42


def returns_none() -> None:
    logger.info("nothing to report")


def steals_its_lock(pause: float = 2.5) -> int:
    """Another run takes this job's lease over while this one still works (a frozen process, say)."""
    from basic.cron_runtime.models import JobLock

    JobLock.objects.filter(job="steals_its_lock").update(token="thief", host="web-9", pid=99)
    time.sleep(pause)  # the renewer (every CRON_LOCK_TTL / 3) finds the token gone
    return 1


def slow(seconds: float | None = None) -> JobReport:
    """Sleeps (TEST_SLOW_JOB_SECONDS, default 4 s) so that a second run meets the lock."""
    seconds = float(seconds if seconds is not None else os.environ.get("TEST_SLOW_JOB_SECONDS", "4"))
    logger.info("slow job sleeping {} s", seconds)
    time.sleep(seconds)
    return JobReport(items_processed=1, message=f"slept {seconds} s")


def interrupted() -> None:
    raise KeyboardInterrupt


def exits(code=0) -> None:
    """A job that calls sys.exit() itself (a script turned into a job, say)."""
    raise SystemExit(code)


def chunked(chunks: int = 10_000, pause: float = 0.02) -> JobReport:
    """Works in chunks, each a transaction (a row per chunk) reported when committed, as cancel_timeouts does."""
    from django.db import transaction

    from basic.cron_runtime.progress import report_progress
    from basic.cron_runtime.stopping import uninterrupted
    from basic.cron_runtime.models import JobAlertState

    for number in range(chunks):
        with uninterrupted():
            with transaction.atomic():
                JobAlertState.objects.create(job=f"chunk-{number}")
                time.sleep(pause)
            report_progress(chunks=1, items=10, unit="rows")
    return JobReport(items_processed=10 * chunks)


def waits_in_a_query(seconds: float = 60) -> None:
    """Blocks inside the database driver (MySQL SLEEP): a signal then cuts a query in half."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT SLEEP(%s)", [seconds])
