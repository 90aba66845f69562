"""Celery tasks of the runtime (SCHEDULER=celery): the minute's tick, and one job run per due slot.

Beat sends ``tick(minute)`` once a minute. The tick asks ``slots_due(minute)`` — the question
`cronjobs tick` answers — and sends one ``run_slot`` per due slot to the job's queue (but one it
runs itself, see ``tick``); a worker runs it through the runner (trigger ``celery``, or
``catch-up`` for a missed slot). Receiving either task twice (two beats, a redelivered message)
is harmless: the database allows one run per (job, slot) and records a second start as skipped.
Nothing is sent with an eta/countdown.
"""
from __future__ import annotations

from datetime import datetime

from celery import shared_task
from django.utils import timezone

from basic.cron_runtime.scheduling.engine import RUN_TASK, TICK_TASK, job_queue
from basic.cron_runtime.models import RunOutcome, RunTrigger
from basic.cron_runtime.scheduling.registry import job_by_name
from basic.cron_runtime.running.runner import run_job, summary
from basic.cron_runtime.running.stopping import Stopped
from basic.cron_runtime.scheduling.ticks import DueSlot, as_slot, slot_label, slots_due

# A run message not started within a minute of being sent (no worker consumed its queue) is
# dropped rather than replayed in a burst later: every tick asks slots_due again, and its
# catch-up policy decides what a missed slot needs, as under cron.
RUN_EXPIRES_SECONDS = 60


class JobRunFailed(Exception):
    """The run is recorded as failed: its task ends in state FAILURE.

    Declared in ``throws``: the worker logs one line, not a traceback (that is in the run
    record and the job's log).
    """


@shared_task(name=TICK_TASK, bind=True, ignore_result=True, throws=(JobRunFailed,))
def tick(self, minute: str) -> str:
    """Start one run per slot due at ``minute`` (ISO 8601 with its offset, as beat's tick_minute() writes it).

    Beat's ticks expire before the next minute (the entry's ``expires``); a tick sent by hand
    for another minute (tests, the benchmark) replays that minute, like `cronjobs tick --at`.

    In a worker, the tick runs one of the due runs itself, after sending the others: the first
    one (with no backlog) on a queue this worker consumes. That run is spared a second trip
    through the broker; like a run_slot task, it fails the task when it fails. Never an interval
    job's run: it lasts the whole minute, and would hold the tick's process for it.
    """
    at = as_slot(datetime.fromisoformat(minute))
    due = slots_due(at, now=timezone.now(), trigger=RunTrigger.CELERY)
    here = next((slot for slot in due if not slot.backlog and slot.job.interval is None
                 and _consumed_here(self, job_queue(slot.job))), None)
    sent = [send_run(slot) for slot in due if slot is not here]
    if here is not None:
        sent.append(f"{here} run here: " + run_slots(here.job.name, [here.slot.isoformat()], str(here.trigger),
                                                       attempt=here.attempt))
    return f"tick {slot_label(at)}: " + (", ".join(sent) if sent else "nothing due")


def _consumed_here(task, queue: str) -> bool:
    """Is ``task`` running in a worker that consumes ``queue``? Never when called in-process (tests, a shell)."""
    return not task.request.called_directly and queue in task.app.amqp.queues.consume_from


def send_run(due: DueSlot) -> str:
    """One run_slot message to the job's queue, to start at once (never an eta or countdown)."""
    queue = job_queue(due.job)
    run_slot.apply_async((due.job.name, due.slot.isoformat(), str(due.trigger)), queue=queue,
                         kwargs={"attempt": due.attempt, "backlog": [slot.isoformat() for slot in due.backlog]},
                         expires=RUN_EXPIRES_SECONDS)
    return f"{due} → {queue}"


@shared_task(name=RUN_TASK, ignore_result=True, throws=(JobRunFailed,))
def run_slot(job_name: str, slot: str, trigger: str, attempt: int = 1, backlog: list[str] | None = None) -> str:
    """Run one job for one slot through the runner (trigger celery, catch-up or retry); a failed run fails
    the task. ``backlog``: further slots (catch_up="all") run after it, in order, one at a time.

    A run stopped by its time limit (time_limit.py) fails the task too, with the run's one line; the
    worker process goes on serving."""
    return run_slots(job_name, [slot, *(backlog or [])], trigger, attempt=attempt)


def run_slots(job_name: str, slots: list[str], trigger: str, *, attempt: int = 1) -> str:
    """The runs of one task: ``slots`` of one job, in order, the first with ``attempt``; their summaries."""
    job = job_by_name(job_name)
    lines = []
    for number, moment in enumerate(slots):
        try:
            run = run_job(job, trigger=trigger, slot=datetime.fromisoformat(moment), attempt=attempt if number == 0 else 1)
        except Stopped as stop:
            if stop.time_limit:
                raise JobRunFailed(stop.line) from None
            raise
        if run is None:
            lines.append(f"{job_name}: not started for {moment} (paused, or not due)")
            break
        if run.outcome == RunOutcome.FAILED:
            raise JobRunFailed("; ".join([*lines, summary(run)]))
        lines.append(summary(run))
    return "; ".join(lines)
