"""The timed-task dispatcher: claim what is due, call it, record what happened.

``timed_tasks_dispatch()`` is what the ``timed_tasks`` job runs (and ``manage.py
dispatch_timed_tasks``, to add dispatchers for a backlog): bounded chunks claimed under a
lease, so a task runs at least once and is never lost. docs/timed_tasks.md ("The dispatcher")
has the whole story: claim, call, record, the scan order, stops, logs. ``claim_chunk`` and
``run_chunk`` are its steps, which the rate-limited queues (queue_dispatch.py) take one task at a time.
"""
from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.db import transaction
from django.utils import timezone
from loguru import logger

from basic.cron_runtime import conf
from basic.cron_runtime.running.chunked_scan import chunks_with_final_sweep
from basic.cron_runtime.running.joblog import LineBatch
from basic.cron_runtime.models import TimedTask, TimedTaskStatus
from basic.cron_runtime.running.progress import report_progress
from basic.cron_runtime.scheduling.registry import import_callable
from basic.cron_runtime.running.result import JobReport
from basic.cron_runtime.running.stopping import uninterrupted
from basic.cron_runtime.timed_tasks.chunk_pipeline import ChunkPipeline
from basic.cron_runtime.timed_tasks.chunk_sql import CLAIM_COLUMNS, ClaimedTask, claimed_tasks, mark_claimed, mark_done
from basic.cron_runtime.timed_tasks.claim import TaskClaim, free_claims_of_gone_dispatchers
from basic.cron_runtime.timed_tasks.services import RetryLater

MAX_RETRY_DELAY = timedelta(hours=6)
MAX_RESULT_BYTES = 64 * 1024  # a task's stored return value, as JSON


def retry_delay(attempt: int) -> timedelta:
    """Wait before attempt ``attempt + 1``: TIMED_TASK_RETRY_DELAY, doubled each time, at most 6 h."""
    return min(timedelta(seconds=conf.TIMED_TASK_RETRY_DELAY * 2 ** max(attempt - 1, 0)), MAX_RETRY_DELAY)


@dataclass
class DispatchReport:
    done: int = 0
    retrying: int = 0
    failed: int = 0
    missed: int = 0
    lost: int = 0  # ran, but the task was cancelled, moved or re-leased meanwhile: its new state stands
    chunks: int = 0
    seconds: float = 0.0

    @property
    def tasks(self) -> int:
        return self.done + self.retrying + self.failed + self.missed + self.lost

    def summary(self) -> str:
        text = (f"timed tasks: {self.tasks} dispatched — {self.done} done, {self.retrying} to retry, "
                f"{self.failed} failed, {self.missed} missed")
        if self.lost:
            text += f", {self.lost} changed meanwhile (cancelled, moved or lease lost)"
        return text + f"; {self.chunks} chunks in {self.seconds:.2f} s"

    def job_report(self) -> JobReport:
        return JobReport(items_processed=self.tasks, message=self.summary())


def claim_chunk(*, claim: TaskClaim, now: datetime, size: int, start: datetime | None, queue: str | None = None,
                 skip_queues=()) -> tuple[list[ClaimedTask], datetime | None]:
    """Claim up to ``size`` due tasks, earliest first: of ``queue`` alone, or of every queue but ``skip_queues``.
    Returns them with the due time of the last one (where the next chunk's scan starts)."""
    claim.acquire()  # once, before the dispatch's first claim: a dispatch that finds nothing writes nothing
    started = timezone.now()
    until = started + claim.lease
    due = TimedTask.objects.filter(status=TimedTaskStatus.PENDING, next_attempt_at__lte=now).unheld(started)
    if queue is not None:
        due = due.filter(queue=queue)
    elif skip_queues:
        due = due.exclude(queue__in=list(skip_queues))
    if start is not None:
        due = due.filter(next_attempt_at__gte=start)
    with transaction.atomic():
        tasks, last_due = claimed_tasks(
            due.select_for_update(skip_locked=True).order_by("next_attempt_at", "id").values_list(*CLAIM_COLUMNS)[:size]
        )
        if tasks:
            mark_claimed([task.id for task in tasks], token=claim.token, until=until, started=started,
                         host=conf.HOSTNAME)
    return tasks, last_due


