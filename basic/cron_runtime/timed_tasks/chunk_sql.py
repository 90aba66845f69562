"""The dispatcher's per-chunk SQL, written for a chunk of hundreds of tasks at a time.

The ORM costs more per task than a no-op task itself (docs/timed_tasks.md, "Benchmark"): its
converters decode every column of every claimed row (aware datetimes, JSON) and an
``UPDATE … WHERE id IN (500 ids)`` builds and escapes a parameter per id. Here the claimed rows
come back with only what a call needs decoded, and the chunk's UPDATEs are text with the ids as
integer literals, in a form SQLite and MySQL/MariaDB both accept.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from django.db import connections
from django.db.models import QuerySet

from basic.cron_runtime.models import TimedTask, TimedTaskStatus

# What a dispatcher reads of each task it claims; next_attempt_at last: where the next chunk's scan starts.
CLAIM_COLUMNS = ("id", "func_path", "name", "args", "kwargs", "run_at", "late_window", "attempts", "max_attempts",
                 "claimed_by", "host", "next_attempt_at")


class ClaimedTask(NamedTuple):
    id: int
    func_path: str
    name: str
    args: list
    kwargs: dict
    run_at: datetime | None  # read only for a task with a late window (the only one that needs it)
    late_window: timedelta | None
    attempts: int
    max_attempts: int
    held_by: str | None  # the claim of its previous attempt, if that dispatcher stopped before recording it
    host: str


def claimed_tasks(locking_select: QuerySet) -> tuple[list[ClaimedTask], datetime | None]:
    """Run ``locking_select`` (a ``values_list(*CLAIM_COLUMNS)`` query) and return its tasks with the
    due time of the last one (None when there is none).

    The rows are read through the cursor and decoded column by column with the ORM's own
    converters, for the columns a call needs: the arguments of every task, the due time and late
    window of a task that has one, the due time of the last row alone.
    """
    compiler = locking_select.query.get_compiler(using=locking_select.db)
    sql, params = compiler.as_sql()
    connection = compiler.connection
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not rows:
        return [], None
    converters = compiler.get_converters([column for column, _sql, _alias in compiler.select])

    def decoder(name: str):
        position = CLAIM_COLUMNS.index(name)
        steps, expression = converters.get(position, ((), None))

        def decode(value):
            for step in steps:
                value = step(value, expression, connection)
            return value
        return decode

    args, kwargs, run_at, late_window = decoder("args"), decoder("kwargs"), decoder("run_at"), decoder("late_window")
    tasks = []
    for task_id, func_path, name, raw_args, raw_kwargs, raw_run_at, raw_window, attempts, max_attempts, held_by, \
            host, _due in rows:
        window = None if raw_window is None else late_window(raw_window)
        tasks.append(ClaimedTask(task_id, func_path, name, args(raw_args), kwargs(raw_kwargs),
                                 None if window is None else run_at(raw_run_at), window, attempts, max_attempts,
                                 held_by, host))
    return tasks, decoder("next_attempt_at")(rows[-1][-1])


def _sql_ids(ids) -> str:
    """``"3,5,8"`` for ``IN (…)``: integer literals only (``int()`` refuses anything else)."""
    return ",".join(str(int(task_id)) for task_id in ids)


def _table(connection) -> str:
    """The tasks' table, reached by primary key on MySQL: on a small or freshly changed table the
    optimizer may scan the due index instead, and lock (and wait on) tasks another dispatcher holds."""
    table = connection.ops.quote_name(TimedTask._meta.db_table)
    return f"{table} FORCE INDEX (PRIMARY)" if connection.vendor == "mysql" else table


def mark_claimed(ids: list[int], *, token: str, until: datetime, started: datetime, host: str,
                 using: str = "default") -> int:
    """Put the tasks ``ids`` (locked by the caller's transaction) under the claim ``token`` until ``until``.

    Only columns that no index carries change: moving the due column as well (to hide a held task
    from the due index) would rewrite two index entries per task, which cost MariaDB as much as
    the rest of the claim and the outcome together (docs/timed_tasks.md, "Benchmark")."""
    connection = connections[using]
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_table(connection)} SET claimed_by = %s, lease_until = %s, "
            f"executed_time = %s, host = %s, updated_time = %s WHERE id IN ({_sql_ids(ids)})",
            [token, adapt(until), adapt(started), host, adapt(started)],
        )
        return cursor.rowcount


def mark_done(ids: list[int], *, token: str, now: datetime, result=None, using: str = "default") -> int:
    """Record the tasks ``ids`` done, those still pending under ``token`` (a task cancelled, moved or
    re-leased meanwhile keeps its new state), with ``result`` stored when it is not None (encoded by
    the model field, as the ORM would). Returns how many were."""
    connection = connections[using]
    adapt = connection.ops.adapt_datetimefield_value
    stored, values = "", []
    if result is not None:
        stored = "result = %s, "
        values = [TimedTask._meta.get_field("result").get_db_prep_save(result, connection)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_table(connection)} SET {stored}status = %s, attempts = attempts + 1, finish_time = %s, "
            f"claimed_by = NULL, lease_until = NULL, last_error = '', updated_time = %s "
            f"WHERE id IN ({_sql_ids(ids)}) AND claimed_by = %s AND status = %s",
            [*values, int(TimedTaskStatus.DONE), adapt(now), adapt(now), token, int(TimedTaskStatus.PENDING)],
        )
        return cursor.rowcount
