"""The per-job log: ``logs/crontab/<job>.log``, open for the length of a run.

A job's file has one writer at a time: the runner only opens it while it holds that job's lease.
Where the files go and how they rotate is the project's logging configuration (oms_conf.logging).
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from loguru import logger
from loguru._file_sink import FileSink  # what logger.add(path) writes through (loguru is pinned)

from oms_conf.logging import format_line, line_format, log_files

# The job whose log is open (job_log), for the lines LineBatch formats itself (their JSON "job").
_current_job: ContextVar[str | None] = ContextVar("oms_current_job", default=None)


def job_log_path(job_name: str) -> Path:
    return log_files().folder / "crontab" / f"{job_name}.log"


class _OpenJobLogs:
    """The job logs open in this process, written through one loguru sink added once.

    ``logger.add`` builds an exception formatter that walks the interpreter's install paths: about
    5 ms, more than a short job's whole bookkeeping (docs/celery.md, "Where the time goes"). So the
    sink stays for the life of the process, and a run only opens and closes its file: loguru's own
    file sink (the one ``logger.add(path)`` makes), so LOG_ROTATION and LOG_RETENTION behave as before.
    """

    def __init__(self):
        self.files: dict[str, FileSink] = {}
        self.sink_id: int | None = None
        self.lock = threading.Lock()

    def open(self, job_name: str, path: Path) -> None:
        files = log_files()
        sink = FileSink(path, rotation=files.rotation, retention=files.retention, encoding="utf-8")
        with self.lock:
            self.files[job_name] = sink
            # loguru's handler table (private; loguru is pinned): a logger.remove() elsewhere takes our sink too
            if self.sink_id is None or self.sink_id not in logger._core.handlers:
                self.sink_id = logger.add(self.write, level="DEBUG", format=_job_line_format, filter=self.wanted,
                                          backtrace=False, diagnose=False)

    def close(self, job_name: str) -> None:
        with self.lock:
            sink = self.files.pop(job_name, None)
        if sink is not None:
            sink.stop()

    def wanted(self, record) -> bool:
        return record["extra"].get("job") in self.files

    def write(self, message) -> None:
        sink = self.files.get(message.record["extra"].get("job"))
        if sink is not None:
            sink.write(message)


def _job_line_format(record) -> str:
    """LOG_FORMAT as it is now (a template: loguru adds the line end and the exception to it)."""
    chosen = line_format()
    return chosen(record) if callable(chosen) else chosen + "\n{exception}"


_open_logs = _OpenJobLogs()


@contextmanager
def job_log(job_name: str):
    """Open the job's log for one run and yield a logger bound to that job.

    Lines of this job go to ``logs/crontab/<job>.log`` only: the project's console sink leaves
    them out, so the terminal and cron's output get the runner's one-line summary. The file is
    open only for the run (the runner holds the job's lease meanwhile: one writer per file).
    """
    path = job_log_path(job_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    _open_logs.open(job_name, path)
    token = _current_job.set(job_name)
    try:
        yield logger.bind(job=job_name)
    finally:
        _current_job.reset(token)
        _open_logs.close(job_name)


@contextmanager
def job_log_on_terminal(job_name: str, stream):
    """Also print ``job_name``'s log lines on ``stream`` when it is a terminal (a long-running command
    started by hand, like `cronjobs serve`); its file keeps every line either way. Under cron, a
    service manager or a pipe nothing changes: the file is the one place to look."""
    isatty = getattr(stream, "isatty", None)
    if not (isatty and isatty()):
        yield
        return
    sink_id = logger.add(stream, level=os.environ.get("LOG_LEVEL", "INFO"), format=line_format(), colorize=False,
                         filter=lambda r: r["extra"].get("job") == job_name, backtrace=False, diagnose=False)
    try:
        yield
    finally:
        logger.remove(sink_id)


class LineBatch:
    """Lines of the current job's log gathered and written in one go (``flush``), each stamped
    when it was added. For one line per item of a big batch (a timed task each): a loguru call
    costs more than a no-op task (benchmarks/RESULTS.md). Flush before logging anything else,
    to keep the order."""

    def __init__(self, level: str = "INFO"):
        self.level = level
        self.lines: list[str] = []

    def add(self, message: str) -> None:
        self.lines.append(format_line(self.level, message, job=_current_job.get()))

    def flush(self) -> None:
        if self.lines:
            logger.opt(raw=True).log(self.level, "".join(self.lines))
            self.lines.clear()


def job_log_rotation_error() -> str | None:
    """Why loguru would refuse LOG_ROTATION / LOG_RETENTION for the job logs, or None.

    The job sink is only added when a run starts: a value loguru cannot read would fail
    every run (after `check` and `crontab add` said all was well). Checked by adding a
    sink that creates no file (``delay=True``) and removing it again.
    """
    files = log_files()
    try:
        sink_id = logger.add(files.folder / "crontab" / ".rotation-check.log", delay=True,
                             rotation=files.rotation, retention=files.retention, level="CRITICAL",
                             filter=lambda record: False)
    except (ValueError, TypeError) as exc:
        return (f"LOG_ROTATION={files.rotation!r} / LOG_RETENTION={files.retention!r}: {exc} "
                "(e.g. LOG_ROTATION='20 MB' or '1 day', LOG_RETENTION='30 days' or '12 weeks')")
    logger.remove(sink_id)
    return None