def _finish_done(*, claim: TaskClaim, ids: list[int], results: dict[int, object] | None = None) -> int:
    """Mark the tasks that ran done: one UPDATE for those that returned nothing, one each for a result."""
    if not ids:
        return 0
    now = timezone.now()
    results = results or {}
    plain = [task_id for task_id in ids if task_id not in results]
    marked = mark_done(plain, token=claim.token, now=now) if plain else 0
    for task_id, result in results.items():
        marked += mark_done([task_id], token=claim.token, now=now, result=result)
    return marked


def _storable_result(value) -> tuple[object, str | None]:
    """(the value to store, None) or (None, why it cannot be stored)."""
    try:
        encoded = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return None, f"its return value cannot be stored: not plain JSON ({exc})"
    size = len(encoded.encode("utf-8"))
    if size > MAX_RESULT_BYTES:
        return None, (f"its return value is {size:,} bytes as JSON, over the {MAX_RESULT_BYTES:,}-byte limit of a "
                      "stored result: store large data in a table and return its id")
    return json.loads(encoded), None


def _finish_missed(*, claim: TaskClaim, ids: list[int], now: datetime) -> int:
    if not ids:
        return 0
    return TimedTask.objects.filter(pk__in=ids, claimed_by=claim.token, status=TimedTaskStatus.PENDING).update(
        status=TimedTaskStatus.MISSED, finish_time=now, claimed_by=None, lease_until=None,
        last_error="missed: not run before the end of its late window", updated_time=now,
    )


def _finish_failure(*, claim: TaskClaim, task_id: int, attempt: int, max_attempts: int, error: str,
                    permanent: bool, retry_after: float | None = None) -> tuple[int, datetime | None]:
    """Record a failed attempt: retry later, or failed for good. Returns (rows changed, retry time or None)."""
    now = timezone.now()
    changes = {"attempts": attempt, "last_error": error, "claimed_by": None, "lease_until": None, "updated_time": now}
    retry_at = None
    if permanent or attempt >= max_attempts:
        # Failed for good: attempts cannot exceed max_attempts (a constraint), so a permanent
        # error before the last attempt uses them up.
        changes.update(status=TimedTaskStatus.FAILED, finish_time=now, attempts=max_attempts)
    else:
        retry_at = now + (timedelta(seconds=retry_after) if retry_after is not None else retry_delay(attempt))
        changes["next_attempt_at"] = retry_at
    changed = TimedTask.objects.filter(pk=task_id, claimed_by=claim.token, status=TimedTaskStatus.PENDING).update(
        **changes)
    return changed, retry_at


def _label(task: ClaimedTask) -> str:
    name, func_path = task.name, task.func_path
    return f"task #{task.id} {name}" + (f" ({func_path})" if name != func_path.rsplit(".", 1)[-1] else "")


@dataclass
class CalledChunk:
    """A chunk whose tasks were called: what is left to record (failures are recorded at once)."""
    done_ids: list[int]
    missed_ids: list[int]
    results: dict[int, object]
    counted_before: int  # the dispatch's tasks before this chunk


def run_chunk(rows: list[ClaimedTask], *, claim: TaskClaim, now: datetime, report: DispatchReport,
               functions: dict[str, Callable | Exception], commit_with: Callable[[], None] | None = None) -> None:
    """Call the chunk's tasks and record them. ``commit_with``: a write that commits together with the
    chunk's statuses (a rate-limited queue's grant release: one commit per task instead of two)."""
    called = call_chunk(rows, claim=claim, now=now, report=report, functions=functions)
    with uninterrupted():  # a stop waits for the chunk's statuses and its count
        count_chunk(called, record_chunk(called, claim=claim, now=now, commit_with=commit_with), report=report)


