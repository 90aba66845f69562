"""Small set-based SQL helpers for hot paths where building ORM expressions costs more than the query.

Django builds and compiles one ``When`` object per key of a ``Case``: around 100 µs
each, so a chunk of thousands of orders spent most of its time in Python before the
database saw a statement. These helpers write the same statements as text with
parameters, in a form SQLite, MySQL/MariaDB and PostgreSQL all accept.

Long lists of ids are written into the SQL as integer literals (``sql_id_list``)
instead of one ``%s`` per id: PyMySQL escapes and interpolates each parameter in
Python (1–2 µs apiece), which for a chunk of thousands of ids per statement cost
more than the database's own work on them.
"""
from __future__ import annotations

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

