"""Small set-based SQL helpers for hot paths where building ORM expressions costs more than the query.

Statements are written as text with parameters (id lists as integer literals, ``sql_id_list``),
in a form SQLite, MySQL/MariaDB and PostgreSQL all accept. Why: docs/jobs.md ("Set-based SQL as
text"); the costs that decided it are in benchmarks/RESULTS.md ("Costs quoted in the code").
"""
from __future__ import annotations

from contextlib import contextmanager

from django.db import connection


def sql_id_list(ids) -> str:
    """``"3,5,8"`` for ``IN (…)``: integer literals only (``int()`` refuses anything else), never empty."""
    text = ",".join(str(int(i)) for i in ids)
    if not text:
        raise ValueError("an empty id list cannot be written as IN (…)")
    return text


def sql_by_pk(table: str) -> str:
    """``table FORCE INDEX (PRIMARY)`` on MySQL, for statements that reach orders by an id list.

    On small or freshly changed tables the optimizer may prefer scanning an index or the
    table; a statement that writes (or INSERT … SELECTs) then locks every row it scans,
    and waits on rows that a payment or a user's cancel holds. By primary key it touches
    only the chunk's rows, which this transaction already holds.
    """
    return f"{table} FORCE INDEX (PRIMARY)" if connection.vendor == "mysql" else table


def sql_add_by_key(model, *, key: str, column: str, amounts: dict[int, int]) -> int:
    """``UPDATE t SET column = column + CASE key WHEN k THEN amount … END WHERE key IN (…)``, one statement.

    Keys are sorted, so every caller locks the rows in the same order. Returns the rows updated.
    """
    if not amounts:
        return 0
    qn = connection.ops.quote_name
    table, col, key_col = qn(model._meta.db_table), qn(column), qn(model._meta.get_field(key).column)
    keys = sorted(amounts)
    whens = " ".join(["WHEN %s THEN %s"] * len(keys))
    placeholders = ", ".join(["%s"] * len(keys))
    params = [value for k in keys for value in (k, amounts[k])] + keys
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {col} = {col} + (CASE {key_col} {whens} ELSE 0 END) WHERE {key_col} IN ({placeholders})",
            params,
        )
        return cursor.rowcount


@contextmanager
def foreign_key_checks_skipped(cursor):
    """Yields a prefix for one statement that must run without foreign key checks (MySQL/MariaDB).

    Only for rows whose references were copied from rows this transaction holds locked (the
    points refund copies ``order.id`` and ``order.user_id`` from the locked orders): the check
    is redundant there, and on a large users table a random read of ``auth_user`` per row.
    MariaDB: a ``SET STATEMENT foreign_key_checks = 0 FOR`` prefix scoped to that statement.
    MySQL: the session variable off around the block, on again even when a statement fails.
    Elsewhere the prefix is empty. Why and what it saved: docs/jobs.md ("Set-based SQL as text").
    """
    if connection.vendor != "mysql":
        yield ""
    elif connection.mysql_is_mariadb:
        yield "SET STATEMENT foreign_key_checks = 0 FOR "
    else:
        cursor.execute("SET SESSION foreign_key_checks = 0")
        try:
            yield ""
        finally:
            cursor.execute("SET SESSION foreign_key_checks = 1")
