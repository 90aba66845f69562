"""Helpers of the timed-task tests: the call-count table, tasks in bulk, child dispatchers."""
from __future__ import annotations

import subprocess
from contextlib import contextmanager
from datetime import datetime

from django.db import connection
from django.utils import timezone

from basic.cron_runtime.models import TimedTask
from tests.helpers import PROJECT_DIR
from tests.cron_runtime.timed_tasks.funcs import CALLS_TABLE


@contextmanager
def call_table():
    """The test-only table ``record_call`` writes to, dropped afterwards (it is no model: flush would not empty it)."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {CALLS_TABLE}")
        cursor.execute(f"CREATE TABLE {CALLS_TABLE} (n INTEGER NOT NULL, pid INTEGER NOT NULL)")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {CALLS_TABLE}")


def calls() -> list[tuple[int, int]]:
    """(n, pid) of every recorded call."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT n, pid FROM {CALLS_TABLE}")
        return [(int(n), int(pid)) for n, pid in cursor.fetchall()]


def call_count() -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {CALLS_TABLE}")
        return int(cursor.fetchone()[0])


def make_due_tasks(count: int, *, run_at: datetime | None = None, func_path="tests.cron_runtime.timed_tasks.funcs.record_call",
                   extra_args=()) -> None:
    """``count`` pending tasks due now, calling ``func_path(n, *extra_args)`` for n = 0 … count-1 (bulk insert)."""
    run_at = run_at or timezone.now()
    TimedTask.objects.bulk_create(
        (TimedTask(func_path=func_path, name=f"call {n}", args=[n, *extra_args], run_at=run_at, next_attempt_at=run_at)
         for n in range(count)),
        batch_size=1000,
    )


def start_dispatcher(manage_py, env, *args) -> subprocess.Popen:
    return subprocess.Popen([*manage_py, "dispatch_timed_tasks", *args], env=env, cwd=PROJECT_DIR,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
