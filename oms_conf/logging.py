"""Logging for oms_test: everything goes through loguru.

``configure()`` (called once from settings) sets up the console, the site log and stdlib
``logging`` routed into loguru; ``log_files()`` tells other sinks where logs go and how they
rotate. What a line carries, and LOG_FORMAT=json: docs/observability.md ("Log format").
"""
from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from loguru import logger

# The text template (LOG_FORMAT=text). A new sink takes ``format=line_format()``, which is this
# or the JSON formatter, so that LOG_FORMAT=json reaches it too.
LOG_FORMAT = (
    "{time:YYYY-MM-DD HH:mm:ss.SSS Z} | {level: <8} | {extra[host]} | pid {process} | {message}"
)

LOG_FORMATS = ("text", "json")
_state: dict = {"log_dir": None, "rotation": "20 MB", "retention": "30 days", "configured": False, "error": None,
                "format": "text", "host": ""}
# Fields of every JSON line; anything else bound to the logger goes under "extra".
_JSON_OWN_EXTRA = {"host", "job", "_json"}


def _json_line(record) -> str:
    """loguru format function: the record as one JSON object on one line (a traceback included)."""
    payload = {
        "time": record["time"].isoformat(timespec="milliseconds"),
        "level": record["level"].name,
        "message": record["message"],
        "job": record["extra"].get("job"),
        "host": record["extra"].get("host"),
        "pid": record["process"].id,
        "logger": record["name"],
    }
    extra = {key: value for key, value in record["extra"].items() if key not in _JSON_OWN_EXTRA}
    if extra:
        payload["extra"] = extra
    if record["exception"] is not None:
        kind, value, tb = record["exception"]
        payload["exception"] = "".join(traceback.format_exception(kind, value, tb))
    # The returned string is itself a format template: the JSON (full of braces) goes in through extra.
    record["extra"]["_json"] = json.dumps(payload, ensure_ascii=False, default=str)
    return "{extra[_json]}\n"


def line_format() -> str | Callable:
    """The ``format=`` for a loguru sink under LOG_FORMAT: the text template or the JSON formatter."""
    return _json_line if _state["format"] == "json" else LOG_FORMAT


def _in_business_timezone(record) -> None:
    """Show log times in settings.TIME_ZONE whatever the host's timezone is."""
    local = record["time"].astimezone(ZoneInfo(_state.get("time_zone") or "UTC"))
    # A fixed offset: loguru's formatter asks utcoffset(None), which ZoneInfo cannot answer.
    record["time"] = local.replace(tzinfo=timezone(local.utcoffset()))


def format_line(level: str, message: str, *, job: str | None = None) -> str:
    """``message`` as a line of LOG_FORMAT, stamped now: for a job that writes many lines in one
    raw write (``logger.opt(raw=True)``), where loguru's own cost per call would be more than
    the work each line reports. A test keeps it equal to what LOG_FORMAT makes (and, under
    LOG_FORMAT=json, to the JSON lines of ``line_format()``)."""
    zone = _state.get("time_zone") or "UTC"
    if _state["format"] == "json":
        now = datetime.now(ZoneInfo(zone))
        local = now.replace(tzinfo=timezone(now.utcoffset()))  # the same fixed offset as _in_business_timezone
        return json.dumps({"time": local.isoformat(timespec="milliseconds"), "level": level, "message": message,
                           "job": job, "host": _state["host"], "pid": os.getpid(),
                           "logger": __name__}, ensure_ascii=False) + "\n"
    # The clock datetime.now() reads, cut the way it cuts it (floor to the microsecond, then the millisecond).
    second, nanoseconds = divmod(time.time_ns(), 1_000_000_000)
    date_time, offset = _second_stamp(second, zone)
    return (f"{date_time}.{nanoseconds // 1_000_000:03d} {offset} | {level: <8} | "
            f"{_state['host']} | pid {os.getpid()} | {message}\n")


_stamp: tuple = (None, None, "", "")  # (second, zone, its "YYYY-MM-DD HH:MM:SS", its "+HH:MM"), replaced whole


def _second_stamp(second: int, zone: str) -> tuple[str, str]:
    """The date, time and UTC offset of a whole second in ``zone``, as LOG_FORMAT writes them. format_line
    writes hundreds of lines a second (a timed task each), and formatting a datetime costs more than the
    rest of a line: each second is formatted once."""
    global _stamp
    stamp = _stamp
    if stamp[0] != second or stamp[1] != zone:
        moment = datetime.fromtimestamp(second, ZoneInfo(zone))
        offset = moment.strftime("%z")
        stamp = _stamp = (second, zone, f"{moment:%Y-%m-%d %H:%M:%S}", f"{offset[:3]}:{offset[3:]}")
    return stamp[2], stamp[3]


# Where a view puts its reason for refusing a request (see note_refusal()).
_REFUSAL_REASON = "oms_refusal_reason"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def note_refusal(request, reason: str) -> None:
    """Give the one-line log of a refused request (4xx) the view's own reason."""
    setattr(request, _REFUSAL_REASON, reason)


