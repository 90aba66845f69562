"""Model fields shared by the apps.

``ExactCharField``: a string identity that the database compares exactly, on every backend
(see docs/payments.md, "Exact identities").
"""
from __future__ import annotations

from django.db import models


def exact_collation(connection) -> str | None:
    """The binary NO PAD collation of this server: case and trailing spaces count.

    MySQL/MariaDB's usual collations (``utf8mb4_unicode_ci``, ``utf8mb4_general_ci``) ignore
    case, and their PAD SPACE rule makes ``'abc'`` equal ``'abc '``; even ``utf8mb4_bin`` pads.
    SQLite's default BINARY collation already compares exactly: nothing to set (None).
    """
    if connection.vendor != "mysql":
        return None
    return "utf8mb4_nopad_bin" if connection.mysql_is_mariadb else "utf8mb4_0900_bin"


class ExactCharField(models.CharField):
    """A CharField compared exactly (case-sensitive, no padding) by every database.

    The collation is chosen from the server the migration runs on (MariaDB and MySQL 8 name
    theirs differently), so it is decided here rather than in ``db_collation``; every later
    ``AlterField`` of the column keeps it.
    """

    def db_parameters(self, connection):
        params = super().db_parameters(connection)
        if not self.db_collation:
            params["collation"] = exact_collation(connection)
        return params
