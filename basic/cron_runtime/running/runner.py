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

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from loguru import logger

from basic.cron_runtime import conf
from basic.cron_runtime.running.alerts import job_alert_after_run
from basic.cron_runtime.running.beats import BeatLoop, take_over_lease
from basic.cron_runtime.running.faults import environment_fault, shown_path
from basic.cron_runtime.running.joblog import job_log, job_log_path
from basic.cron_runtime.running.lease import JobLease
from basic.cron_runtime.models import JobLock, JobRun, RunOutcome, RunTrigger
from basic.cron_runtime.scheduling.pausing import job_pause_state, pause_in_force_sql
from basic.cron_runtime.running.progress import RunProgress, tracking_progress
from basic.cron_runtime.scheduling.registry import Job
from basic.cron_runtime.running.result import JobFailed, read_result
from basic.cron_runtime.scheduling.schedule import is_due
from basic.cron_runtime.running.stopping import Stopped, install_stop_handlers, stop_requested, uninterrupted
from basic.cron_runtime.scheduling.ticks import as_slot, slot_label
from basic.cron_runtime.running.time_limit import record_killed_run, time_limit
from basic.cron_runtime.running.transactions import TransactionRetriesExhausted, atomic_with_retry, with_retries
from basic.cron_runtime.sql_names import column, table

# The triggers of runs an engine started on its own, which a pause holds back (pausing.py). A
# person's Run now / `cronjobs run` (manual) and a staff member's timed "run once" still run it.
PAUSABLE_TRIGGERS = frozenset({RunTrigger.CRON, RunTrigger.TICKER, RunTrigger.CELERY, RunTrigger.CATCH_UP,
                               RunTrigger.RETRY})

# Databases where a statement refused by a constraint is undone alone and the transaction goes on
# (InnoDB's duplicate-key error, SQLite's default ABORT): the slot claim needs no savepoint there,
# which saved two round trips a run. Elsewhere (PostgreSQL aborts the transaction) it takes one.
STATEMENT_ROLLBACK_VENDORS = frozenset({"mysql", "sqlite"})

_current_run: ContextVar[JobRun | None] = ContextVar("current_run", default=None)


def current_run() -> JobRun | None:
    """The run whose job function is being called in this thread, or None outside the runner."""
    return _current_run.get()


