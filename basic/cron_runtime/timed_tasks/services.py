"""One-off timed tasks: schedule a function call at a time, cancel it, and the staff actions.

Business code calls ``timed_task_schedule`` / ``timed_task_cancel`` inside its own transaction,
so the task exists if and only if the business change committed; the ``timed_tasks`` job
(``dispatcher.timed_tasks_dispatch``) runs what is due. The rules (keys, refused input, racing
status changes): docs/timed_tasks.md ("Scheduling").
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from basic.cron_runtime.models import RunOutcome, RunTrigger, TimedTask, TimedTaskStatus
from basic.cron_runtime.scheduling.registry import import_callable, job_by_name

MAX_ARGUMENTS_BYTES = 64 * 1024
DEFAULT_MAX_ATTEMPTS = 3
# What the staff page's "run job X once at time T" schedules.
RUN_JOB_ONCE = "basic.cron_runtime.timed_tasks.services.run_job_once"


class RetryLater(Exception):
    """Raised by a task whose provider said "not now" (HTTP 429, a timeout, a connection refused).

    The attempt is retried after ``retry_after`` seconds (else the usual doubling backoff) and
    counts as a failure only when the task's attempts run out.
    """

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class TimedTaskRefused(ValueError):
    """The task cannot be scheduled as asked; nothing was written."""


class TimedTaskStateChanged(Exception):
    """The task is no longer in a state that allows this action (someone else got there first)."""


def _checked_arguments(func_path: str, args, kwargs) -> tuple[list, dict]:
    if not isinstance(func_path, str) or not func_path:
        raise TimedTaskRefused(f"the function must be a dotted path string, not {func_path!r}")
    try:
        import_callable(func_path)
    except (ImportError, AttributeError, TypeError, ValueError) as exc:
        raise TimedTaskRefused(f"function {func_path!r} cannot be called: {exc}") from None
    if not isinstance(args, (list, tuple)):
        raise TimedTaskRefused(f"args must be a list or tuple, not {type(args).__name__}")
    kwargs = {} if kwargs is None else kwargs
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        raise TimedTaskRefused("kwargs must be a dict with string keys")
    try:
        # allow_nan=False: NaN/Infinity are not JSON (MySQL's JSON check refuses them).
        encoded = json.dumps({"args": list(args), "kwargs": kwargs}, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TimedTaskRefused(f"args/kwargs must be plain JSON values (str, int, float, bool, None, "
                               f"lists, dicts): {exc}") from None
    size = len(encoded.encode("utf-8"))
    if size > MAX_ARGUMENTS_BYTES:
        raise TimedTaskRefused(f"args/kwargs are {size:,} bytes as JSON, over the {MAX_ARGUMENTS_BYTES:,}-byte limit: "
                               "store the data in a table and pass its id")
    return list(json.loads(encoded)["args"]), kwargs


def _checked_late_window(late_window) -> timedelta | None:
    if late_window is None:
        return None
    if isinstance(late_window, (int, float)) and not isinstance(late_window, bool):
        late_window = timedelta(seconds=late_window)
    if not isinstance(late_window, timedelta) or late_window < timedelta(0):
        raise TimedTaskRefused(f"late_window must be None or a timedelta ≥ 0, not {late_window!r}")
    return late_window


def timed_task_schedule(func_path: str, run_at: datetime, *, key: str | None = None, args=(), kwargs=None,
                        max_attempts: int = DEFAULT_MAX_ATTEMPTS, late_window: timedelta | None = None,
                        name: str = "", queue: str = "", again_if_done: bool = False) -> TimedTask:
    """Call ``func_path(*args, **kwargs)`` at ``run_at`` (aware); return the task.

    Runs in the caller's transaction (a savepoint of it): rolled back with it. With ``key``:
    a pending task of that key is moved to the new time and arguments; a done one is returned
    unchanged; any other (failed, cancelled, missed) is pending again from scratch.
    ``late_window``: how late after ``run_at`` it may still run (None: however late); past
    it the task is recorded as missed. ``queue``: a queue of TIMED_TASK_QUEUES is drained at
    its rate (any other name: no limit). ``again_if_done``: a done task of ``key`` runs once
    more (its stored result is cleared) instead of being returned unchanged.
    ``TimedTaskRefused`` on bad input, nothing written.
    """
    args, kwargs = _checked_arguments(func_path, args, kwargs)
    if not isinstance(run_at, datetime):
        raise TimedTaskRefused(f"run_at must be a datetime, not {type(run_at).__name__}")
    if timezone.is_naive(run_at):
        raise TimedTaskRefused(f"run_at {run_at.isoformat()} has no timezone: pass an aware datetime "
                               "(django.utils.timezone.now(), or make_aware(…) in TIME_ZONE)")
    late_window = _checked_late_window(late_window)
    if not isinstance(max_attempts, int) or max_attempts < 1:
        raise TimedTaskRefused(f"max_attempts must be a whole number ≥ 1, not {max_attempts!r}")
    if not isinstance(queue, str) or len(queue) > 50:
        raise TimedTaskRefused(f"queue must be a string of at most 50 characters, not {queue!r}")
    if key is not None and (not isinstance(key, str) or not key or len(key) > 200):
        raise TimedTaskRefused(f"key must be a non-empty string of at most 200 characters, not {key!r}")
    fields = {
        "func_path": func_path, "name": (name or func_path.rsplit(".", 1)[-1])[:200], "args": args, "kwargs": kwargs,
        "run_at": run_at, "next_attempt_at": run_at, "max_attempts": max_attempts, "late_window": late_window,
        "status": TimedTaskStatus.PENDING, "attempts": 0, "claimed_by": None, "lease_until": None, "finish_time": None,
        "queue": queue, "result": None,
    }
    if key is None:
        return TimedTask.objects.create(**fields)
    for _ in range(2):  # a second round only when a concurrent schedule of the same key won the INSERT
        with transaction.atomic():
            task = TimedTask.objects.select_for_update().filter(key=key).first()
            if task is not None:
                if task.status == TimedTaskStatus.DONE and not again_if_done:
                    return task
                # Moving a task a dispatcher holds drops its lease: that attempt's end no longer
                # applies, and the task runs (again) at the new time.
                for field, value in fields.items():
                    setattr(task, field, value)
                task.save()
                return task
            try:
                with transaction.atomic():
                    return TimedTask.objects.create(key=key, **fields)
            except IntegrityError:
                continue
    raise RuntimeError(f"timed task {key!r} kept changing while it was scheduled")


def timed_task_cancel(key: str) -> bool:
    """Cancel the pending task of ``key`` (in the caller's transaction). False if there is none pending."""
    return timed_tasks_cancel([key]) == 1


def timed_tasks_cancel(keys: Iterable[str]) -> int:
    """Cancel the pending tasks of these keys in one UPDATE (in the caller's transaction); how many were."""
    keys = list(keys)
    if not keys:
        return 0
    now = timezone.now()
    return TimedTask.objects.filter(key__in=keys, status=TimedTaskStatus.PENDING).update(
        status=TimedTaskStatus.CANCELLED, claimed_by=None, lease_until=None, finish_time=now, updated_time=now,
    )


def timed_tasks_cancel_joined(*, source: str, key: str, where: str, key_params=(), where_params=(), now=None) -> int:
    """Cancel, in one UPDATE, the pending tasks whose key is ``key`` (an SQL expression) over the rows
    of ``source`` (an SQL table expression, alias included) that match ``where``.

    For a caller whose keys come from rows it already holds (the timeout job's chunk of orders):
    the database builds the keys, so no row travels to Python and back. All SQL here is the
    caller's own, never user input. MySQL/MariaDB join the tables (the task found by its unique
    key for each source row; an ``IN (subquery)`` would scan every pending task there);
    elsewhere a plain ``IN (SELECT …)``. ``now``: the caller's moment (its job run's), else the clock.
    """
    now = connection.ops.adapt_datetimefield_value(now or timezone.now())
    qn = connection.ops.quote_name
    tasks, key_column = qn(TimedTask._meta.db_table), qn("key")
    cancelled, pending = int(TimedTaskStatus.CANCELLED), int(TimedTaskStatus.PENDING)
    with connection.cursor() as cursor:
        if connection.vendor == "mysql":
            cursor.execute(
                f"UPDATE {tasks} AS t JOIN {source} ON t.{key_column} = {key} SET t.status = %s, t.claimed_by = NULL, "
                f"t.lease_until = NULL, t.finish_time = %s, t.updated_time = %s WHERE t.status = %s AND {where}",
                [*key_params, cancelled, now, now, pending, *where_params],
            )
        else:
            cursor.execute(
                f"UPDATE {tasks} SET status = %s, claimed_by = NULL, lease_until = NULL, finish_time = %s, "
                f"updated_time = %s WHERE status = %s AND {key_column} IN (SELECT {key} FROM {source} WHERE {where})",
                [cancelled, now, now, pending, *key_params, *where_params],
            )
        return cursor.rowcount


def timed_task_cancel_pending(*, task_id: int) -> TimedTask:
    """Staff: cancel one pending task. ``TimedTaskStateChanged`` if it is no longer pending."""
    cancelled = TimedTask.objects.filter(pk=task_id, status=TimedTaskStatus.PENDING).update(
        status=TimedTaskStatus.CANCELLED, claimed_by=None, lease_until=None, finish_time=timezone.now(),
        updated_time=timezone.now(),
    )
    return _after_action(task_id, cancelled, "cancelled", "only a pending task can be cancelled")


def timed_task_retry(*, task_id: int) -> TimedTask:
    """Staff: run a failed task once more, now. ``TimedTaskStateChanged`` if it is no longer failed."""
    now = timezone.now()
    retried = TimedTask.objects.filter(pk=task_id, status=TimedTaskStatus.FAILED).update(
        status=TimedTaskStatus.PENDING, next_attempt_at=now, max_attempts=F("attempts") + 1, finish_time=None,
        updated_time=now,
    )
    return _after_action(task_id, retried, "retried", "only a failed task can be retried")


def _after_action(task_id: int, changed: int, action: str, rule: str) -> TimedTask:
    task = TimedTask.objects.filter(pk=task_id).first()
    if task is None:
        raise TimedTaskStateChanged(f"timed task #{task_id} no longer exists")
    if not changed:
        raise TimedTaskStateChanged(f"timed task #{task_id} is {task.get_status_display()} now, not {action}: {rule}")
    return task


def timed_task_run_job_once(*, job_name: str, run_at: datetime, requested_by: str = "") -> TimedTask:
    """Staff: run the CRONJOBS job ``job_name`` once at ``run_at``, through the runner (trigger ``timed``)."""
    job = job_by_name(job_name)  # UnknownJob for a name not in CRONJOBS
    who = f" (requested by {requested_by})" if requested_by else ""
    # One attempt: a run that fails is recorded by the runner like any other; staff may retry it.
    return timed_task_schedule(RUN_JOB_ONCE, run_at, args=[job.name], max_attempts=1,
                               name=f"run job {job.name} once{who}")


def run_job_once(job_name: str) -> str:
    """The timed task behind "run job X once at time T": a run through the runner, trigger ``timed``."""
    from basic.cron_runtime.running.runner import run_job  # the runner imports this module's callers; keep it late

    run = run_job(job_by_name(job_name), trigger=RunTrigger.TIMED)
    if run.outcome != RunOutcome.SUCCEEDED:
        raise RuntimeError(f"run #{run.pk} of {job_name} {run.outcome}: {run.message}")
    return f"run #{run.pk} of {job_name} succeeded"