def call_chunk(rows: list[ClaimedTask], *, claim: TaskClaim, now: datetime, report: DispatchReport,
               functions: dict[str, Callable | Exception]) -> CalledChunk:
    """Call the chunk's tasks one by one and write their log lines. Stopped (SIGTERM, Ctrl-C) in the
    middle of a task, it records the tasks that already ran, so that they do not run again, and
    re-raises; the rest stay under this dispatcher's lease and run after it."""
    called = CalledChunk(done_ids=[], missed_ids=[], results={}, counted_before=report.tasks)
    done_lines = LineBatch()  # the common line, written once per chunk (see LineBatch)

    def log(level: str, message: str, *, exception: bool = False) -> None:
        done_lines.flush()  # keep the file in order
        logger.opt(exception=exception).log(level, message)

    try:
        _call_each(rows, claim=claim, now=now, report=report, functions=functions, log=log, done_lines=done_lines,
                   done_ids=called.done_ids, missed_ids=called.missed_ids, results=called.results)
    except BaseException:
        with contextlib.suppress(Exception), uninterrupted():
            done_lines.flush()
            report.done += _finish_done(claim=claim, ids=called.done_ids, results=called.results)
        raise
    done_lines.flush()
    return called


def record_chunk(called: CalledChunk, *, claim: TaskClaim, now: datetime,
                 commit_with: Callable[[], None] | None = None) -> tuple[int, int]:
    """Record the called chunk's missed and done tasks (with ``commit_with``'s write, in one transaction).
    Returns (missed, done) marked: a task cancelled, moved or re-leased meanwhile is not."""
    together = transaction.atomic() if commit_with else contextlib.nullcontext()
    with uninterrupted(), together:
        if commit_with:
            commit_with()
        missed = _finish_missed(claim=claim, ids=called.missed_ids, now=now)
        done = _finish_done(claim=claim, ids=called.done_ids, results=called.results)
    return missed, done


def count_chunk(called: CalledChunk, marked: tuple[int, int], *, report: DispatchReport) -> None:
    """Add a recorded chunk to the dispatch's counts and the run's progress."""
    missed, done = marked
    report.missed += missed
    report.lost += len(called.missed_ids) - missed
    report.done += done
    report_progress(chunks=1, items=report.tasks - called.counted_before)
    if done != len(called.done_ids):
        report.lost += len(called.done_ids) - done
        logger.warning(f"{len(called.done_ids) - done} tasks that ran were cancelled, moved or re-leased meanwhile; "
                       "their new state stands")


def _call_each(rows: list[ClaimedTask], *, claim: TaskClaim, now: datetime, report: DispatchReport,
               functions: dict[str, Callable | Exception], log: Callable, done_lines: LineBatch,
               done_ids: list[int], missed_ids: list[int], results: dict[int, object]) -> None:
    """Call the chunk's tasks one by one; failures are recorded at once, successes and misses collected."""
    for row in rows:
        task_id, func_path, _name, args, kwargs, run_at, late_window, attempts, max_attempts, held_by, host = row
        label = _label(row)
        if late_window is not None and now > run_at + late_window:
            missed_ids.append(task_id)
            log("WARNING", f"{label}: missed — due {timezone.localtime(run_at):%Y-%m-%d %H:%M:%S}, late window "
                           f"{late_window} ended before a dispatcher got to it; not run")
            continue
        if held_by is not None:
            log("WARNING", f"{label}: the dispatcher of its previous attempt ({host or 'unknown host'}) stopped before "
                           "it finished (killed?): its lease ran out or its process is gone; running it again")
        func = functions.get(func_path)
        if func is None:
            try:
                func = import_callable(func_path)
            except (ImportError, AttributeError, TypeError, ValueError) as exc:
                func = exc
            functions[func_path] = func
        attempt = attempts + 1
        clock = time.monotonic()
        retry_after = None
        if isinstance(func, Exception):
            error, permanent = f"function {func_path} cannot be imported: {type(func).__name__}: {func}", True
        else:
            try:
                value = func(*args, **kwargs)
            except RetryLater as exc:  # the provider said "not now": a retry, not a fault of the task
                error, permanent, retry_after = f"retry later: {exc}", False, exc.retry_after
            except Exception as exc:  # noqa: BLE001 — recorded for this task alone; the chunk goes on
                error, permanent = f"{type(exc).__name__}: {exc}", False
                log("DEBUG", f"{label}: traceback", exception=True)
            else:
                error = None
                if value is not None:
                    stored, error = _storable_result(value)
                    if error is None:
                        results[task_id] = stored
                permanent = True  # a result that cannot be stored would not fit on the next attempt either
            if error is None:
                done_ids.append(task_id)
                done_lines.add(f"{label}: done in {time.monotonic() - clock:.3f} s (attempt {attempt}/{max_attempts})")
                claim.renew_if_due()
                continue
        changed, retry_at = _finish_failure(claim=claim, task_id=task_id, attempt=attempt, max_attempts=max_attempts,
                                            error=error[:5000], permanent=permanent, retry_after=retry_after)
        if not changed:
            report.lost += 1
            log("WARNING", f"{label}: raised {error}; the task was changed meanwhile, its new state stands")
        elif retry_at is not None:
            report.retrying += 1
            log("WARNING", f"{label}: attempt {attempt}/{max_attempts} raised {error}; "
                           f"retry at {timezone.localtime(retry_at):%Y-%m-%d %H:%M:%S}")
        else:
            report.failed += 1
            log("ERROR", f"{label}: failed after attempt {attempt}/{max_attempts}: {error}")
        claim.renew_if_due()


