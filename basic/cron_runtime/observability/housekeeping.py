"""The heartbeat job, which the runtime adds to every project's jobs (scheduling/registry.py), and the
work it does for the runtime: close abandoned runs, start catch-up runs under OS cron, fold finished
runs into the metrics' tallies, prune old run records and finished timed tasks.

The heartbeat stays a cheap
proof of life: a missed run is never run inside the heartbeat's own run, lease and log. Under
OS cron (one crontab line per job, no tick process) the heartbeat *starts* each catch-up slot
(ticks.catch_up_slots) as a detached process of its own and returns; engines that tick
(``cronjobs serve``, Celery) get catch-up slots from ``slots_due`` themselves.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Max
from django.utils import timezone

from basic.cron_runtime import conf
from basic.cron_runtime.running.alerts import scheduler_alert_recovered
from basic.cron_runtime.running.lease import close_abandoned_runs
from basic.cron_runtime.models import JobRun, TimedTask, TimedTaskStatus
from basic.cron_runtime.scheduling.registry import all_jobs
from basic.cron_runtime.running.result import JobReport
from basic.cron_runtime.observability.run_totals import fold_finished_runs, folded_q
from basic.cron_runtime.scheduling.schedule import is_due
from basic.cron_runtime.scheduling.ticks import (
    ENGINES_WITH_OWN_CATCH_UP,
    HEARTBEAT_JOB,
    SCHEDULING_ENGINES,
    catch_up_slots,
    slot_label,
)

__all__ = ["HEARTBEAT_JOB", "catch_up_missed_runs", "cron_housekeeping", "heartbeat", "prune_finished_timed_tasks",
           "prune_old_runs"]

PRUNE_CHUNK = 1000
PRUNE_MAX_CHUNKS = 20  # bounded work per heartbeat; a big backlog shrinks over several beats


def catch_up_missed_runs(now: datetime | None = None) -> list:
    """Start each catch-up slot (trigger catch-up) in a detached process of its own; its output
    goes to ``logs/crontab/cron-<job>.out`` as under a crontab line. Returns the launches."""
    from basic.cron_runtime.engines import launcher
    from basic.cron_runtime.installer import cron_output_path

    now = now or timezone.now()
    # A job whose own crontab line fires this minute needs no catch-up: that run covers its backlog
    # (unless it runs every missed slot, catch_up="all": the line runs only its own).
    jobs = [job for job in all_jobs() if not is_due(job.schedule, now) or job.options.catch_up == "all"]
    return [launcher.launch(due, output_path=cron_output_path(due.job)) for due in catch_up_slots(now, jobs=jobs)]


def prune_old_runs(now: datetime | None = None) -> int:
    """Delete run records older than CRON_RUN_RETENTION_DAYS, in bounded chunks.

    The latest run of each job is always kept (it is the job's 'last run' on the dashboard
    and the start of its catch-up horizon). Only runs already in their job's tally are deleted
    (run_totals.folded_q), so /metrics' counters never go down.
    """
    cutoff = (now or timezone.now()) - timedelta(days=conf.CRON_RUN_RETENTION_DAYS)
    keep = set(JobRun.objects.values("job").annotate(last=Max("id")).values_list("last", flat=True))
    folded = folded_q()
    deleted = 0
    for _ in range(PRUNE_MAX_CHUNKS):
        ids = list(JobRun.objects.filter(folded, started_at__lt=cutoff).exclude(pk__in=keep)
                   .values_list("pk", flat=True)[:PRUNE_CHUNK])
        if not ids:
            break
        deleted += JobRun.objects.filter(pk__in=ids).delete()[1].get(JobRun._meta.label, 0)
    return deleted


def prune_finished_timed_tasks(now: datetime | None = None) -> int:
    """Delete timed tasks finished more than TIMED_TASK_RETENTION_DAYS ago, in bounded chunks.

    Pending tasks are never touched, however old. The walk follows the run_at index from the
    oldest task: a finished task ran at or after its run_at, so the candidates are among those.
    """
    cutoff = (now or timezone.now()) - timedelta(days=conf.TIMED_TASK_RETENTION_DAYS)
    finished = TimedTask.objects.filter(run_at__lt=cutoff, finish_time__lt=cutoff).exclude(status=TimedTaskStatus.PENDING)
    deleted = 0
    for _ in range(PRUNE_MAX_CHUNKS):
        ids = list(finished.order_by("run_at").values_list("pk", flat=True)[:PRUNE_CHUNK])
        if not ids:
            break
        deleted += TimedTask.objects.filter(pk__in=ids).exclude(status=TimedTaskStatus.PENDING).delete()[0]
    return deleted


def cron_housekeeping(now: datetime | None = None) -> JobReport:
    """The heartbeat's work: close abandoned runs, start catch-up runs (unless the engine that
    started this heartbeat ticks for itself), fold finished runs into the metrics' tallies, prune
    old records; one line for its run record."""
    from basic.cron_runtime.running.runner import alert_admins, current_run  # the runner imports this module's users

    abandoned = close_abandoned_runs(now)
    for run in abandoned:  # a run that died is a failure: staff hear of it as of any other
        alert_admins(run)
    heartbeat = current_run()
    if heartbeat and heartbeat.trigger in SCHEDULING_ENGINES:  # the scheduler beats: end an alerted outage
        scheduler_alert_recovered(host=heartbeat.host)
    launched = [] if heartbeat and heartbeat.trigger in ENGINES_WITH_OWN_CATCH_UP else catch_up_missed_runs(now)
    fold_finished_runs(now)  # before pruning: only folded runs may be deleted
    pruned = prune_old_runs(now)
    pruned_tasks = prune_finished_timed_tasks(now)
    parts = ["alive"]
    if abandoned:
        parts.append("closed abandoned runs: " + ", ".join(f"{run.job} #{run.pk}" for run in abandoned))
    if launched:
        parts.append("started catch-up: " + ", ".join(
            f"{started.due.job.name} for {slot_label(started.due.slot)} "
            + (f"(pid {started.pid})" if started.process else f"(could not start: {started.error})")
            for started in launched))
    if pruned:
        parts.append(f"pruned {pruned} old run records")
    if pruned_tasks:
        parts.append(f"pruned {pruned_tasks} finished timed tasks")
    return JobReport(items_processed=len(launched), message="; ".join(parts))


def heartbeat() -> JobReport:
    """Proof that the scheduler is alive; also catches up missed runs and prunes old run records."""
    return cron_housekeeping()
