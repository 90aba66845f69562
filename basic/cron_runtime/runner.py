"""The one runner every job goes through, whoever starts it (cron, `cronjobs run`, a test, Celery).

``run_job(job, trigger=...)`` records a JobRun, takes the job's lease (lock.py), writes the
job's log ``logs/crontab/<job>.log`` (only while holding the lease: one writer per file),
calls the function and records what happened. Callers turn ``run.outcome == "failed"`` into
a non-zero exit. The function's return value is read as follows: a ``JobReport``; an int
(items processed); None. ``JobFailed`` fails the run but keeps its items and message; any
other exception fails it with the traceback.
"""
from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from contextvars import ContextVar
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from loguru import logger

from basic.cron_runtime.alerts import job_alert_after_run
from basic.cron_runtime.joblog import job_log, job_log_path
from basic.cron_runtime.lock import JobLease
from basic.cron_runtime.models import JobLock, JobRun, RunOutcome
from basic.cron_runtime.registry import Job
from basic.cron_runtime.result import JobFailed, JobReport
from basic.cron_runtime.schedule import is_due
from basic.cron_runtime.ticks import as_slot, slot_label


_current_run: ContextVar[JobRun | None] = ContextVar("current_run", default=None)


def current_run() -> JobRun | None:
    """The run whose job function is being called in this thread, or None outside the runner."""
    return _current_run.get()


def run_job(job: Job, *, trigger: str, slot: datetime | None = None, triggered_by=None, dry_run: bool = False,
            tick: datetime | None = None) -> JobRun | None:
    """Run ``job`` now through the runner and return its (saved) run record.

    - ``trigger``: a ``RunTrigger`` value; ``triggered_by``: the staff user.
    - ``slot``: the minute a schedule asked for this run (any timezone; stored in UTC). The
      database allows one run per (job, slot): a second start of the slot — another host, a
      duplicated crontab line, two engines, a retry — is recorded as skipped ("already ran for
      slot …") and returns normally. Without a slot (a manual run) nothing is ever refused for one.
    - ``tick``: the minute cron fired in. When given and the schedule is not due then in
      TIME_ZONE (a widened crontab line, see schedule.installed_schedule), nothing happens
      and None is returned: no run record, no log line.
    - ``dry_run``: import the function and look at the lock, but call nothing and record
      nothing; returns an unsaved JobRun whose message says what would happen.
    - The run's outcome is succeeded, failed, or skipped (another run holds the lock, or the slot
      already ran; the reason goes to stderr, not to the job's log, which has one writer).
    - KeyboardInterrupt/SystemExit during the job are recorded as failed, then re-raised.

    The slot is claimed only once the lease is held. A start that finds the lease taken (the
    previous slot's run is still going) records a skip without the slot, so the slot stays open
    and is caught up (ticks.catch_up_slots) once the lease is free — it is never used up by a run
    that did not run. A start that holds the lease but finds the slot taken gives the lease back.
    """
    if tick is not None and not is_due(job.schedule, tick):
        return None
    slot = as_slot(slot) if slot is not None else None
    if dry_run:
        return _dry_run(job, trigger, slot)
    run = JobRun.objects.create(
        job=job.name, trigger=trigger, host=settings.HOSTNAME, pid=os.getpid(),
        started_at=timezone.now(), triggered_by=triggered_by,
    )
    lease = JobLease(job.name, run)
    try:
        if not lease.acquire():
            left_open = f"; slot {slot_label(slot)} left open for catch-up" if slot else ""
            _skip(run, f"skipped: {lease.holder_description()}{left_open}")
        elif slot is not None and not _claim_slot(run, slot):
            _skip(run, f"already ran for slot {slot_label(slot)}{_slot_holder(job, slot)}")
        else:
            with job_log(job.name) as log, logger.contextualize(job=job.name):
                _call_and_record(job, run, lease, log)
    except BaseException as exc:  # SIGTERM/Ctrl-C outside the job call itself (taking the lock, opening the log)
        if run.outcome == RunOutcome.RUNNING:
            _finish(run, RunOutcome.FAILED, message=f"interrupted by {type(exc).__name__}", tb=traceback.format_exc())
        raise
    finally:
        lease.release()
    if lease.closed_abandoned is not None:  # the previous run died: that was a failure too (alerted first)
        alert_admins(lease.closed_abandoned)
    if run.outcome != RunOutcome.SKIPPED:
        alert_admins(run)
    return run


def _skip(run: JobRun, message: str) -> None:
    _finish(run, RunOutcome.SKIPPED, message=message)
    print(f"{run.job}: {run.message}", file=sys.stderr)


def _claim_slot(run: JobRun, slot: datetime) -> bool:
    """Write the slot on our run; False when another run of the job has it (the unique constraint)."""
    try:
        with transaction.atomic():  # a savepoint: the refused UPDATE leaves any outer transaction usable
            JobRun.objects.filter(pk=run.pk).update(slot=slot)
    except IntegrityError:
        return False
    run.slot = slot
    return True


def _slot_holder(job: Job, slot: datetime) -> str:
    holder = JobRun.objects.filter(job=job.name, slot=slot).first()
    return f" (run #{holder.pk} on {holder.host}, {holder.outcome})" if holder else ""