def run_job(job: Job, *, trigger: str, slot: datetime | None = None, triggered_by=None, dry_run: bool = False,
            tick: datetime | None = None, attempt: int = 1) -> JobRun | None:
    """Run ``job`` now through the runner and return its (saved) run record.

    - ``trigger``: a ``RunTrigger`` value; ``triggered_by``: the staff user.
    - ``slot``: the minute a schedule asked for (stored in UTC); one run per (job, slot), claimed
      only once the lease is held; a second start of the slot is recorded as skipped.
    - ``tick``: the minute cron fired in; when the schedule is not due then, returns None and
      records nothing. ``dry_run``: import the function and look at the lock, call nothing.
    - ``attempt``: > 1 for a retry of the slot (trigger retry): one run per (job, slot, attempt),
      refused when an attempt of the slot succeeded or the previous one did not fail.
    - A paused job (pausing.py) started by an engine returns None and records nothing; a manual run
      of it runs, with a warning in its log.

    The outcome is succeeded, failed or skipped; SIGTERM / Ctrl-C record it as terminated and raise
    ``Stopped``. The whole story (slot and lease, stops, unwritable logs, sys.exit): docs/cron.md
    ("What run_job does").
    """
    if tick is not None and not is_due(job.schedule, tick):
        return None
    slot = as_slot(slot) if slot is not None else None
    if dry_run:
        return None if _paused_now(job, trigger) else _dry_run(job, trigger, slot)
    run = lease = None
    with tracking_progress() as progress:
        try:
            def start() -> bool | None:
                nonlocal run, lease
                if lease is not None:  # an attempt that lost a lock race rolled back: its lease does not exist
                    lease.forget()
                progress.started_at = timezone.now()  # the run's one moment: the job reads it with run_now()
                run = _record_start(job, trigger=trigger, started_at=progress.started_at, triggered_by=triggered_by,
                                    slot=slot, attempt=attempt)
                lease = JobLease(job.name, run)
                awaits = _start_or_skip(job, run, lease, trigger=trigger, slot=slot, attempt=attempt)
                if awaits is None:  # paused: the record and the lease roll back, as if never started
                    transaction.set_rollback(True)
                return awaits

            committed = False
            try:
                # A stop never falls between the record, the lease, the slot and a skip; and they are one
                # transaction: one commit (a redo-log flush) where each statement used to have its own.
                # Retried whole after a deadlock: starts racing to create a new job's lock row meet one.
                with uninterrupted():
                    awaits_handover = atomic_with_retry(start, what=f"{job.name}: starting its run")
                    committed = awaits_handover is not None
            except BaseException:
                if not committed:  # rolled back: neither the record nor the lease exists
                    if lease is not None:
                        lease.forget()
                    run = lease = None
                raise
            if not committed:  # a paused job, started by an engine: nothing recorded
                lease.forget()
                return None
            if awaits_handover:  # outside any transaction: the wait lasts up to the rest of the minute
                if take_over_lease(lease, slot):
                    with uninterrupted(), transaction.atomic():
                        if (paused := _paused_now(job, trigger)) is not None:  # paused during the wait
                            _skip(run, f"not started: {paused.describe()}", lease)
                        else:
                            _start_under_lease(job, run, lease, trigger=trigger, slot=slot, attempt=attempt)
                else:
                    with uninterrupted():
                        _skip(run, f"skipped: {lease.holder_description()}")
            if run.outcome == RunOutcome.RUNNING:
                # An interval job's time limit bounds each call (beats.py), not its minute's run.
                with time_limit(timeout=None if _beats(job, run) else job.options.timeout, run=run,
                                on_kill=lambda message: _record_kill(run, lease, message)):
                    _call_with_log(job, run, lease, progress)
            with uninterrupted():
                lease.release()
                if lease.closed_abandoned is not None:  # the previous run died: a failure too (alerted first)
                    alert_admins(lease.closed_abandoned)
                if run.outcome != RunOutcome.SKIPPED:
                    alert_admins(run)
        except BaseException as exc:
            stop = _as_stop(exc)
            if stop is None:  # a fault of the runner's own bookkeeping (the database, say): record what we can
                _close_after_error(run, lease, exc)
                raise
            stop.line = _record_stop(job, run, lease, stop, progress)
            if stop is exc:
                raise
            raise stop from exc
    return run


def _beats(job: Job, run: JobRun) -> bool:
    """An interval job's scheduled run calls it on its grid for a minute; a run without a slot (Run now,
    `cronjobs run NAME`, a timed run) calls it once."""
    return job.interval is not None and run.slot is not None


def _paused_now(job: Job, trigger: str):
    """The job's pause when ``trigger`` is an engine's (a pause holds it back), else None."""
    return job_pause_state(job.name) if trigger in PAUSABLE_TRIGGERS else None


def _record_start(job: Job, *, trigger: str, started_at: datetime, triggered_by, slot: datetime | None,
                  attempt: int) -> JobRun:
    """The run's record, with its slot already claimed where that is safe to do in the INSERT (one
    statement less than claiming it after the lease): a first attempt of a slot, not an interval job's
    (its lease may have to be handed over first), on a database that undoes a refused statement alone."""
    fields = dict(job=job.name, trigger=trigger, host=conf.HOSTNAME, pid=os.getpid(), started_at=started_at,
                  triggered_by=triggered_by, attempt=attempt)
    if slot is not None and attempt == 1 and job.interval is None and connection.vendor in STATEMENT_ROLLBACK_VENDORS:
        try:
            return JobRun.objects.create(**fields, slot=slot)
        except IntegrityError:  # the slot is taken: recorded without it, then skipped under the lease as before
            transaction.set_rollback(False)  # only the refused INSERT was undone (STATEMENT_ROLLBACK_VENDORS)
    return JobRun.objects.create(**fields)


