"""Work the heartbeat job does for the runtime: close abandoned runs, catch up missed runs,
prune old run records.

``basic.cron.heartbeat`` only needs ``return cron_housekeeping()``.

A job has *missed* a tick when its latest tick older than a grace period (time for cron to
start the run) has no run started at or after it. Only ticks after the job's last recorded
run count — or, for a job that never ran, after the first run of any job (the install), so
nothing is caught up for years before the project existed. One catch-up run covers all the
missed ticks of a job (the jobs themselves catch up on their backlog, e.g. every missing month).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from basic.cron_runtime.lock import close_abandoned_runs
from basic.cron_runtime.models import JobRun, RunOutcome, RunTrigger
from basic.cron_runtime.registry import Job, all_jobs
from basic.cron_runtime.result import JobReport
from basic.cron_runtime.schedule import interval_at, previous_run

HEARTBEAT_JOB = "heartbeat"
PRUNE_CHUNK = 1000
PRUNE_MAX_CHUNKS = 20  # bounded work per heartbeat; a big backlog shrinks over several beats


def grace_period(job: Job, now: datetime | None = None) -> timedelta:
    """How late a run may start before its tick counts as missed: 2 min, more for rare jobs (≤ 10 min)."""
    return min(max(timedelta(minutes=2), interval_at(job.schedule, now) / 10), timedelta(minutes=10))


def install_time() -> datetime | None:
    """The first run of any job still on record: ticks before it are not 'missed'."""
    return JobRun.objects.order_by("started_at").values_list("started_at", flat=True).first()


def missed_tick(job: Job, *, last_started: datetime | None, installed: datetime | None,
                now: datetime | None = None) -> datetime | None:
    """The tick ``job`` missed (see the module docstring), or None."""
    now = now or timezone.now()
    tick = previous_run(job.schedule, now - grace_period(job, now))
    since = last_started or installed
    return tick if since is not None and since < tick else None


def catch_up_missed_runs(now: datetime | None = None) -> list[JobRun]:
    """Run, with trigger catch-up, every job (but the heartbeat) that missed its latest tick."""
    from basic.cron_runtime.runner import run_job  # runner imports this module's users; keep it lazy

    installed = install_time()
    runs = []
    for job in all_jobs():
        if job.name == HEARTBEAT_JOB:
            continue
        last_started = (JobRun.objects.filter(job=job.name).order_by("-started_at")
                        .values_list("started_at", flat=True).first())
        if missed_tick(job, last_started=last_started, installed=installed, now=now):
            runs.append(run_job(job, trigger=RunTrigger.CATCH_UP))
    return runs


def prune_old_runs(now: datetime | None = None) -> int:
    """Delete run records older than CRON_RUN_RETENTION_DAYS, in bounded chunks.

    The latest run of each job is always kept (it is the job's 'last run' on the dashboard
    and the start of its catch-up horizon).
    """
    cutoff = (now or timezone.now()) - timedelta(days=settings.CRON_RUN_RETENTION_DAYS)
    keep = set(JobRun.objects.values("job").annotate(last=Max("id")).values_list("last", flat=True))
    deleted = 0
    for _ in range(PRUNE_MAX_CHUNKS):
        ids = list(JobRun.objects.filter(started_at__lt=cutoff).exclude(pk__in=keep)
                   .values_list("pk", flat=True)[:PRUNE_CHUNK])
        if not ids:
            break
        deleted += JobRun.objects.filter(pk__in=ids).delete()[1].get(JobRun._meta.label, 0)
    return deleted


def cron_housekeeping(now: datetime | None = None) -> JobReport:
    """The heartbeat's work: close abandoned runs, catch up missed runs, prune old records;
    one line for its run record."""
    from basic.cron_runtime.runner import alert_admins  # the runner imports this module's users

    abandoned = close_abandoned_runs(now)
    for run in abandoned:  # a run that died is a failure: staff hear of it as of any other
        alert_admins(run)
    caught_up = catch_up_missed_runs(now)
    pruned = prune_old_runs(now)
    failed = [run.job for run in caught_up if run.outcome == RunOutcome.FAILED]
    parts = ["alive"]
    if abandoned:
        parts.append("closed abandoned runs: " + ", ".join(f"{run.job} #{run.pk}" for run in abandoned))
    if caught_up:
        parts.append("caught up " + ", ".join(f"{run.job} ({run.outcome})" for run in caught_up))
    if pruned:
        parts.append(f"pruned {pruned} old run records")
    if failed:
        parts.append("catch-up failed: " + ", ".join(failed))
    return JobReport(items_processed=len(caught_up), message="; ".join(parts))