def alert_admins(run: JobRun) -> None:
    """Mail ADMINS when the job starts failing or recovers (once per change of state).

    Called after the lease is released: a slow SMTP server must not hold the job's lock,
    and a problem with the alert (mail or database) must never turn a run into a failure.
    """
    try:
        job_alert_after_run(run)
    except Exception:  # noqa: BLE001 — any alert failure is logged; the run's outcome stands
        logger.exception(f"could not process the failure alert for {run.job} run #{run.pk}")


def _call_and_record(job: Job, run: JobRun, lease: JobLease, log) -> None:
    # f-strings, not loguru's "{}" arguments: a message with braces in it must not be formatted.
    slot = f", slot {slot_label(run.slot)}" if run.slot else ""
    log.info(f"start {job.func_path} (run #{run.pk}, trigger {run.trigger}{slot}, {run.host} pid {run.pid})")
    clock = time.monotonic()
    token = _current_run.set(run)
    try:
        result = job.import_function()(*job.args, **job.kwargs)
    except JobFailed as exc:
        log.opt(exception=True).error(f"job failed: {exc}")
        _finish(run, RunOutcome.FAILED, items=exc.items_processed, message=str(exc),
                tb=traceback.format_exc(), lease=lease)
    except Exception as exc:
        log.exception(f"job raised {type(exc).__name__}")
        _finish(run, RunOutcome.FAILED, message=f"{type(exc).__name__}: {exc}", tb=traceback.format_exc(),
                lease=lease)
    except BaseException as exc:  # KeyboardInterrupt, SystemExit (SIGTERM): record, then let it stop us
        log.opt(exception=True).error(f"job interrupted by {type(exc).__name__}")
        _finish(run, RunOutcome.FAILED, message=f"interrupted by {type(exc).__name__}", tb=traceback.format_exc(),
                lease=lease)
        if isinstance(exc, SystemExit) and exc.code in (0, None):
            # The job called sys.exit(0) instead of returning: recorded as failed, so the exit code must not say 0.
            raise SystemExit(1) from exc
        raise
    else:
        items, message = _read_result(result)
        _finish(run, RunOutcome.SUCCEEDED, items=items, message=message, lease=lease)
    finally:
        _current_run.reset(token)
        log.info(f"end: {run.outcome}, {run.items_processed} items, {time.monotonic() - clock:.3f} s"
                 + (f" — {run.message}" if run.message else ""))


def _read_result(result) -> tuple[int, str]:
    if isinstance(result, JobReport):
        return max(0, result.items_processed), result.message
    if isinstance(result, int) and not isinstance(result, bool):
        return max(0, result), ""
    if result is None:
        return 0, ""
    return 0, str(result)[:2000]


def _finish(run: JobRun, outcome: str, *, items: int = 0, message: str = "", tb: str = "",
            lease: JobLease | None = None) -> None:
    if lease is not None and lease.lost:
        message += (" (warning: the lock was taken over during this run — it stopped renewing for longer "
                    "than CRON_LOCK_TTL, so another run may have overlapped)")
    run.outcome, run.items_processed, run.message, run.traceback = outcome, items, message.strip(), tb
    run.finished_at = timezone.now()
    run.save(update_fields=["outcome", "items_processed", "message", "traceback", "finished_at"])


def _dry_run(job: Job, trigger: str, slot: datetime | None) -> JobRun:
    """What run_job would do, without calling the function or writing anything."""
    job.import_function()  # let ImportError/AttributeError reach the caller: that is the answer
    lock = JobLock.objects.filter(job=job.name).first()
    if lock and lock.token and lock.expires_at and lock.expires_at >= timezone.now():
        lock_state = f"the lock is held ({lock.host} pid {lock.pid}): a run now would be skipped"
    else:
        lock_state = "the lock is free"
    if slot is not None and JobRun.objects.filter(job=job.name, slot=slot).exists():
        lock_state += f"; slot {slot_label(slot)} already ran{_slot_holder(job, slot)}: a run now would be skipped"
    call = f"{job.func_path}(*{list(job.args)!r}, **{job.kwargs!r})"
    return JobRun(job=job.name, trigger=trigger, host=settings.HOSTNAME, pid=os.getpid(),
                  started_at=timezone.now(), outcome=RunOutcome.SKIPPED,
                  message=f"dry run: would call {call}; {lock_state}; nothing recorded")


def summary(run: JobRun) -> str:
    """One line for the command's output: name, outcome, run id, items, duration, message, where the log is."""
    duration = f", {run.duration.total_seconds():.2f} s" if run.duration else ""
    text = f"{run.job}: {run.outcome} (run #{run.pk}, {run.items_processed} items{duration})"
    if run.message:
        text += f" — {run.message}"
    if run.outcome == RunOutcome.FAILED:
        text += f"; traceback in {job_log_path(run.job)}"
    return text


def exit_on_sigterm() -> None:
    """Turn SIGTERM (kill, systemd stop, container shutdown) into SystemExit, so the run is recorded
    as failed and its lock released instead of vanishing. Main thread only, hence not in run_job."""

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