def _start_or_skip(job: Job, run: JobRun, lease: JobLease, *, trigger: str, slot: datetime | None,
                   attempt: int) -> bool | None:
    """Take the lease and the slot for ``run``, or record it as skipped and say why. True: an interval
    job's slot whose lease the previous minute's run still holds; it hands the lease over between two
    calls, and the caller waits for that outside this transaction (beats.take_over_lease).

    None: the job is paused and an engine started it; the caller rolls the start back. The pause is
    read in the lease's UPDATE, and again when that UPDATE took nothing: a pause that committed before
    it is always seen (READ COMMITTED, and SQLite's one writer), so no run starts after a pause's commit."""
    pausable = trigger in PAUSABLE_TRIGGERS
    acquired = lease.acquire(unless=pause_in_force_sql(job.name, run.started_at) if pausable else None)
    if not acquired and _paused_now(job, trigger) is not None:
        return None
    if not acquired:
        if run.slot is not None:  # claimed in the INSERT: the slot stays open (for catch-up, or the holder's handover)
            _write_slot(run, None)
            run.slot = None
        if job.interval and slot is not None:
            return True
        left_open = (f"; slot {slot_label(slot)} left open for catch-up"
                     if slot and job.options.catch_up != "none" else "")
        _skip(run, f"skipped: {lease.holder_description()}{left_open}")
        return False
    _start_under_lease(job, run, lease, trigger=trigger, slot=slot, attempt=attempt)
    return False


def _start_under_lease(job: Job, run: JobRun, lease: JobLease, *, trigger: str, slot: datetime | None,
                       attempt: int) -> None:
    """With the lease held (and the job not paused): skip, giving the lease back, when refused as a retry
    or the slot is taken."""
    if slot is not None and attempt > 1 and (refusal := _retry_refusal(job, slot, attempt)):
        _skip(run, refusal, lease)
    elif slot is not None and run.slot is None and not _claim_slot(run, slot):
        _skip(run, f"already ran for slot {slot_label(slot)}{_slot_holder(job, slot)}", lease)


def _skip(run: JobRun, message: str, lease: JobLease | None = None) -> None:
    """Record the run as skipped (and give back the lease it took, in the same transaction)."""
    _finish(run, RunOutcome.SKIPPED, message=message, lease=lease)
    print(f"{run.job}: {run.message}", file=sys.stderr)


def _claim_slot(run: JobRun, slot: datetime) -> bool:
    """Write the slot on our run; False when another run of the job has it for this attempt (the unique constraint)."""
    try:
        if connection.vendor in STATEMENT_ROLLBACK_VENDORS:
            _write_slot(run, slot)
        else:
            with transaction.atomic():  # a savepoint: the refused UPDATE leaves the run's transaction usable
                _write_slot(run, slot)
    except IntegrityError:
        return False
    run.slot = slot
    return True


def _write_slot(run: JobRun, slot: datetime | None) -> None:
    """The claim's UPDATE (or its undoing) through the cursor: QuerySet.update() would mark the caller's
    transaction for rollback when the constraint refuses it, and the start must go on to record its skip."""
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table(JobRun)} SET {column(JobRun, 'slot')} = %s WHERE {column(JobRun, 'pk')} = %s",
                       [connection.ops.adapt_datetimefield_value(slot), run.pk])


def _slot_holder(job: Job, slot: datetime) -> str:
    holder = JobRun.objects.filter(job=job.name, slot=slot).order_by("-attempt").first()
    return f" (run #{holder.pk} on {holder.host}, {holder.outcome})" if holder else ""


