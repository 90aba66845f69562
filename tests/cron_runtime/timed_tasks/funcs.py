"""Functions the timed-task tests schedule (imported by the dispatcher, in-process or in a child process).

``record_call`` counts every call in the test-only table ``timed_test_calls`` (made by
``helpers.call_table``): a task called twice shows up twice.
"""
from __future__ import annotations

import os
import time

from django.db import connection

CALLS_TABLE = "timed_test_calls"


def record_call(n: int, sleep: float = 0.0) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {CALLS_TABLE} (n, pid) VALUES (%s, %s)", [n, os.getpid()])
    if sleep:
        time.sleep(sleep)


def fail(message: str = "boom") -> None:
    raise ValueError(message)


def noop(*args, **kwargs) -> None:
    return None


not_callable = 42
