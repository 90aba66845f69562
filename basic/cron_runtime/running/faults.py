"""Faults of the environment (database, files), told in one line: what failed, where, what to do.

The runtime's commands turn these into a one-line ``CommandError`` instead of a traceback
(see command.py); anything not recognised here is a bug and keeps its traceback.
"""
from __future__ import annotations

import errno
import getpass
import os
import re
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connections
from django.db.utils import InterfaceError

# MySQL/MariaDB client and server error codes met when the database itself is the problem.
_CANNOT_CONNECT = {2002, 2003}  # no server at that socket / host:port
_UNKNOWN_HOST = 2005
_CONNECTION_LOST = {2006, 2013}
_ACCESS_DENIED = 1045
_DB_ACCESS_DENIED = 1044
_UNKNOWN_DATABASE = 1049
_NO_SUCH_TABLE = 1146
_FILE_ERRNOS = {errno.EACCES, errno.EPERM, errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EROFS, errno.ENOSPC,
                errno.EDQUOT, errno.EEXIST}


def environment_fault(exc: BaseException) -> str | None:
    """One line for a fault of the environment behind ``exc`` (or an exception it came from), else None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        line = _database_fault(exc) or file_fault(exc)
        if line:
            return line
        exc = exc.__cause__ or exc.__context__
    return None


def user_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def shown_path(path) -> str:
    """A path as a sysadmin reads it: relative to the project folder when inside it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path(settings.BASE_DIR).resolve()))
    except ValueError:
        return str(path)


def file_fault(exc: BaseException) -> str | None:
    """'cannot write logs/crontab/x.log: Permission denied — …' for a file the process could not use."""
    if not isinstance(exc, OSError) or exc.errno not in _FILE_ERRNOS or not exc.filename:
        return None
    path = shown_path(exc.filename)
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = f"give the user {user_name()} write access there (chown/chmod), or set LOG_DIR"
    elif exc.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = "free some space"
    else:
        fix = f"create the folder, writable by {user_name()}, or set LOG_DIR"
    return f"cannot write {path}: {reason} — {fix}"


def _database_fault(exc: BaseException) -> str | None:
    if not isinstance(exc, (DatabaseError, InterfaceError)) and not _is_driver_error(exc):
        return None
    db = connections["default"].settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return _sqlite_fault(exc, db)
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    where = f"{db.get('HOST') or 'localhost'}:{db.get('PORT') or 3306}"
    detail = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    name, user = db.get("NAME"), db.get("USER")
    if code in _CANNOT_CONNECT:
        reason = re.search(r"\(\[Errno \d+\] ([^)]+)\)", detail)
        return (f"database unreachable: nothing answers at {where} ({reason[1] if reason else detail}) — "
                "start the MySQL/MariaDB server, or fix the host and port in DATABASE_URL")
    if code == _UNKNOWN_HOST:
        return f"database unreachable: unknown host in DATABASE_URL ({detail}) — fix the host in DATABASE_URL"
    if code in _CONNECTION_LOST:
        return (f"lost the connection to the database at {where} ({detail}) — check that the server is up and "
                "reachable, then run again")
    if code == _ACCESS_DENIED:
        return (f"the database at {where} refused the login of user {user!r} ({detail}) — fix the user and "
                "password in DATABASE_URL")
    if code == _DB_ACCESS_DENIED:
        return (f"user {user!r} may not use the database {name!r} at {where} — grant it "
                f"(GRANT ALL ON `{name}`.* TO …) or fix DATABASE_URL")
    if code == _UNKNOWN_DATABASE:
        return (f"the database {name!r} does not exist at {where} — create it (CREATE DATABASE `{name}` "
                "CHARACTER SET utf8mb4) and run `python manage.py migrate`, or fix the name in DATABASE_URL")
    if code == _NO_SUCH_TABLE:
        return f"the database {name!r} at {where} has no tables yet ({detail}) — run `python manage.py migrate`"
    return None


def _sqlite_fault(exc: BaseException, db: dict) -> str | None:
    text = str(exc)
    if "unable to open database file" in text:
        return (f"cannot open the SQLite database {shown_path(db['NAME'])} — its folder must exist and be "
                f"writable by {user_name()}; or fix DATABASE_URL")
    if text.startswith("no such table"):
        return f"the SQLite database {shown_path(db['NAME'])} has no tables yet ({text}) — run `python manage.py migrate`"
    return None


def _is_driver_error(exc: BaseException) -> bool:
    """A DB-API error that escaped Django's wrapping (raised while connecting, say)."""
    return type(exc).__module__.split(".")[0] in {"pymysql", "MySQLdb", "sqlite3"} and isinstance(exc, Exception)
