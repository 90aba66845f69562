"""The jobs of ``settings.CRONJOBS``, parsed once per call into ``Job`` objects.

An entry keeps django-crontab's format, ``(schedule, "module.func", [args], {kwargs}, "suffix")``,
or its older variant ``(schedule, "module.func", "suffix")``. The job's hash is django-crontab's
(md5 of the JSON of the raw entry), so ``manage.py crontab run HASH`` lines stay compatible.
A job's name (used for its lock, its log file and its run history) is
``settings.CRONJOB_NAMES[func_path]`` or the function's own name; its options (time limit,
retries, catch-up policy: job_options.py) are ``settings.CRONJOB_OPTIONS[name]``.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

from django.conf import settings

from basic.cron_runtime.scheduling.job_options import JobOptions, JobOptionsError, parse_options
from basic.cron_runtime.scheduling.schedule import interval_seconds

# The runtime's proof-of-life job: health, catch-up and the engines look it up by this name.
HEARTBEAT_JOB = "heartbeat"

# A job's name becomes a file name (logs/crontab/<name>.log) and a word in crontab lines.
# No '.': loguru's retention removes "<name>.*.log" (its rotated files), so a job "a" would
# sweep the log of a job named "a.b".
JOB_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


class CronjobsConfigError(Exception):
    """settings.CRONJOBS holds an entry that cannot be understood."""


class UnknownJob(LookupError):
    """No job of that name or hash in settings.CRONJOBS."""


@dataclass(frozen=True)
class Job:
    name: str
    schedule: str
    func_path: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    suffix: str = ""
    hash: str = ""
    options: JobOptions = field(default_factory=JobOptions)

    @property
    def interval(self) -> int | None:
        """Seconds between calls of an interval job (``every 10s``); None for a cron schedule."""
        return interval_seconds(self.schedule)

    def import_function(self) -> Callable[..., Any]:
        """The job's function; ImportError/AttributeError/TypeError say what is wrong."""
        return import_callable(self.func_path)


def import_callable(func_path: str) -> Callable[..., Any]:
    """The function at a dotted path (a job's, a timed task's); ImportError/AttributeError/TypeError say what is wrong."""
    module_path, _, func_name = func_path.rpartition(".")
    if not module_path:
        raise ImportError(f"{func_path!r} is not a dotted path like 'module.function'")
    func = getattr(import_module(module_path), func_name)
    if not callable(func):
        raise TypeError(f"{func_path} is not callable")
    return func


def django_crontab_hash(entry) -> str:
    """The hash django-crontab puts in `crontab run HASH` lines (its Crontab.__hash_job)."""
    return hashlib.md5(json.JSONEncoder(sort_keys=True).encode(entry).encode("utf-8")).hexdigest()


def parse_entry(entry, names: dict | None = None, options: dict | None = None) -> Job:
    """One CRONJOBS entry → Job; CronjobsConfigError says what is wrong with it."""
    if not isinstance(entry, (tuple, list)) or len(entry) < 2:
        raise CronjobsConfigError(f"{entry!r} is not a tuple (schedule, 'module.function', ...)")
    if len(entry) > 5:
        raise CronjobsConfigError(f"{entry!r} has more than 5 items")
    schedule, func_path = entry[0], entry[1]
    if not isinstance(schedule, str) or not schedule.strip():
        raise CronjobsConfigError(f"{entry!r}: the schedule must be a string like '*/5 * * * *'")
    if not isinstance(func_path, str) or "." not in func_path:
        raise CronjobsConfigError(f"{entry!r}: the function must be a dotted path like 'order.cron.cancel_timeouts'")
    args, kwargs, suffix = (), {}, ""
    if len(entry) == 3 and isinstance(entry[2], str):  # django-crontab's "format 1"
        suffix = entry[2]
    else:
        if len(entry) > 2:
            args = entry[2]
        if len(entry) > 3:
            kwargs = entry[3]
        if len(entry) > 4:
            suffix = entry[4]
    if not isinstance(args, (list, tuple)):
        raise CronjobsConfigError(f"{entry!r}: the arguments (3rd item) must be a list")
    if not isinstance(kwargs, dict):
        raise CronjobsConfigError(f"{entry!r}: the keyword arguments (4th item) must be a dict")
    if not isinstance(suffix, str):
        raise CronjobsConfigError(f"{entry!r}: the command suffix (5th item) must be a string")
    names = settings.CRONJOB_NAMES if names is None else names
    name = names.get(func_path) or func_path.rsplit(".", 1)[1]
    if not JOB_NAME.match(name):
        raise CronjobsConfigError(f"{entry!r}: the job name {name!r} may only hold letters, digits, "
                                  "'_' and '-' (no '.': it would mix up the jobs' rotated log files)")
    options = getattr(settings, "CRONJOB_OPTIONS", {}) if options is None else options
    try:
        job_options = parse_options(options.get(name), interval=interval_seconds(schedule) is not None)
    except JobOptionsError as exc:
        raise CronjobsConfigError(f"job {name}: {exc} (settings.CRONJOB_OPTIONS)") from None
    return Job(
        name=name,
        schedule=" ".join(schedule.split()),
        func_path=func_path,
        args=tuple(args),
        kwargs=dict(kwargs),
        suffix=suffix,
        hash=django_crontab_hash(entry),
        options=job_options,
    )


def all_jobs() -> list[Job]:
    """Every job of settings.CRONJOBS, in order. Raises CronjobsConfigError on a malformed entry."""
    names = getattr(settings, "CRONJOB_NAMES", {})
    options = getattr(settings, "CRONJOB_OPTIONS", {})
    return [parse_entry(entry, names, options) for entry in getattr(settings, "CRONJOBS", [])]


def job_by_name(name: str) -> Job:
    jobs = all_jobs()
    for job in jobs:
        if job.name == name:
            return job
    known = ", ".join(job.name for job in jobs) or "none"
    raise UnknownJob(f"no job named {name!r} in settings.CRONJOBS (known jobs: {known})")


def job_by_hash(job_hash: str) -> Job:
    for job in all_jobs():
        if job.hash == job_hash:
            return job
    raise UnknownJob(
        f"no job with hash {job_hash} in settings.CRONJOBS: the crontab is out of date "
        "(CRONJOBS changed since it was installed). Run `python manage.py crontab add` to replace the stale lines."
    )