def _retry_refusal(job: Job, slot: datetime, attempt: int) -> str | None:
    """Why attempt ``attempt`` at ``slot`` must not run (checked under the lease), or None."""
    runs = JobRun.objects.filter(job=job.name, slot=slot)
    done = runs.filter(outcome=RunOutcome.SUCCEEDED).first()
    if done is not None:
        return f"slot {slot_label(slot)} already succeeded (run #{done.pk}, attempt {done.attempt}): no retry"
    if not runs.filter(attempt=attempt - 1, outcome=RunOutcome.FAILED).exists():
        return f"slot {slot_label(slot)} has no failed attempt {attempt - 1} to retry"
    if attempt > job.options.attempts:
        return f"slot {slot_label(slot)}: attempt {attempt} is past the job's {job.options.attempts}"
    return None


def _record_kill(run: JobRun, lease: JobLease, message: str) -> None:
    """The time-limit watchdog is about to kill this process: the run is terminated, its lease freed, admins told."""
    if record_killed_run(run, message):
        run.refresh_from_db()
        lease.release()
        alert_admins(run)


def _call_with_log(job: Job, run: JobRun, lease: JobLease, progress: RunProgress) -> None:
    try:
        with job_log(job.name) as log, logger.contextualize(job=job.name):
            _call_and_record(job, run, lease, log, progress)
    except OSError as exc:
        if run.outcome != RunOutcome.RUNNING:
            raise
        # The log could not be opened, so the job did not start: a failure the sysadmin must hear of.
        _finish(run, RunOutcome.FAILED, message=f"cannot write {shown_path(exc.filename or '?')}: "
                                                f"{exc.strerror or exc}", lease=lease)


def _as_stop(exc: BaseException) -> Stopped | None:
    """The stop behind ``exc``: a Stopped, Ctrl-C without our handler, or any error after a stop signal
    (a query or COMMIT cut short by the signal fails on its broken connection instead)."""
    if isinstance(exc, Stopped):
        return exc
    if isinstance(exc, KeyboardInterrupt):
        return Stopped(signal.SIGINT, anywhere=True)
    requested = stop_requested()
    return None if requested is None else Stopped(requested, anywhere=True)


def _record_stop(job: Job, run: JobRun | None, lease: JobLease | None, stop: Stopped, progress: RunProgress) -> str:
    """Record the stop and release the lease, on a fresh connection when need be; the process's one line."""
    if run is None:
        what = f"{stop.cause} before its run was recorded"
    elif run.outcome == RunOutcome.RUNNING:
        what = f"{stop.cause} after {progress.describe()}"
    else:  # recorded already (the stop came while releasing the lease or alerting)
        what = f"{run.outcome} (run #{run.pk}, {run.items_processed:,} items), then stopped by {stop.signal_name}"
    if stop.anywhere:
        _drop_connection()  # the signal may have cut a query or a COMMIT in half: never reuse that connection

    def record() -> None:
        if run is not None and run.outcome == RunOutcome.RUNNING:
            _finish(run, RunOutcome.TERMINATED, items=progress.items, message=what, lease=lease)
        if lease is not None:
            lease.release()
        if stop.time_limit and run is not None and run.outcome == RunOutcome.TERMINATED:
            alert_admins(run)  # a time limit reached is news to the admins; a sysadmin's SIGTERM is not

    failure = None
    try:
        # Any error: the database is gone or the connection broken; tried once more on a fresh one.
        with_retries(record, what=f"{job.name}: recording the stop", attempts=2, retry_if=lambda exc: True,
                     before_retry=lambda exc: _drop_connection(), pause=lambda attempt: 0,
                     log_retries=False)  # the process's one line below says what could not be recorded
    except TransactionRetriesExhausted as exhausted:
        failure = exhausted.last
    if failure is not None:
        fault = environment_fault(failure) or f"{type(failure).__name__}: {failure}"
        return (f"{job.name}: {what}; could not record it ({fault.split(' — ')[0]}): the lease expires within "
                f"{conf.CRON_LOCK_TTL} s and the heartbeat then marks the run failed (docs/cron.md)")
    held = lease is not None and lease.released
    return f"{job.name}: {what}; {'lease released' if held else 'no lease was held'}"


