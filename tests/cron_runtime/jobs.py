"""Job functions for the runner's tests (named in TEST_CRONJOBS, run in-process and by cron)."""
from __future__ import annotations

import os
import time

from loguru import logger

from basic.cron_runtime.scheduling.registry import HEARTBEAT_FUNCTION
from basic.cron_runtime.running.result import JobFailed, JobReport

# The every-minute ones are what the real cron daemon fires in the end-to-end test; the
# others have a yearly schedule so that cron (and catch-up) never starts them by itself.
TEST_CRONJOBS = [
    ("* * * * *", "tests.cron_runtime.jobs.noop"),
    ("0 0 1 1 *", "tests.cron_runtime.jobs.failing"),
    ("0 0 1 1 *", "tests.cron_runtime.jobs.partly_failing"),
    ("0 0 1 1 *", "tests.cron_runtime.jobs.slow"),
    ("* * * * *", HEARTBEAT_FUNCTION),
]
TEST_CRONJOB_NAMES = {HEARTBEAT_FUNCTION: "heartbeat", "tests.cron_runtime.jobs.noop": "test_noop"}


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
    time.sleep(pause)  # the renewals (every CRON_LOCK_TTL / 3) find the token gone
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

    from basic.cron_runtime.running.progress import report_progress
    from basic.cron_runtime.running.stopping import uninterrupted
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


def hangs_on_a_socket() -> None:
    """Blocks reading a socket nobody writes to (a dead SMTP or database peer): only its time limit ends it."""
    import socket

    from basic.cron_runtime.running.progress import report_progress

    report_progress(chunks=12, items=12_000, unit="orders")
    ours, _peer = socket.socketpair()
    ours.recv(1)


def stuck_where_no_signal_reaches() -> None:
    """Ignores its time limit: sleeps inside one endless uninterrupted() block, so only the kill ends it."""
    from basic.cron_runtime.running.stopping import uninterrupted

    with uninterrupted():
        while True:
            time.sleep(0.1)


def fails_until_marker(marker: str = "") -> JobReport:
    """Fails while the file OMS_TEST_FAIL_MARKER exists (the database restarting, say), then succeeds."""
    path = os.environ.get("OMS_TEST_FAIL_MARKER", marker)
    if path and os.path.exists(path):
        raise RuntimeError("database restarting")
    return JobReport(items_processed=1, message="finance month recorded")


def records_its_slot() -> JobReport:
    """Appends its run's slot to OMS_TEST_SLOT_FILE with start and end times (order and overlap are checked)."""
    from basic.cron_runtime.running.runner import current_run

    run = current_run()
    start = time.time()
    time.sleep(0.2)
    with open(os.environ["OMS_TEST_SLOT_FILE"], "a") as out:
        out.write(f"{run.slot.isoformat()} {start} {time.time()}\n")
    return JobReport(items_processed=1)


def records_beats() -> int:
    """An interval job's call: appends ``<pid> <wall-clock time>`` to TEST_BEATS_FILE, then stays busy for
    TEST_BEAT_BUSY_SECONDS (default 0; longer than the interval, it makes the next beats find it running)."""
    with open(os.environ["TEST_BEATS_FILE"], "a") as beats:
        beats.write(f"{os.getpid()} {time.time():.6f}\n")
    time.sleep(float(os.environ.get("TEST_BEAT_BUSY_SECONDS", "0")))
    return 1
