"""System checks for settings.CRONJOBS and the job logs, run by `manage.py check` (and before `crontab add`).

One check per concern, all tagged ``cronjobs``:
cronjobs.E001 schedule syntax        cronjobs.E004 log folder or a job's log file not writable
cronjobs.E002 function not importable cronjobs.E005 malformed CRONJOBS entry
cronjobs.E003 duplicate job          cronjobs.E006 LOG_ROTATION / LOG_RETENTION not understood
cronjobs.E007 a job's options (CRONJOB_OPTIONS: timeout, retries, retry_delay, catch_up, grace)
cronjobs.E008 an ALERT_URLS entry that Apprise cannot use
cronjobs.W001 CRONJOB_NAMES names a function not in CRONJOBS
"""
from __future__ import annotations

from collections.abc import Iterator

from django.core.checks import Error, Warning, register

from basic.cron_runtime import conf
from basic.cron_runtime.installer import log_write_problems
from basic.cron_runtime.scheduling.job_options import JobOptionsError, parse_options
from basic.cron_runtime.running.joblog import job_log_rotation_error
from basic.cron_runtime.scheduling.registry import CronjobsConfigError, Job, parse_entry
from basic.cron_runtime.scheduling.schedule import schedule_error
from oms_conf.logging import setup_error as log_setup_error

TAG = "cronjobs"
LOG_NOT_WRITABLE = "cronjobs.E004"


def _entries() -> Iterator[tuple[str, object, Job | None, CronjobsConfigError | None]]:
    """(where, raw entry, its Job or None, why it is malformed or None) for each CRONJOBS entry."""
    names = conf.CRONJOB_NAMES
    for index, entry in enumerate(conf.CRONJOBS):
        where = f"settings.CRONJOBS[{index}]"
        try:
            yield where, entry, parse_entry(entry, names, options={}), None  # options: cronjobs.E007
        except CronjobsConfigError as exc:
            yield where, entry, None, exc


def _jobs() -> Iterator[tuple[str, Job]]:
    """The well-formed entries (the malformed ones are cronjobs.E005's)."""
    for where, _, job, _ in _entries():
        if job is not None:
            yield where, job


@register(TAG)
def check_cronjobs_entries(app_configs=None, **kwargs):
    return [
        Error(f"{where} is malformed: {problem}", id="cronjobs.E005",
              hint="Write it as (schedule, 'module.function', [args], {kwargs}), "
                   "e.g. ('*/5 * * * *', 'basic.cron.refresh_home_cache').")
        for where, _, _, problem in _entries() if problem is not None
    ]


@register(TAG)
def check_cronjob_options(app_configs=None, **kwargs):
    options = conf.CRONJOB_OPTIONS
    if not isinstance(options, dict):
        return [Error("settings.CRONJOB_OPTIONS must be a dict of job name -> options", id="cronjobs.E007")]
    errors = []
    for _where, job in _jobs():
        try:
            parse_options(options.get(job.name), interval=job.interval is not None)
        except JobOptionsError as exc:
            errors.append(Error(f"job {job.name}: {exc}", id="cronjobs.E007",
                                hint="Options: timeout (s), retries, retry_delay (s), catch_up (latest, all or none), "
                                     "grace (s); docs/cron.md (\"Job options\")."))
    return errors


@register(TAG)
def check_cronjobs_schedules(app_configs=None, **kwargs):
    return [
        Error(f"{where}: {problem}", id="cronjobs.E001",
              hint="Use 5 fields of *, numbers, ranges (1-5), lists (1,15) and steps (*/5), "
                   "@hourly/@daily/@weekly/@monthly/@yearly, or an interval 'every Ns' (N dividing 60).")
        for where, job in _jobs() if (problem := schedule_error(job.schedule))
    ]


@register(TAG)
def check_cronjobs_functions(app_configs=None, **kwargs):
    errors = []
    for where, job in _jobs():
        try:
            job.import_function()
        # Importing runs the module's code: whatever it raises (SyntaxError, ValueError,
        # ImproperlyConfigured...) is this job's problem to report, never a crash of `check`.
        except Exception as exc:  # noqa: BLE001
            errors.append(Error(f"{where}: the function {job.func_path} cannot be used: "
                                f"{type(exc).__name__}: {exc}", id="cronjobs.E002",
                                hint="Check the dotted path and that the module imports without errors."))
    return errors


@register(TAG)
def check_cronjobs_unique(app_configs=None, **kwargs):
    errors = []
    seen_names: dict[str, str] = {}
    seen_hashes: set[str] = set()
    for where, job in _jobs():
        if job.name in seen_names or job.hash in seen_hashes:
            errors.append(Error(
                f"{where}: job {job.name!r} is listed twice (also {seen_names.get(job.name, 'same entry')})",
                id="cronjobs.E003",
                hint="A job's name names its lock, its log file and its history, so each must be unique: "
                     "remove the duplicate, or give the second one its own function.",
            ))
        seen_names.setdefault(job.name, where)
        seen_hashes.add(job.hash)
    return errors


@register(TAG)
def check_cronjob_names(app_configs=None, **kwargs):
    # A malformed entry still counts as listed (it has its E005): no W001 on top of it.
    listed = {entry[1] for _, entry, _, _ in _entries()
              if isinstance(entry, (tuple, list)) and len(entry) > 1 and isinstance(entry[1], str)}
    return [
        Warning(f"settings.CRONJOB_NAMES names {func_path}, which is not in CRONJOBS",
                id="cronjobs.W001", hint="Remove it or add the job to CRONJOBS.")
        for func_path in conf.CRONJOB_NAMES if func_path not in listed
    ]


@register(TAG)
def check_job_log_folder(app_configs=None, **kwargs):
    # Tried for real now; else why the log setup at settings import failed (the site log, say).
    setup_problem = log_setup_error()
    return [Error(problem, id=LOG_NOT_WRITABLE,
                  hint="Until it is fixed every run is recorded as failed (\"cannot write …\") and alerted; "
                       "what cannot be written goes to stderr only.")
            for problem in log_write_problems() or ([setup_problem] if setup_problem else [])]


@register(TAG)
def check_job_log_rotation(app_configs=None, **kwargs):
    problem = job_log_rotation_error()
    if not problem:
        return []
    return [Error(f"the job logs' rotation or retention is not valid: {problem}", id="cronjobs.E006",
                  hint="Every run opens its job log with these values, so every run would fail: "
                       "fix LOG_ROTATION / LOG_RETENTION.")]


@register(TAG)
def check_alert_urls(app_configs=None, **kwargs):
    from basic.cron_runtime.running.alert_channels import alert_url_problems

    return [Error(f"settings.ALERT_URLS: {problem}", id="cronjobs.E008",
                  hint="Write each as an Apprise URL, e.g. dingtalk://TOKEN/ or slack://T/B/C; docs/cron.md (\"Alerts\").")
            for problem in alert_url_problems(list(conf.ALERT_URLS or []))]
