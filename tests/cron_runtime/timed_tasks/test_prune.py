"""Finished timed tasks are pruned by the heartbeat after TIMED_TASK_RETENTION_DAYS; pending ones never."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from basic.cron_runtime.observability.housekeeping import cron_housekeeping, prune_finished_timed_tasks
from basic.cron_runtime.models import TimedTask, TimedTaskStatus

pytestmark = pytest.mark.django_db


def _task(name, status, *, days_ago: float, finished_days_ago: float | None = None):
    now = timezone.now()
    run_at = now - timedelta(days=days_ago)
    finished = None if status == TimedTaskStatus.PENDING else now - timedelta(
        days=days_ago if finished_days_ago is None else finished_days_ago)
    return TimedTask.objects.create(func_path="tests.cron_runtime.timed_tasks.funcs.record_call", name=name, run_at=run_at,
                                    next_attempt_at=run_at, status=status, finish_time=finished)


def test_finished_tasks_past_the_retention_are_pruned_pending_ones_never(settings):
    settings.TIMED_TASK_RETENTION_DAYS = 30
    for status in (TimedTaskStatus.DONE, TimedTaskStatus.FAILED, TimedTaskStatus.CANCELLED, TimedTaskStatus.MISSED):
        _task(f"old {status.label}", status, days_ago=40)
    _task("recent done", TimedTaskStatus.DONE, days_ago=5)
    _task("due long ago, retried until yesterday", TimedTaskStatus.FAILED, days_ago=45, finished_days_ago=1)
    _task("overdue and still pending", TimedTaskStatus.PENDING, days_ago=60)

    assert prune_finished_timed_tasks() == 4
    assert sorted(TimedTask.objects.values_list("name", flat=True)) == [
        "due long ago, retried until yesterday", "overdue and still pending", "recent done"]

    settings.TIMED_TASK_RETENTION_DAYS = 2
    assert prune_finished_timed_tasks() == 1  # the retention is a setting
    assert prune_finished_timed_tasks() == 0


def test_the_heartbeat_prunes_and_says_so(settings):
    settings.CRONJOBS = []  # no job to catch up: the heartbeat starts no process here
    settings.TIMED_TASK_RETENTION_DAYS = 30
    _task("old done", TimedTaskStatus.DONE, days_ago=31)

    assert "pruned 1 finished timed tasks" in cron_housekeeping().message
    assert not TimedTask.objects.exists()
