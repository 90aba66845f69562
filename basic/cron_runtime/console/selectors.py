"""Reads for the staff cron console: the dashboard, one job's page, the timed tasks.

Job health (failed, overdue, running too long, heartbeat, problems) is the cron
runtime's (basic.cron_runtime.observability.health) — the same functions `cronjobs status` and
/healthz/cron use — so the dashboard can never disagree with them.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.paginator import Page
from django.utils import timezone

from basic.cron_runtime import conf
from basic.cron_runtime.console.charts import Chart, ChartSeries, bar_chart, duration_unit
from basic.cron_runtime.observability import health
from basic.cron_runtime.scheduling.engine import CELERY
from basic.cron_runtime.observability.health import JobState, crontab_drift
from basic.cron_runtime.running.joblog import job_log_path
from basic.cron_runtime.console.logtail import log_tail
from basic.cron_runtime.models import JobRun, RunOutcome, TimedTask, TimedTaskStatus
from basic.cron_runtime.console.paging import BoundedPaginator
from basic.cron_runtime.scheduling.registry import Job
from basic.cron_runtime.observability.starter import JobStarter, LastSeen

RUNS_PER_PAGE = 25
TASKS_PER_PAGE = 50
CHART_RUNS = 40
LOG_TAIL_LINES = 200
# Bars of the runs that did not simply succeed; terminated in the orange of its badge (.badge-terminated).
OUTCOME_COLORS = {RunOutcome.FAILED: "#c0392b", RunOutcome.SKIPPED: "#cbd5e1", RunOutcome.TERMINATED: "#ea580c"}


@dataclass(frozen=True)
class CronDashboard:
    states: list[JobState]
    problems: list[str]
    heartbeat_age: timedelta | None
    heartbeat_stale: bool
    heartbeat_stale_after: int
    crontab_drift: list[str]
    now: datetime
    time_zone: str
    engine: str  # one line (Chinese, HTML): who starts the jobs on this host (starter.py)
    uses_celery: bool
    starter: JobStarter
    last_seen: LastSeen | None  # which engine started the latest heartbeat, on which host


def cron_dashboard(*, now: datetime | None = None) -> CronDashboard:
    snapshot = health.health_snapshot(now)  # states, problems and heartbeat computed once
    return CronDashboard(
        states=snapshot.states,
        problems=snapshot.problems,
        heartbeat_age=snapshot.heartbeat_age,
        heartbeat_stale=snapshot.heartbeat_stale,
        heartbeat_stale_after=conf.CRON_HEARTBEAT_STALE_AFTER,
        crontab_drift=crontab_drift(),
        now=snapshot.now,
        time_zone=settings.TIME_ZONE,
        engine=snapshot.starter.line_zh,
        uses_celery=snapshot.engine == CELERY,
        starter=snapshot.starter,
        last_seen=snapshot.last_seen,
    )


def job_state(*, job: Job, now: datetime | None = None) -> JobState | None:
    return health.job_state(job, now)


def job_run_history(*, job: Job, outcome: str | None = None, trigger: str | None = None, page: int | str = 1) -> Page:
    runs = JobRun.objects.filter(job=job.name).select_related("triggered_by").order_by("-started_at", "-id")
    if outcome:
        runs = runs.filter(outcome=outcome)
    if trigger:
        runs = runs.filter(trigger=trigger)
    return BoundedPaginator(runs, RUNS_PER_PAGE).get_page(page)


def job_last_failed_run(*, job: Job) -> JobRun | None:
    return JobRun.objects.filter(job=job.name, outcome=RunOutcome.FAILED).order_by("-started_at", "-id").first()


def job_run_charts(*, job: Job) -> tuple[Chart, Chart]:
    """Duration and items of the job's latest finished runs, oldest left; failed runs in red,
    skipped ones grey, terminated ones orange.

    The duration axis's unit follows the longest run (ms, s, min, h); hovering a bar or the
    table says each run's outcome."""
    runs = list(
        JobRun.objects.filter(job=job.name, finished_at__isnull=False).order_by("-started_at", "-id")[:CHART_RUNS]
    )[::-1]
    labels = [f"#{run.pk}" for run in runs]
    colors = [OUTCOME_COLORS.get(run.outcome) for run in runs]
    outcomes = [run.outcome for run in runs]
    durations = bar_chart(
        id="chart-duration", title="耗时", labels=labels, height=200, unit=duration_unit, notes=outcomes,
        series=[ChartSeries("耗时", [run.duration.total_seconds() for run in runs], "#2563eb", colors)],
    )
    items = bar_chart(
        id="chart-items", title="处理条数", labels=labels, height=200, notes=outcomes,
        series=[ChartSeries("条数", [run.items_processed for run in runs], "#12805c", colors)],
    )
    return durations, items


def job_log_tail(*, job: Job, level: str | None = None, contains: str | None = None) -> list[str]:
    """The end of logs/crontab/<job>.log; the path comes from the registry's job name only."""
    return log_tail(job_log_path(job.name), lines=LOG_TAIL_LINES, level=level or None, contains=contains or None)


def timed_task_page(*, status: int | None = None, overdue: bool = False, name: str = "", page=1,
                    now: datetime | None = None) -> Page:
    """Timed tasks, latest run time first: by status, only overdue (pending past run_at), name contains."""
    tasks = TimedTask.objects.all()
    if status is not None:
        tasks = tasks.filter(status=status)
    if overdue:
        tasks = tasks.filter(status=TimedTaskStatus.PENDING, run_at__lt=now or timezone.now())
    if name:
        tasks = tasks.filter(name__icontains=name)
    return BoundedPaginator(tasks.order_by("-run_at", "-id"), TASKS_PER_PAGE).get_page(page)


def timed_task_counts(*, now: datetime | None = None) -> dict[str, int | str]:
    """How many timed tasks are in each status, and how many pending ones are overdue.

    Each count reads at most COUNT_CAP + 1 entries of the (status, next_attempt_at) index, so the
    page costs the same with a year of tasks; above the cap it says "10,000+".
    """
    now = now or timezone.now()
    counts: dict[str, int | str] = {}
    for status in TimedTaskStatus:
        n = _capped_count(TimedTask.objects.filter(status=status))
        if n:
            counts[status.label] = n
    counts["overdue"] = _capped_count(TimedTask.objects.filter(status=TimedTaskStatus.PENDING, run_at__lt=now))
    return counts


COUNT_CAP = 10_000


def _capped_count(rows) -> int | str:
    n = rows.order_by()[: COUNT_CAP + 1].count()
    return f"{COUNT_CAP:,}+" if n > COUNT_CAP else n
