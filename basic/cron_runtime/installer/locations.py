"""Where this checkout's cron pieces live: its id, the crontab program, .cron.env, the output files."""
from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

from django.conf import settings

from basic.cron_runtime import conf
from basic.cron_runtime.running.faults import file_fault, shown_path
from basic.cron_runtime.scheduling.registry import CronjobsConfigError, Job, parse_entry


ENV_FILE_NAME = ".cron.env"


def django_crontab_settings():
    from django_crontab.app_settings import Settings  # its names: CRONTAB_EXECUTABLE, CRONTAB_COMMENT, …

    return Settings(settings)


def checkout_id() -> str:
    """Short id of this installation: lines of another checkout carry another id.

    Derived from the project folder, unless ``CRON_CHECKOUT_ID`` names the installation: with
    release-directory deploys (``/srv/shop/releases/<n>`` behind a ``current`` symlink) every
    release is another folder, and without a shared name the new release's ``crontab add``
    would leave the old release's lines running the old code.
    """
    name = conf.CRON_CHECKOUT_ID or str(Path(settings.BASE_DIR).resolve())
    return hashlib.sha1(name.encode()).hexdigest()[:8]


def crontab_executable() -> str:
    if hasattr(settings, "CRONTAB_EXECUTABLE"):
        return settings.CRONTAB_EXECUTABLE
    return shutil.which("crontab") or "/usr/bin/crontab"


def crontab_program_found() -> bool:
    """Is there a `crontab` program this user can run? Without one no line can be installed."""
    return os.access(crontab_executable(), os.X_OK)


def env_file_path() -> Path:
    return Path(settings.BASE_DIR) / ENV_FILE_NAME


def cron_output_path(job: Job) -> Path:
    """What the job's process prints outside its log (its one-line failure, a fault) goes here."""
    return Path(conf.CRON_LOG_DIR) / f"cron-{job.name}.out"


def manual_output_path(job: Job) -> Path:
    """Where a run started by hand from the staff page (Run now) prints outside its log."""
    return Path(conf.CRON_LOG_DIR) / f"manual-{job.name}.out"


def send_output_to_cron_file(job: Job) -> str | None:
    """Under cron: append this process's stdout and stderr to ``cron_output_path(job)``.

    The installed line redirects nothing itself: a shell redirect to a file that cannot be
    opened would stop the job before Python starts, leaving no trace at all. Done here, a file
    that cannot be opened changes nothing but where the output goes (cron's own handling: mail
    to the crontab's owner, or syslog); returns why, or None when the file took the output.
    """
    path = cron_output_path(job)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        return file_fault(exc)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, sys.stdout.fileno())
    os.dup2(fd, sys.stderr.fileno())
    os.close(fd)
    return None


def log_write_problems() -> list[str]:
    """What keeps this user from writing the jobs' logs (the folder, or a job's files in it), one line each.

    Tried for real where it can be (root and read-only mounts make permission bits meaningless).
    Typical cause: someone ran a job as root once, and its log file now belongs to root.
    """
    folder = Path(conf.CRON_LOG_DIR)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as exc:  # name the folder itself, not the parent or temporary file that failed
        return [file_fault(OSError(exc.errno, exc.strerror, str(folder))) or f"cannot write {shown_path(folder)}: {exc}"]
    problems = []
    for job in _parsable_jobs():
        for path in (folder / f"{job.name}.log", cron_output_path(job)):
            if path.exists():
                try:
                    with open(path, "a"):
                        pass
                except OSError as exc:
                    problems.append(file_fault(exc) or f"cannot write {shown_path(path)}: {exc}")
    return problems


def _parsable_jobs() -> list[Job]:
    """The jobs of CRONJOBS that can be read (the malformed ones are the checks' business)."""
    jobs = []
    for entry in conf.CRONJOBS:
        try:
            jobs.append(parse_entry(entry))
        except CronjobsConfigError:
            continue
    return jobs
