"""Draining rate-limited queues: one grant, one task, one call, earliest due first.

For a queue with a rate (TIMED_TASK_QUEUES) a dispatcher never claims a chunk: it takes a grant
from the queue's shared limiter (queue_rates.py) and claims the queue's earliest due task in
the same transaction, then calls it at once and tells the limiter when the call ended.
Every dispatcher (process, host, engine) takes its grants from the same log, so together they
never exceed the rate, and a backlog drains at that rate in due order. A dispatcher killed
after its claim loses nothing: the task's lease runs out and another runs it (its slot stays
taken until then, so a kill slows the queue, never speeds it up). docs/timed_tasks.md ("Queues and rates").
"""
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from basic.cron_runtime.timed_tasks.claim import TaskClaim
from basic.cron_runtime.timed_tasks.dispatcher import DispatchReport, claim_chunk, run_chunk
from basic.cron_runtime.models import TimedTask, TimedTaskStatus
from basic.cron_runtime.timed_tasks.queue_rates import database_grant, grant_release, queue_rates, redis_grant, uses_redis
from basic.cron_runtime.timed_tasks.rate_spec import QueueRate
from basic.cron_runtime.scheduling.registry import import_callable

MAX_WAIT = 1.0  # seconds between looks at a queue that had nothing due or no grant free


def rate_limited_queues() -> tuple[str, ...]:
    return tuple(queue_rates())


def _grant_and_claim(queue: str, rate: QueueRate, *, claim: TaskClaim, now: datetime) -> tuple[float | None, list, str]:
    """(0, [row], token) when a task was claimed under a grant; (wait, [], "") when no slot is free;
    (None, [], "") when nothing is due."""
    due = TimedTask.objects.filter(queue=queue, status=TimedTaskStatus.PENDING, next_attempt_at__lte=now)
    if not due.unheld(timezone.now()).exists():
        return None, [], ""
    hold = claim.lease.total_seconds()  # a call never outlives its lease: a killed dispatcher's slot frees then
    claim.acquire()  # before the grant's transaction, which a lost race rolls back
    if uses_redis():
        wait, token = redis_grant(queue, rate, hold=hold)
        if token is None:
            return wait, [], ""
        rows, _last_due = claim_chunk(claim=claim, now=now, size=1, start=None, queue=queue)
        if not rows:
            grant_release(queue, token)  # another dispatcher took it; the slot frees a period from now
            return None, [], ""
        return 0.0, rows, token
    with transaction.atomic():
        wait, token = database_grant(queue, rate, hold=hold)
        if token is None:
            return wait, [], ""
        rows, _last_due = claim_chunk(claim=claim, now=now, size=1, start=None, queue=queue)
        if not rows:
            transaction.set_rollback(True)  # another dispatcher took it: the grant is given back
            return None, [], ""
    return 0.0, rows, token


def _import_ahead(queues: list[str], functions: dict[str, Callable | Exception]) -> None:
    """Import the queues' functions before the first grant: an import after it would delay the call
    it paid for, and the provider would see two calls closer together than the rate allows."""
    paths = (TimedTask.objects.filter(queue__in=queues, status=TimedTaskStatus.PENDING)
             .values_list("func_path", flat=True).distinct().order_by()[:100])
    for path in paths:
        if path not in functions:
            try:
                functions[path] = import_callable(path)
            except (ImportError, AttributeError, TypeError, ValueError) as exc:
                functions[path] = exc


def rate_limited_drain(queues: tuple[str, ...], *, claim: TaskClaim, report: DispatchReport,
                       functions: dict[str, Callable | Exception], until: float) -> None:
    """Call the due tasks of ``queues`` at their rates until none is due or ``until`` (monotonic) has come.

    Each look takes the time afresh, so a task that comes due while a backlog drains (a
    customer's "query now") joins it in due order instead of waiting for the next dispatch.
    """
    rates = queue_rates()
    active = [queue for queue in queues if queue in rates]
    _import_ahead(active, functions)
    while active and time.monotonic() < until:
        waits = []
        for queue in list(active):
            now = timezone.now()
            wait, rows, token = _grant_and_claim(queue, rates[queue], claim=claim, now=now)
            if rows:
                report.chunks += 1
                released = []

                def release(queue=queue, token=token, released=released):
                    grant_release(queue, token)
                    released.append(True)

                try:
                    # The database limiter's release commits with the task's status (one commit, not two).
                    run_chunk(rows, claim=claim, now=now, report=report, functions=functions,
                               commit_with=None if uses_redis() else release)
                finally:
                    if not released:
                        grant_release(queue, token)
            elif wait is None:
                active.remove(queue)
            else:
                waits.append(wait)
        if active and len(waits) == len(active):  # no queue made progress: sleep until a grant is free
            time.sleep(max(0.0, min(min(waits), MAX_WAIT, until - time.monotonic())))
