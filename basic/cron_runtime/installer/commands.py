"""The work of `crontab add`, `crontab remove` and the drift report of `crontab show` and the health page."""
from __future__ import annotations

from dataclasses import dataclass

from basic.cron_runtime.scheduling.engine import uses_celery
from basic.cron_runtime.installer.crontab_file import CrontabError, write_crontab
from basic.cron_runtime.installer.daemon import cron_daemon_running
from basic.cron_runtime.installer.env_file import write_env_file
from basic.cron_runtime.installer.lines import CrontabLine, current_lines, expected_lines
from basic.cron_runtime.installer.locations import env_file_path
from basic.cron_runtime.scheduling.registry import Job, all_jobs
from basic.cron_runtime.scheduling.schedule import InstalledSchedule, installed_schedule


@dataclass
class InstallReport:
    added: list[str]
    removed: list[str]
    unchanged: list[str]
    others_kept: int
    env_variables: list[str]
    widened: list[tuple[Job, InstalledSchedule]]


def install() -> InstallReport:
    """Make the crontab hold exactly the current CRONJOBS for this checkout, in one write."""
    wanted = expected_lines()
    lines = current_lines()  # first: a missing or broken crontab program stops us before any write
    env_variables = write_env_file()
    ours = [line.text for line in lines if line.ours]
    others = [line.text for line in lines if not line.ours]
    new_ours = [text for _, _, text in wanted]
    if ours != new_ours:
        write_crontab(others + new_ours)
    return InstallReport(
        added=[text for text in new_ours if text not in ours],
        removed=[text for text in ours if text not in new_ours],
        unchanged=[text for text in new_ours if text in ours],
        others_kept=len(others),
        env_variables=env_variables,
        widened=[(job, sched) for job, sched, _ in wanted if sched.widened],
    )


def uninstall() -> list[CrontabLine]:
    """Remove this checkout's lines (stale or not) and its .cron.env; other lines stay."""
    lines = current_lines()
    ours = [line for line in lines if line.ours]
    if ours:
        write_crontab([line.text for line in lines if not line.ours])
    env_file_path().unlink(missing_ok=True)
    return ours


def left_over_under_celery(count: int) -> str:
    return (f"{count} crontab line(s) of this checkout are still installed although SCHEDULER=celery: harmless "
            "(one run per slot) but every slot is started twice — `python manage.py crontab remove`")


def crontab_drift() -> list[str]:
    """How the installed crontab differs from CRONJOBS, one line each; [] = in sync.

    Compares jobs (hash and installed schedule), not whole lines, so a web process whose
    Python path differs from the one that ran `crontab add` does not see drift. On a host with no
    cron daemon the crontab starts nothing (`cronjobs serve` or another host runs the jobs), so
    there is nothing to compare; if no engine runs at all, the stale heartbeat says so.
    """
    if cron_daemon_running() is False and not uses_celery():
        return []
    try:
        lines = current_lines()
    except CrontabError as exc:
        return [] if uses_celery() else [str(exc)]
    ours = [line for line in lines if line.ours]
    if uses_celery():  # beat owns the schedule: any line of ours is one too many
        return [left_over_under_celery(len(ours))] if ours else []
    problems = []
    for job in all_jobs():
        schedule = installed_schedule(job.schedule).schedule
        mine = [line for line in ours if line.job_hash == job.hash]
        if not mine:
            problems.append(f"{job.name}: not in the crontab (run `python manage.py crontab add`)")
        elif all(line.schedule != schedule for line in mine):
            problems.append(f"{job.name}: installed as '{mine[0].schedule}' but should be '{schedule}' "
                            "(the host timezone changed?) — run `python manage.py crontab add`")
    for line in ours:
        if line.stale:
            problems.append(f"stale crontab line {line.name or line.job_hash}: {line.stale_reason} "
                            "(run `python manage.py crontab add`)")
    return problems
