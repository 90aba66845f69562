"""Fail loudly (never skip) when the database in DATABASE_URL cannot be reached.

For MySQL/MariaDB it also creates the database named in the URL if it is missing.
Exit 0 when reachable, 1 with a message naming what to fix otherwise.
"""
import os
import sys
import time
from urllib.parse import unquote, urlparse

url = os.environ.get("DATABASE_URL", "")
if not url.startswith("mysql://"):
    sys.exit(0)
import pymysql

parsed = urlparse(url)
name = parsed.path.lstrip("/")
deadline = time.monotonic() + float(os.environ.get("DB_WAIT_SECONDS", "30"))
while True:
    try:
        conn = pymysql.connect(
            host=parsed.hostname or "127.0.0.1", port=parsed.port or 3306,
            user=unquote(parsed.username or "root"), password=unquote(parsed.password or ""), connect_timeout=3,
        )
        break
    except pymysql.err.OperationalError as exc:
        if time.monotonic() > deadline:
            sys.exit(f"MySQL/MariaDB at {parsed.hostname}:{parsed.port or 3306} is unreachable: {exc}. "
                     "Start the server or fix DATABASE_URL.")
        time.sleep(1)
with conn.cursor() as cursor:
    cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
conn.close()
print(f"database {name} on {parsed.hostname}:{parsed.port or 3306} is reachable")
