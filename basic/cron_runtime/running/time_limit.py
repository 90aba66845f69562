"""A job's time limit (its ``timeout`` option): a run past it is stopped like SIGTERM.

A watchdog thread waits out the limit, then stops the run through stopping.py's path: the job
stops at its next safe point (a chunk's ``uninterrupted()`` block finishes first; a call blocked
on a socket or a sleep is interrupted), the runner records it ``terminated`` ("time limit of 600 s
reached after 12 chunks"), releases the lease and alerts the admins once. Under every engine the
run is in a process's main thread: a crontab line, `cronjobs run` started by `serve`/`tick`, a
Celery prefork worker's child. A run that has still not stopped ``CRON_TIME_LIMIT_GRACE`` seconds
later (stuck in C code that ignores signals, or inside one endless ``uninterrupted()`` block) is
recorded and alerted by the watchdog itself, and its process killed (SIGKILL): a hung job never
holds its lease for good. Outside a main thread the signal cannot reach the run; the kill still does.
"""
from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager

from django.db import connection
from loguru import logger

from basic.cron_runtime import conf
from basic.cron_runtime.models import JobRun, RunOutcome
from basic.cron_runtime.running.stopping import arm_time_limit, disarm_time_limit, request_time_limit_stop


def limit_reached(timeout: int) -> str:
    return f"time limit of {timeout} s reached"


@contextmanager
def time_limit(*, timeout: int | None, run: JobRun, on_kill):
    """Stop the block's run after ``timeout`` seconds (None: no limit). ``on_kill(message)`` records the
    run and frees its lease when the run has not stopped a grace period later, just before the kill."""
    if not timeout:
        yield
        return
    done = threading.Event()
    previous = arm_time_limit()
    watchdog = threading.Thread(target=_watch, args=(timeout, done, run, on_kill, previous is not None), daemon=True,
                                name=f"time-limit-{run.job}")
    watchdog.start()
    try:
        yield
    finally:
        done.set()
        disarm_time_limit(previous)


def _watch(timeout: int, done: threading.Event, run: JobRun, on_kill, armed: bool) -> None:
    if done.wait(timeout):
        return
    reason = limit_reached(timeout)
    if armed:  # (unarmed, the signal would meet no handler of ours: its default action ends the process at once)
        request_time_limit_stop(reason)
    grace = conf.CRON_TIME_LIMIT_GRACE
    if done.wait(grace):
        return
    message = f"{reason}; did not stop within {grace} s more, its process (pid {os.getpid()}) killed"
    try:
        on_kill(message)
    except Exception:  # noqa: BLE001 — the kill must happen all the same; the lease then expires by itself
        logger.exception(f"{run.job}: could not record the time limit of run #{run.pk} before the kill")
    finally:
        connection.close()
    print(f"{run.job}: {message} (run #{run.pk})", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


def record_killed_run(run: JobRun, message: str) -> bool:
    """The watchdog's record of a run it is about to kill (its own connection): terminated, if still running."""
    return bool(JobRun.objects.filter(pk=run.pk, outcome=RunOutcome.RUNNING).update(
        outcome=RunOutcome.TERMINATED, message=message, finished_at=_now()))


def _now():
    from django.utils import timezone

    return timezone.now()