def timed_tasks_dispatch(*, now: datetime | None = None, chunk_size: int | None = None,
                         lease_seconds: int | None = None, rate_limited_seconds: float | None = None,
                         log_idle: bool = True) -> DispatchReport:
    """Run every timed task due at ``now`` (default: the dispatch's start) and return the counts.

    Tasks that come due while it runs wait for the next dispatch, so a run always ends.
    Safe to run in several processes or hosts at once: they split the work. Rate-limited queues
    are drained afterwards, at their rate, for at most ``rate_limited_seconds`` (default: until
    55 s after the start, at least 5 s; queue_dispatch.py).
    """
    from basic.cron_runtime.timed_tasks.queue_dispatch import rate_limited_queues, rate_limited_drain

    clock = time.monotonic()
    now = now or timezone.now()
    size = chunk_size or conf.TIMED_TASKS_CHUNK_SIZE
    claim = TaskClaim(timedelta(seconds=lease_seconds or conf.TIMED_TASK_LEASE))
    report = DispatchReport()
    functions: dict[str, Callable | Exception] = {}  # each function imported once per dispatch
    report_progress(unit="tasks")  # a stopped run says how many chunks and tasks it finished
    limited = rate_limited_queues()
    freed = free_claims_of_gone_dispatchers()
    if freed:
        logger.warning(f"{freed} tasks held by a dispatcher whose process is gone on this host (killed?) are due "
                       "again at once")

    def take(start):
        tasks, last_due = claim_chunk(claim=claim, now=now, size=size, start=start, skip_queues=limited)
        return (tasks, last_due) if tasks else None

    with ChunkPipeline(take) as pipeline:
        recording: tuple[CalledChunk, Future] | None = None  # the previous chunk's, written while this one runs
        try:
            for rows in chunks_with_final_sweep(pipeline.take):
                report.chunks += 1
                called = call_chunk(rows, claim=claim, now=now, report=report, functions=functions)
                # A stop waits until the previous chunk is counted and this one's recording is held here.
                with uninterrupted():
                    if recording is not None:
                        count_chunk(recording[0], recording[1].result(), report=report)
                    recording = (called, pipeline.record(partial(record_chunk, called, claim=claim, now=now)))
        finally:
            if recording is not None:  # also when stopped: a recording under way is waited for and counted
                with uninterrupted():
                    count_chunk(recording[0], recording[1].result(), report=report)
    if limited:
        seconds = rate_limited_seconds
        if seconds is None:
            seconds = max(55 - (time.monotonic() - clock), 5)
        rate_limited_drain(limited, claim=claim, report=report, functions=functions, until=time.monotonic() + seconds)
    # Every claimed task is recorded. A dispatch stopped or failed before this point keeps its lease:
    # its remaining tasks are due again when it expires, or at once when this process is gone.
    claim.release()
    report.seconds = time.monotonic() - clock
    if report.tasks or log_idle:
        logger.info(report.summary())
    return report