def _close_after_error(run: JobRun | None, lease: JobLease | None, exc: BaseException) -> None:
    """A fault outside the job (bookkeeping): record it if the database still answers; the error goes on."""
    try:
        if run is not None and run.outcome == RunOutcome.RUNNING:
            _finish(run, RunOutcome.FAILED, message=f"interrupted by {type(exc).__name__}: {exc}",
                    tb=traceback.format_exc())
        if lease is not None:
            lease.release()
    except Exception:  # noqa: BLE001 — the database is the fault: the lease expires, the heartbeat closes the run
        _drop_connection()


def _drop_connection() -> None:
    """Forget this thread's database connection; the next query opens a new one.

    Not inside a caller's transaction (a test, or run_job called within atomic()): that
    connection is the caller's to keep or drop."""
    if connection.in_atomic_block:
        return
    try:
        connection.close()
    except Exception:  # noqa: BLE001, S110 — a broken socket may fail to close; it is dropped all the same
        pass


def alert_admins(run: JobRun) -> None:
    """Mail ADMINS when the job starts failing or recovers (once per change of state).

    Called after the lease is released: a slow SMTP server must not hold the job's lock,
    and a problem with the alert (mail or database) must never turn a run into a failure.
    """
    try:
        job_alert_after_run(run)
    except Exception:  # noqa: BLE001 — any alert failure is logged; the run's outcome stands
        logger.exception(f"could not process the failure alert for {run.job} run #{run.pk}")


def _call_and_record(job: Job, run: JobRun, lease: JobLease, log, progress: RunProgress) -> None:
    # f-strings, not loguru's "{}" arguments: a message with braces in it must not be formatted.
    slot = f", slot {slot_label(run.slot)}" if run.slot else ""
    if run.attempt > 1:
        slot += f", attempt {run.attempt} of {job.options.attempts}"
    log.info(f"start {job.func_path} (run #{run.pk}, trigger {run.trigger}{slot}, {run.host} pid {run.pid})")
    if run.trigger not in PAUSABLE_TRIGGERS and (paused := job_pause_state(job.name)) is not None:
        log.warning(f"run by hand while paused — {paused.describe()}")
    clock = time.monotonic()

    def log_end(run: JobRun) -> None:
        # Written before the record and the lease's release (one transaction): one writer per log file.
        log.info(f"end: {run.outcome}, {run.items_processed} items, {time.monotonic() - clock:.3f} s"
                 + (f" — {run.message}" if run.message else ""))

    token = _current_run.set(run)
    try:
        function = job.import_function()
        if _beats(job, run):
            result = BeatLoop(job, run, lambda: function(*job.args, **job.kwargs), log=log, progress=progress,
                              on_kill=lambda message: _record_kill(run, lease, message)).run_beats()
        else:
            result = function(*job.args, **job.kwargs)
    except BaseException as exc:
        stop = _as_stop(exc)
        if stop is not None:
            log.warning(f"{stop.cause} after {progress.describe()}, {time.monotonic() - clock:.3f} s")
            if stop is exc:
                raise
            raise stop from exc
        _record_failure(run, lease, log, exc, announce=log_end if isinstance(exc, Exception) else None)
        if isinstance(exc, SystemExit) and exc.code in (0, None):
            # The job called sys.exit(0) instead of returning: recorded as failed, so the exit code must not say 0.
            raise SystemExit(1) from exc
        if not isinstance(exc, Exception):
            raise
    else:
        items, message = read_result(result)
        _finish(run, RunOutcome.SUCCEEDED, items=items, message=message, lease=lease, announce=log_end)
    finally:
        _current_run.reset(token)


