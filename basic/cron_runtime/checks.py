"""System checks for settings.CRONJOBS, run by `manage.py check` (and before `crontab add`).

cronjobs.E001 schedule syntax        cronjobs.E004 log folder not writable
cronjobs.E002 function not importable cronjobs.E005 malformed CRONJOBS entry
cronjobs.E003 duplicate job          cronjobs.E006 LOG_ROTATION / LOG_RETENTION not understood
cronjobs.W001 CRONJOB_NAMES names a function not in CRONJOBS
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from django.conf import settings
from django.core.checks import Error, Warning, register

from basic.cron_runtime.registry import CronjobsConfigError, parse_entry
from basic.cron_runtime.schedule import schedule_error
from oms_conf.logging import rotation_error as log_rotation_error
from oms_conf.logging import setup_error as log_setup_error


@register("cronjobs")
def check_cronjobs(app_configs=None, **kwargs):
    errors = []
    names = getattr(settings, "CRONJOB_NAMES", {})
    seen_names: dict[str, str] = {}
    seen_hashes: set[str] = set()
    func_paths = set()
    for index, entry in enumerate(getattr(settings, "CRONJOBS", [])):
        where = f"settings.CRONJOBS[{index}]"
        try:
            job = parse_entry(entry, names)
        except CronjobsConfigError as exc:
            if isinstance(entry, (tuple, list)) and len(entry) > 1 and isinstance(entry[1], str):
                func_paths.add(entry[1])  # it is in CRONJOBS (malformed): no W001 on top of E005
            errors.append(Error(f"{where} is malformed: {exc}", id="cronjobs.E005",
                                hint="Write it as (schedule, 'module.function', [args], {kwargs}), "
                                     "e.g. ('*/5 * * * *', 'basic.cron.refresh_home_cache')."))
            continue
        func_paths.add(job.func_path)
        problem = schedule_error(job.schedule)
        if problem:
            errors.append(Error(f"{where}: {problem}", id="cronjobs.E001",
                                hint="Use 5 fields of *, numbers, ranges (1-5), lists (1,15) and steps (*/5), "
                                     "or @hourly/@daily/@weekly/@monthly/@yearly."))
        try:
            job.import_function()
        # Importing runs the module's code: whatever it raises (SyntaxError, ValueError,
        # ImproperlyConfigured...) is this job's problem to report, never a crash of `check`.
        except Exception as exc:  # noqa: BLE001
            errors.append(Error(f"{where}: the function {job.func_path} cannot be used: "
                                f"{type(exc).__name__}: {exc}", id="cronjobs.E002",
                                hint="Check the dotted path and that the module imports without errors."))
        if job.name in seen_names or job.hash in seen_hashes:
            errors.append(Error(
                f"{where}: job {job.name!r} is listed twice (also {seen_names.get(job.name, 'same entry')})",
                id="cronjobs.E003",
                hint="A job's name names its lock, its log file and its history, so each must be unique: "
                     "remove the duplicate, or give the second one its own function.",
            ))
        seen_names.setdefault(job.name, where)
        seen_hashes.add(job.hash)
    for func_path in names:
        if func_path not in func_paths:
            errors.append(Warning(f"settings.CRONJOB_NAMES names {func_path}, which is not in CRONJOBS",
                                  id="cronjobs.W001", hint="Remove it or add the job to CRONJOBS."))
    # The log setup at settings import failed first (and fell back to stderr): say why.
    log_problem = log_setup_error() or _unwritable(Path(settings.CRON_LOG_DIR))
    if log_problem:
        errors.append(Error(f"the job log folder {settings.CRON_LOG_DIR} is not writable: {log_problem}",
                            id="cronjobs.E004",
                            hint="Create it and give the user that runs cron write access, or set LOG_DIR "
                                 "(until then the logs only go to stderr)."))
    rotation_problem = log_rotation_error()
    if rotation_problem:
        errors.append(Error(f"the job logs' rotation or retention is not valid: {rotation_problem}",
                            id="cronjobs.E006",
                            hint="Every run opens its job log with these values, so every run would fail: "
                                 "fix LOG_ROTATION / LOG_RETENTION."))
    return errors


def _unwritable(folder: Path) -> str | None:
    """Try for real: permission bits say nothing for root, or on a read-only mount."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    return None
