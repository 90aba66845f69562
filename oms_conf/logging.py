"""Logging for oms_test: everything goes through loguru.

- ``configure()`` (called once from settings): a console sink, the site log
  ``logs/oms.log``, and stdlib ``logging`` (Django's own messages) routed into loguru.
- ``job_log(name)``: a context manager that adds the per-job sink
  ``logs/crontab/<name>.log`` for the duration of one run.

Every line carries the time with its UTC offset in ``TIME_ZONE`` (the business
timezone, not the host's), the level, the host name and the process id.
Rotation and retention are loguru's; a job's file has one writer at a time because
the runner only opens it while it holds that job's lock.
"""
from __future__ import annotations

import logging
import os
import socket
import sys
from contextlib import contextmanager
from datetime import timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from loguru import logger

LOG_FORMAT = (
    "{time:YYYY-MM-DD HH:mm:ss.SSS Z} | {level: <8} | {extra[host]} | pid {process} | {message}"
)

_state: dict = {"log_dir": None, "rotation": "20 MB", "retention": "30 days", "configured": False, "error": None}


def _in_business_timezone(record) -> None:
    """Show log times in settings.TIME_ZONE whatever the host's timezone is."""
    local = record["time"].astimezone(ZoneInfo(_state.get("time_zone") or "UTC"))
    # A fixed offset: loguru's formatter asks utcoffset(None), which ZoneInfo cannot answer.
    record["time"] = local.replace(tzinfo=timezone(local.utcoffset()))


class InterceptHandler(logging.Handler):
    """Send records of the standard ``logging`` module (Django, libraries) to loguru."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).log(level, record.getMessage())


def configure(*, log_dir: Path, rotation: str, retention: str, time_zone: str | None = None) -> None:
    """Install the sinks. Safe to call more than once (settings may be re-imported).

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
    _state.update(log_dir=log_dir, rotation=rotation, retention=retention)
    if time_zone:
        _state["time_zone"] = time_zone
    if _state["configured"]:
        return
    logger.remove()
    logger.configure(
        extra={"host": os.environ.get("OMS_HOSTNAME") or socket.gethostname(), "job": None},
        patcher=_in_business_timezone,
    )
    # diagnose=False everywhere: loguru's variable dump could print secrets (passwords, keys).
    # The console shows job lines too (cron's output file, `cronjobs run`): one sink for all,
    # because each logger.add() costs ~8 ms and the runner would pay it on every run.
    logger.add(sys.stderr, level=os.environ.get("LOG_LEVEL", "INFO"), format=LOG_FORMAT,
               backtrace=False, diagnose=False)
    if _state["error"] is None:
        try:
            logger.add(
                log_dir / "oms.log",
                level="INFO",
                format=LOG_FORMAT,
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


def rotation_error() -> str | None:
    """Why loguru would refuse LOG_ROTATION / LOG_RETENTION for the job logs, or None.

    The job sink is only added when a run starts: a value loguru cannot read would fail
    every run (after `check` and `crontab add` said all was well). Checked by adding a
    sink that creates no file (``delay=True``) and removing it again.
    """
    try:
        sink_id = logger.add(Path(_state["log_dir"] or "logs") / "crontab" / ".rotation-check.log", delay=True,
                             rotation=_state["rotation"], retention=_state["retention"], level="CRITICAL",
                             filter=lambda record: False)
    except (ValueError, TypeError) as exc:
        return (f"LOG_ROTATION={_state['rotation']!r} / LOG_RETENTION={_state['retention']!r}: {exc} "
                "(e.g. LOG_ROTATION='20 MB' or '1 day', LOG_RETENTION='30 days' or '12 weeks')")
    logger.remove(sink_id)
    return None


def job_log_path(job_name: str) -> Path:
    return Path(_state["log_dir"] or Path("logs").resolve()) / "crontab" / f"{job_name}.log"


@contextmanager
def job_log(job_name: str):
    """Add the per-job sink for one run and yield a logger bound to that job.

    Lines of this job go to ``logs/crontab/<job>.log``, and to stderr through the console
    sink of ``configure()`` (so cron's output and ``cronjobs run`` show them).
    """
    path = job_log_path(job_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    sink_id = logger.add(
        path,
        level="DEBUG",
        format=LOG_FORMAT,
        filter=lambda r: r["extra"].get("job") == job_name,
        rotation=_state["rotation"],
        retention=_state["retention"],
        encoding="utf-8",
        backtrace=False,
        diagnose=False,
    )
    try:
        yield logger.bind(job=job_name)
    finally:
        logger.remove(sink_id)