def _record_failure(run: JobRun, lease: JobLease, log, exc: BaseException, announce=None) -> None:
    if isinstance(exc, JobFailed):
        log.opt(exception=True).error(f"job failed: {exc}")
        _finish(run, RunOutcome.FAILED, items=exc.items_processed, message=str(exc), tb=traceback.format_exc(),
                lease=lease, announce=announce)
    elif isinstance(exc, Exception):
        log.exception(f"job raised {type(exc).__name__}")
        _finish(run, RunOutcome.FAILED, message=f"{type(exc).__name__}: {exc}", tb=traceback.format_exc(), lease=lease,
                announce=announce)
    else:  # SystemExit: the job called sys.exit()
        log.opt(exception=True).error(f"job interrupted by {type(exc).__name__}")
        _finish(run, RunOutcome.FAILED, message=f"interrupted by {type(exc).__name__}", tb=traceback.format_exc(),
                lease=lease)


def _finish(run: JobRun, outcome: str, *, items: int = 0, message: str = "", tb: str = "",
            lease: JobLease | None = None, announce=None) -> None:
    """Record the run's end and give back ``lease`` (if held) in one transaction: one commit for both.
    ``announce(run)``: called with the record filled in, just before it is written (the log's end line)."""
    if lease is not None and lease.lost:
        message += (" (warning: the lock was taken over during this run — it stopped renewing for longer "
                    "than CRON_LOCK_TTL, so another run may have overlapped)")
    previous = run.outcome
    run.outcome, run.items_processed, run.message, run.traceback = outcome, items, message.strip(), tb
    run.finished_at = timezone.now()
    saved = False
    try:
        if announce is not None:
            announce(run)
        fields = ["outcome", "items_processed", "message", "traceback", "finished_at"]
        if lease is None:
            def save_and_release() -> None:
                run.save(update_fields=fields)
        else:
            def save_and_release() -> None:
                lease.release_saving(run, fields)

        with uninterrupted():  # a stop waits for the save: written whole or not at all
            atomic_with_retry(save_and_release, what=f"{run.job}: recording run #{run.pk}",
                              one_statement=lease is None or lease.one_statement())
        saved = True
    finally:
        if not saved:  # run.outcome keeps saying what the database holds (a stop then records it afresh)
            run.outcome = previous
            if lease is not None and lease.released:  # rolled back with the record: the lease is still ours
                lease.acquired, lease.released = True, False


def _dry_run(job: Job, trigger: str, slot: datetime | None) -> JobRun:
    """What run_job would do, without calling the function or writing anything."""
    job.import_function()  # let ImportError/AttributeError reach the caller: that is the answer
    lock = JobLock.objects.filter(job=job.name).first()
    if lock and lock.held_at(timezone.now()):
        lock_state = f"the lock is held ({lock.host} pid {lock.pid}): a run now would be skipped"
    else:
        lock_state = "the lock is free"
    if slot is not None and JobRun.objects.filter(job=job.name, slot=slot).exists():
        lock_state += f"; slot {slot_label(slot)} already ran{_slot_holder(job, slot)}: a run now would be skipped"
    call = f"{job.func_path}(*{list(job.args)!r}, **{job.kwargs!r})"
    return JobRun(job=job.name, trigger=trigger, host=conf.HOSTNAME, pid=os.getpid(),
                  started_at=timezone.now(), outcome=RunOutcome.SKIPPED,
                  message=f"dry run: would call {call}; {lock_state}; nothing recorded")


def summary(run: JobRun) -> str:
    """One line for the command's output: name, outcome, run id, items, duration, message, where the log is."""
    duration = f", {run.duration.total_seconds():.2f} s" if run.duration else ""
    text = f"{run.job}: {run.outcome} (run #{run.pk}, {run.items_processed} items{duration})"
    if run.message:
        text += f" — {run.message}"
    if run.outcome == RunOutcome.FAILED and run.traceback:
        text += f"; traceback in {shown_path(job_log_path(run.job))}"
    return text


def exit_on_sigterm() -> None:
    """SIGTERM and Ctrl-C stop runs in order from now on, for the rest of the process (stopping.py).

    The runtime's commands already do this (command.RuntimeCommand); other entry points that
    run jobs in their main thread call it once."""
    install_stop_handlers()
