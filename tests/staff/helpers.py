"""Helpers of the staff console tests: users' passwords, run records."""
from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from basic.cron_runtime.models import JobRun, RunOutcome, RunTrigger

STAFF_PASSWORD = "staff-pass-123"
CUSTOMER_PASSWORD = "customer-pass-123"


def create_run(job: str, outcome: str, *, minutes_ago: float = 1, seconds: float = 2, items: int = 0,
             message: str = "", traceback: str = "", trigger: str = RunTrigger.CRON,
             slot: datetime | None = None) -> JobRun:
    started = timezone.now() - timedelta(minutes=minutes_ago)
    finished = None if outcome == RunOutcome.RUNNING else started + timedelta(seconds=seconds)
    return JobRun.objects.create(
        job=job, trigger=trigger, host="web1", pid=4242, started_at=started, finished_at=finished,
        outcome=outcome, items_processed=items, message=message, traceback=traceback, slot=slot,
    )
