"""The runtime's models' table and column names, quoted for the database: for the few statements on a
run's path that are written as text (building them through the ORM at every run cost more than
running them). Beside the models, outside the rooms: every room may use it."""
from __future__ import annotations

from django.db import connection


def table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def column(model, field: str) -> str:
    """``field``'s column (``run`` → ``run_id``; ``pk`` → the primary key's)."""
    meta = model._meta
    return connection.ops.quote_name((meta.pk if field == "pk" else meta.get_field(field)).column)


def db_values(model, values: dict) -> list:
    """``values`` (field name → value) as the ORM would send them; a related object as its key."""
    prepared = []
    for name, value in values.items():
        field = model._meta.get_field(name)
        if field.is_relation and isinstance(value, field.related_model):
            value = value.pk
        prepared.append(field.get_db_prep_save(value, connection))
    return prepared
