"""Retries of a failed slot (a job's ``retries`` and ``retry_delay`` options).

When the latest slot of a job failed and it has attempts left, it is tried again after
``retry_delay`` seconds, doubled after each further failure: a run of the same slot with trigger
``retry`` and the next attempt number. The tick path hands the retry out like a catch-up slot
(``ticks.catch_up_slots``), so every engine starts it, one minute's resolution. The runner then
guarantees the rest under the job's lease: one run per (job, slot, attempt), never two at once,
never an attempt after one of the slot succeeded (runner.py). Only ``failed`` runs are retried: a
run stopped by a sysadmin (SIGTERM) or by its time limit is not (a hung job would hang again).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from basic.cron_runtime.models import JobRun, RunOutcome
from basic.cron_runtime.scheduling.registry import Job


def retry_due(job: Job, now: datetime, *, not_before: datetime | None = None) -> tuple[datetime, int] | None:
    """(slot, attempt) of the retry ``job`` is owed at ``now``, or None.

    Only the job's latest slot is retried (a later slot's run covers the job's backlog), and not a
    slot before ``not_before`` (the end of a pause: its slots are not made up)."""
    if job.options.retries <= 0:
        return None
    latest = (JobRun.objects.filter(job=job.name, slot__isnull=False).exclude(outcome=RunOutcome.SKIPPED)
              .order_by("-slot", "-attempt").first())
    if latest is None or latest.outcome != RunOutcome.FAILED or latest.attempt >= job.options.attempts:
        return None
    if not_before is not None and latest.slot < not_before:
        return None
    ended = latest.finished_at or latest.started_at
    if now < ended + timedelta(seconds=job.options.retry_after(latest.attempt)):
        return None
    return latest.slot, latest.attempt + 1


def attempt_label(job: Job, attempt: int) -> str:
    return f"attempt {attempt} of {job.options.attempts}"
