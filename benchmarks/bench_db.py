"""The benchmarks' MariaDB/MySQL databases: each benchmark names its own, and makes it if it is missing."""
from __future__ import annotations

from urllib.parse import urlparse


def ensure_mysql_database(database_url: str, *, name: str | None = None, fresh: bool = False) -> str:
    """Create the database of ``database_url`` (or ``name`` on that server) if it does not exist;
    ``fresh``: drop it first. Returns its name. A SQLite URL is left alone (its file is made on connect)."""
    url = urlparse(database_url)
    name = name or url.path.lstrip("/")
    if not url.scheme.startswith("mysql"):
        return name
    import pymysql

    server = pymysql.connect(host=url.hostname or "127.0.0.1", port=url.port or 3306, user=url.username or "root",
                             password=url.password or "")
    try:
        with server.cursor() as cursor:
            if fresh:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4")
    finally:
        server.close()
    return name