def one_line(text) -> str:
    """One line whatever the client sent: a path or reason with a newline cannot forge log lines."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def refusal_line(record: logging.LogRecord) -> str | None:
    """Django's record of a refused request (4xx) as one line, or None for any other record.

    Django logs 4xx responses on ``django.request`` and ``django.security.*`` with the status and
    the request attached, and for exceptions turned into a 400/403 (an oversized body, a
    disallowed host) with the exception's traceback. A refusal is the client's problem, not a
    bug: one WARNING line with path, status, client address and reason is what an operator needs,
    and hostile traffic cannot bury real errors under tracebacks. 5xx keep theirs.
    """
    status, request = getattr(record, "status_code", None), getattr(record, "request", None)
    if not isinstance(status, int) or not 400 <= status < 500 or not hasattr(request, "META"):
        return None
    reason = getattr(request, _REFUSAL_REASON, None)
    if reason is None and record.exc_info and record.exc_info[1] is not None:
        reason = str(record.exc_info[1]) or type(record.exc_info[1]).__name__
    if reason is None:
        reason = record.getMessage().removesuffix(f": {request.path}")
    address = request.META.get("REMOTE_ADDR") or "-"
    return f"refused {status} {request.method} {one_line(request.path)} from {one_line(address)}: {one_line(reason)}"


class InterceptHandler(logging.Handler):
    """Send records of the standard ``logging`` module (Django, libraries) to loguru."""

    def emit(self, record: logging.LogRecord) -> None:
        line = refusal_line(record)
        if line is not None:
            logger.opt(depth=6).warning(line)
            return
        try:
            level = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        if record.name == "django.server" and record.levelno == logging.WARNING:
            # runserver's access line of a 4xx: the refusal itself has its WARNING line above.
            level = "INFO"
        logger.opt(depth=6, exception=record.exc_info).log(level, record.getMessage())


def configure(*, log_dir: Path, rotation: str, retention: str, host: str, time_zone: str | None = None,
              log_format: str = "text") -> None:
    """Install the sinks. Safe to call more than once (settings may be re-imported).

    ``log_format``: ``text`` or ``json`` (settings refuse any other LOG_FORMAT by name).

    A log folder that cannot be created or written (missing parent, read-only mount, wrong
    owner) must not crash every command at settings import: the file sink is left out, the
    console sink stays, and the error is kept for ``manage.py check`` (cronjobs.E004, see
    ``setup_error()``) so the sysadmin is told what to fix.
    """
    log_dir = Path(log_dir).resolve()
    try:
        (log_dir / "crontab").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _state["error"] = f"cannot create {log_dir / 'crontab'}: {exc.strerror or exc}"
    else:
        _state["error"] = None
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log_format must be one of {LOG_FORMATS}, not {log_format!r}")
    _state.update(log_dir=log_dir, rotation=rotation, retention=retention, format=log_format)
    if time_zone:
        _state["time_zone"] = time_zone
    _state["host"] = host
    if _state["configured"]:
        return
    logger.remove()
    logger.configure(
        extra={"host": host, "job": None},
        patcher=_in_business_timezone,
    )
    # diagnose=False everywhere: loguru's variable dump could print secrets (passwords, keys).
    # A running job's own lines (and tracebacks) go to its log file only: the terminal and cron's
    # output get the runner's one-line summary, so a fault reads as one line there.
    logger.add(sys.stderr, level=os.environ.get("LOG_LEVEL", "INFO"), format=line_format(),
               filter=lambda r: r["extra"].get("job") is None, backtrace=False, diagnose=False)
    if _state["error"] is None:
        try:
            logger.add(
                log_dir / "oms.log",
                level="INFO",
                format=line_format(),
                # Several web workers may share this file, so it is never rotated by loguru
                # (a second writer would rotate it too); use logrotate's copytruncate for it.
                filter=lambda r: r["extra"].get("job") is None,
                encoding="utf-8",
                backtrace=False,
                diagnose=False,
            )
        except OSError as exc:  # e.g. the folder exists but is read-only for this user
            _state["error"] = f"cannot open {log_dir / 'oms.log'}: {exc.strerror or exc}"
    logging.basicConfig(handlers=[InterceptHandler()], level=logging.INFO, force=True)
    _state["configured"] = True


def setup_error() -> str | None:
    """Why ``configure()`` could not set up the log files (only the console sink is on), or None."""
    return _state["error"]


@dataclass(frozen=True)
class LogFiles:
    folder: Path  # LOG_DIR, resolved
    rotation: str  # LOG_ROTATION, as loguru reads it
    retention: str  # LOG_RETENTION


def log_files() -> LogFiles:
    """The log folder and rotation settings given to ``configure()`` (defaults before it ran)."""
    return LogFiles(folder=Path(_state["log_dir"] or Path("logs").resolve()),
                    rotation=_state["rotation"], retention=_state["retention"])
