"""Job functions and job sets for the Celery engine's tests (TEST_CELERY_JOBS picks a set)."""
from __future__ import annotations

import os
import time
from pathlib import Path

from loguru import logger

from basic.cron_runtime.scheduling.registry import HEARTBEAT_FUNCTION
from basic.cron_runtime.running.result import JobReport

JOB_SETS = {
    # the real jobs, ticked every minute by beat
    "real": [("* * * * *", HEARTBEAT_FUNCTION), ("* * * * *", "order.cron.cancel_timeouts")],
    # a job that fails, due every minute
    "failing": [("* * * * *", "tests.cron_runtime.engines.celery.jobs.failing")],
    # a slow job on even minutes, the heartbeat every minute
    "slow": [("*/2 * * * *", "tests.cron_runtime.engines.celery.jobs.slow"), ("* * * * *", HEARTBEAT_FUNCTION)],
    # a job that does nothing (the benchmark's, and the Redis-outage test's)
    "noop": [("* * * * *", "tests.cron_runtime.engines.celery.jobs.noop"), ("* * * * *", HEARTBEAT_FUNCTION)],
    # a job blocked on a socket, stopped by its time limit (worker_settings: timeout 2 s)
    "hung": [("* * * * *", "tests.cron_runtime.jobs.hangs_on_a_socket"), ("* * * * *", HEARTBEAT_FUNCTION)],
    # an interval job: its run calls every second for the rest of its minute (TEST_BEATS_FILE)
    "interval": [("every 1s", "tests.cron_runtime.jobs.records_beats")],
}
JOB_NAMES = {
    HEARTBEAT_FUNCTION: "heartbeat",
    "order.cron.cancel_timeouts": "cancel_timeouts",
    "tests.cron_runtime.engines.celery.jobs.failing": "celery_failing",
    "tests.cron_runtime.engines.celery.jobs.slow": "celery_slow",
    "tests.cron_runtime.engines.celery.jobs.noop": "celery_noop",
}


def jobs(selection: str) -> list[tuple]:
    return [entry for name in selection.split(",") for entry in JOB_SETS[name]]


def failing() -> None:
    raise RuntimeError("the mail server said no")


def slow() -> JobReport:
    """Sleeps while the file named by TEST_SLOW_JOB_FLAG exists (the test removes it to let it end)."""
    flag = os.environ.get("TEST_SLOW_JOB_FLAG")
    logger.info("slow job started")
    deadline = time.monotonic() + 120
    while flag and Path(flag).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return JobReport(items_processed=1, message="slow job done")


def noop() -> JobReport:
    return JobReport(items_processed=1, message="nothing to do")
