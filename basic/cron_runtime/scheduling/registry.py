"""The jobs of ``settings.CRONJOBS``, parsed once per call into ``Job`` objects.

An entry keeps django-crontab's format, ``(schedule, "module.func", [args], {kwargs}, "suffix")``,
or its older variant ``(schedule, "module.func", "suffix")``. The job's hash is django-crontab's
(md5 of the JSON of the raw entry), so ``manage.py crontab run HASH`` lines stay compatible.
A job's name (used for its lock, its log file and its run history) is
``settings.CRONJOB_NAMES[func_path]`` or the function's own name; its options (time limit,
retries, catch-up policy: job_options.py) are ``settings.CRONJOB_OPTIONS[name]``.

The runtime brings two jobs of its own, ``heartbeat`` and ``timed_tasks`` (RUNTIME_JOBS): when the
app loads they are added to ``settings.CRONJOBS`` (so django-crontab and every reader see them),
unless the project lists a job of that name itself, or leaves it out of CRON_RUNTIME_JOBS.
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

from django.conf import settings

from basic.cron_runtime import conf
from basic.cron_runtime.scheduling.job_options import JobOptions, JobOptionsError, parse_options
from basic.cron_runtime.scheduling.schedule import interval_seconds

# The runtime's proof-of-life job: health, catch-up and the engines look it up by this name.
HEARTBEAT_JOB = "heartbeat"
# The runtime's dispatcher of one-off timed tasks; also the name of its log file.
TIMED_TASKS_JOB = "timed_tasks"

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


@dataclass(frozen=True)
class RuntimeJob:
    """One of the runtime's own jobs: what it adds to CRONJOBS, and its default options."""

    name: str
    schedule: str
    func_path: str  # a dotted path: the function lives in a room above this one
    options: dict

    @property
    def entry(self) -> tuple[str, str]:
        return self.schedule, self.func_path


HEARTBEAT_FUNCTION = "basic.cron_runtime.observability.housekeeping.heartbeat"
TIMED_TASKS_FUNCTION = "basic.cron_runtime.timed_tasks.job.run_timed_tasks"
RUNTIME_JOBS = (
    RuntimeJob(HEARTBEAT_JOB, "* * * * *", HEARTBEAT_FUNCTION, {"timeout": 120}),
    RuntimeJob(TIMED_TASKS_JOB, "* * * * *", TIMED_TASKS_FUNCTION, {"timeout": 900}),
)
_RUNTIME_NAMES = {job.func_path: job.name for job in RUNTIME_JOBS}
_RUNTIME_OPTIONS = {job.name: job.options for job in RUNTIME_JOBS}


def job_names(project_names: dict | None = None) -> dict:
    """Function path -> job name: the runtime's own jobs', then the project's CRONJOB_NAMES."""
    return {**_RUNTIME_NAMES, **(conf.CRONJOB_NAMES if project_names is None else project_names)}


def job_options(name: str, project_options: dict | None = None) -> dict | None:
    """A job's options: the project's CRONJOB_OPTIONS[name] over the runtime's defaults for its own jobs."""
    own = (conf.CRONJOB_OPTIONS if project_options is None else project_options).get(name)
    default = _RUNTIME_OPTIONS.get(name)
    if default is None or not isinstance(own, dict | None):
        return own  # a malformed value is parse_options' to refuse, naming it
    return {**default, **(own or {})}


def with_runtime_jobs(cronjobs: list) -> list:
    """``cronjobs`` plus each enabled runtime job it does not hold yet (by name): a project that lists
    one itself (its own schedule, or a stand-in in tests) keeps its entry."""
    names = job_names()
    listed = set()
    for entry in cronjobs:
        if isinstance(entry, (tuple, list)) and len(entry) > 1 and isinstance(entry[1], str):
            listed.add(names.get(entry[1]) or entry[1].rsplit(".", 1)[-1])
    enabled = conf.CRON_RUNTIME_JOBS
    if enabled is None:  # not chosen: all of them
        enabled = [job.name for job in RUNTIME_JOBS]
    return [*cronjobs, *(job.entry for job in RUNTIME_JOBS if job.name in enabled and job.name not in listed)]


def add_runtime_jobs() -> None:
    """Put the runtime's own jobs into settings.CRONJOBS, once, when the app loads (apps.py)."""
    if isinstance(conf.CRONJOBS, (list, tuple)):  # anything else is the system checks' to name
        settings.CRONJOBS = with_runtime_jobs(list(conf.CRONJOBS))


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
    names = job_names(names)
    name = names.get(func_path) or func_path.rsplit(".", 1)[1]
    if not JOB_NAME.match(name):
        raise CronjobsConfigError(f"{entry!r}: the job name {name!r} may only hold letters, digits, "
                                  "'_' and '-' (no '.': it would mix up the jobs' rotated log files)")
    try:
        options_of_job = parse_options(job_options(name, options), interval=interval_seconds(schedule) is not None)
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
        options=options_of_job,
    )


# The jobs last parsed, with a copy of the settings they came from: every run and tick looks a job up,
# and parsing the list (hashes, names, options) cost more than the comparison that reuses it.
_parsed: tuple[tuple, tuple[Job, ...]] | None = None


def all_jobs() -> list[Job]:
    """Every job of settings.CRONJOBS, in order. Raises CronjobsConfigError on a malformed entry.

    Parsed again whenever the settings differ from those of the last parse (a test's ``settings``
    fixture, ``override_settings``, an entry changed in place): settings are compared by value."""
    global _parsed
    source = (conf.CRONJOBS, conf.CRONJOB_NAMES, conf.CRONJOB_OPTIONS)
    parsed = _parsed
    if parsed is not None and parsed[0] == source:
        return list(parsed[1])
    names, options = source[1], source[2]
    jobs = tuple(parse_entry(entry, names, options) for entry in source[0])
    _parsed = (copy.deepcopy(source), jobs)
    return list(jobs)


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
