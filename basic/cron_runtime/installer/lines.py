"""This checkout's crontab lines: building them from CRONJOBS, and recognising them among the others."""
from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from basic.cron_runtime.installer.crontab_file import read_crontab
from basic.cron_runtime.installer.locations import checkout_id, django_crontab_settings, env_file_path
from basic.cron_runtime.scheduling.registry import Job, all_jobs
from basic.cron_runtime.scheduling.schedule import InstalledSchedule, installed_schedule


MARKER = re.compile(r"\s#\s(?P<comment>.+?) \[(?P<checkout>[0-9a-f]{8})\] (?P<name>[A-Za-z0-9_.-]+)\s*$")
RUN_HASH = re.compile(r"\bcrontab run (?P<hash>[0-9a-f]{32})\b")


@dataclass(frozen=True)
class CrontabLine:
    """One line of the user's crontab, seen from this checkout."""

    text: str
    ours: bool = False  # written by this checkout (or by stock django-crontab from this folder)
    name: str = ""
    job_hash: str = ""
    schedule: str = ""
    job: Job | None = None  # the CRONJOBS job with that hash; None on a stale line
    other_folder: bool = False  # ours by CRON_CHECKOUT_ID, but runs another folder (an older release)

    @property
    def stale(self) -> bool:
        return self.ours and (self.job is None or self.other_folder)

    @property
    def stale_reason(self) -> str:
        if self.other_folder:
            return "it runs the code of another folder (an older release?)"
        return "its job is no longer in CRONJOBS"


def build_line(job: Job, installed: InstalledSchedule) -> str:
    crontab_settings = django_crontab_settings()
    base_dir = Path(settings.BASE_DIR).resolve()
    settings_module = getattr(settings, "CRONTAB_DJANGO_SETTINGS_MODULE", None) or \
        os.environ.get("DJANGO_SETTINGS_MODULE") or settings.SETTINGS_MODULE
    q = shlex.quote
    command = " ".join(part for part in [
        "cd", q(str(base_dir)), "&&",
        "LANG=C.UTF-8", f"DJANGO_SETTINGS_MODULE={q(settings_module)}", f"OMS_ENV_FILE={q(str(env_file_path()))}",
        # The job's log file has every line; cron's output file only gets warnings and what
        # escapes logging (a broken import, a crash at startup), so it stays small.
        "LOG_LEVEL=WARNING",
        crontab_settings.COMMAND_PREFIX,
        q(crontab_settings.PYTHON_EXECUTABLE), q(str(Path(crontab_settings.DJANGO_MANAGE_PATH).resolve())),
        # No redirect: the runner sends its output to logs/crontab/cron-<job>.out itself (see
        # send_output_to_cron_file), so a log folder it cannot write never keeps the job from starting.
        "crontab", "run", job.hash, "--scheduled", job.suffix, crontab_settings.COMMAND_SUFFIX,
    ] if part)
    command = command.replace("%", r"\%")  # cron turns a bare % into a newline
    return f"{installed.schedule} {command} # {crontab_settings.CRONTAB_COMMENT} [{checkout_id()}] {job.name}"


def expected_lines() -> list[tuple[Job, InstalledSchedule, str]]:
    return [(job, sched, build_line(job, sched)) for job in all_jobs()
            for sched in [installed_schedule(job.schedule)]]


def parse_line(text: str, jobs_by_hash: dict[str, Job] | None = None) -> CrontabLine:
    if jobs_by_hash is None:
        jobs_by_hash = {job.hash: job for job in all_jobs()}
    comment = django_crontab_settings().CRONTAB_COMMENT
    marker = MARKER.search(text)
    run_hash = RUN_HASH.search(text)
    job_hash = run_hash["hash"] if run_hash else ""
    schedule = " ".join(text.split()[:5])
    if marker and marker["comment"] == comment and marker["checkout"] == checkout_id():
        # With CRON_CHECKOUT_ID, releases in other folders share the id: a line that does not
        # `cd` into this folder is stale, so a forgotten `crontab add` shows as drift.
        here = f"cd {shlex.quote(str(Path(settings.BASE_DIR).resolve()))} "
        return CrontabLine(text, True, marker["name"], job_hash, schedule, jobs_by_hash.get(job_hash),
                           other_folder=here not in text)
    # A line of stock django-crontab, installed from this very folder before we took over.
    if text.rstrip().endswith(f"# {comment}") and str(Path(settings.BASE_DIR).resolve() / "manage.py") in text:
        job = jobs_by_hash.get(job_hash)
        return CrontabLine(text, True, job.name if job else "", job_hash, schedule, None)
    return CrontabLine(text)


def current_lines() -> list[CrontabLine]:
    jobs_by_hash = {job.hash: job for job in all_jobs()}
    return [parse_line(text, jobs_by_hash) for text in read_crontab()]
