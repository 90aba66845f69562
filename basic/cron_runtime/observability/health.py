"""Read-only views of the jobs' health, for `cronjobs list|status`, the staff dashboard and /healthz/cron.

One computation behind all three, so they always agree. The public functions (``job_states``,
``problems``, ``health_snapshot``, ``health_report``, …; all take an optional ``now`` for tests)
are listed in docs/cron.md ("Health API").
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from basic.cron_runtime import conf
from basic.cron_runtime.running.alerts import scheduler_alert_if_stale
from basic.cron_runtime.scheduling.engine import CRON, BrokerStatus, broker_status, engine
from basic.cron_runtime.installer import crontab_drift
from basic.cron_runtime.models import JobLock, JobRun, RunOutcome
from basic.cron_runtime.scheduling.pausing import PauseState, pause_overview
from basic.cron_runtime.scheduling.registry import Job, all_jobs
from basic.cron_runtime.scheduling.schedule import describe, installed_schedule, interval_at, next_run
from basic.cron_runtime.observability.starter import JobStarter, LastSeen, heartbeat_hint, jobs_starter, scheduler_last_seen
from basic.cron_runtime.scheduling.ticks import HEARTBEAT_JOB, SCHEDULING_ENGINES, install_time, missed_tick

__all__ = ["HealthSnapshot", "JobState", "crontab_drift", "health_report", "health_snapshot", "heartbeat_age",
           "heartbeat_alert_if_stale", "heartbeat_stale", "is_healthy", "job_state", "job_states", "problems"]

RUNNING_TOO_LONG_AT_LEAST = timedelta(minutes=10)


@dataclass
class JobState:
    job: Job
    name: str
    schedule: str  # as in CRONJOBS, TIME_ZONE wall-clock
    description: str  # plain language (English)
    description_zh: str
    installed_schedule: str  # what `crontab add` installs on this host
    widened: bool
    widened_reason: str
    next_run: datetime  # in TIME_ZONE
    last_run: JobRun | None  # the latest record, whatever its outcome (running, skipped too)
    last_completed: JobRun | None  # the latest succeeded or failed run
    running: bool  # a live run holds the lock now
    running_since: datetime | None
    running_too_long: bool  # see _too_long()
    overdue: bool  # its latest tick (past a grace period) has no run; never while paused
    missed_tick: datetime | None
    paused: PauseState | None = None  # paused now (pausing.py): by whom, when, why, until when

    @property
    def last_outcome(self) -> str | None:
        return self.last_completed.outcome if self.last_completed else None

    @property
    def last_duration(self) -> timedelta | None:
        return self.last_completed.duration if self.last_completed else None

    @property
    def last_items(self) -> int | None:
        return self.last_completed.items_processed if self.last_completed else None

    @property
    def failed(self) -> bool:
        return self.last_outcome == RunOutcome.FAILED


def job_states(now: datetime | None = None) -> list[JobState]:
    now = now or timezone.now()
    installed = install_time()
    paused, ended = pause_overview(now)
    return [_job_state(job, now, installed, paused.get(job.name), ended.get(job.name)) for job in all_jobs()]


def job_state(job: Job, now: datetime | None = None) -> JobState:
    """The state of one job (its own rows only, plus the install time)."""
    now = now or timezone.now()
    paused, ended = pause_overview(now)
    return _job_state(job, now, install_time(), paused.get(job.name), ended.get(job.name))


def latest_run(job_name: str, outcomes=None) -> JobRun | None:
    """The job's latest run (by start, then id), among ``outcomes`` if given.

    Never sorts the job's history: each lookup is one step down an index, (job, started_at, id)
    or, per outcome, (job, outcome, started_at, id); with outcomes, the newest of those rows.
    """
    runs = JobRun.objects.filter(job=job_name).order_by("-started_at", "-id")
    if outcomes is None:
        return runs.first()
    found = [run for run in (runs.filter(outcome=outcome).first() for outcome in outcomes) if run is not None]
    return max(found, key=lambda run: (run.started_at, run.pk), default=None)


def _job_state(job: Job, now: datetime, installed: datetime | None, paused: PauseState | None = None,
               pause_end: datetime | None = None) -> JobState:
    runs = JobRun.objects.filter(job=job.name).order_by("-started_at", "-id")
    last_run = latest_run(job.name)
    last_completed = latest_run(job.name, [RunOutcome.SUCCEEDED, RunOutcome.FAILED])
    lock = JobLock.objects.filter(job=job.name).first()
    running = bool(lock and lock.held_at(now))
    running_since = lock.acquired_at if running else None
    worked = last_run if last_run is None or last_run.outcome != RunOutcome.SKIPPED else latest_run(
        job.name, [outcome for outcome in RunOutcome.values if outcome != RunOutcome.SKIPPED])
    last_ran = worked.started_at if worked else None
    if pause_end is not None and (last_ran is None or last_ran < pause_end):
        last_ran = pause_end  # the slots of a pause are not made up, so not overdue either
    tick = None if running or paused else missed_tick(job, last_started=last_ran, installed=installed, now=now)
    sched = installed_schedule(job.schedule, now)
    return JobState(
        job=job, name=job.name, schedule=job.schedule,
        description=describe(job.schedule), description_zh=describe(job.schedule, "zh_CN"),
        installed_schedule=sched.schedule, widened=sched.widened, widened_reason=sched.reason,
        next_run=next_run(job.schedule, now),
        last_run=last_run, last_completed=last_completed,
        running=running, running_since=running_since,
        running_too_long=bool(running_since and now - running_since > _too_long(job, runs, now)),
        overdue=tick is not None, missed_tick=tick, paused=paused,
    )


def _too_long(job: Job, runs, now: datetime) -> timedelta:
    """When a run becomes suspicious: past 3× the longest of the job's last 10 runs, or past its
    interval (the next tick would be skipped) if sooner — but never before 10 minutes."""
    interval = interval_at(job.schedule, now)
    recent = [run.duration for run in runs.filter(finished_at__isnull=False)
              .exclude(outcome=RunOutcome.SKIPPED)[:10]]
    usual = min(3 * max(recent), interval) if recent else interval
    return max(RUNNING_TOO_LONG_AT_LEAST, usual)


def heartbeat_age(now: datetime | None = None) -> timedelta | None:
    """Time since a scheduling engine last started the heartbeat, or None if none ever did.

    Any outcome counts — running, skipped, succeeded, failed: each record proves the engine
    fired (a slot another engine already ran is a skipped record, and still a beat). Only the
    engines count — the cron daemon's lines (trigger ``cron``), ``cronjobs serve``/``tick``
    (``ticker``), Celery beat (``celery``): a staff "Run now" or a sysadmin's
    ``cronjobs run heartbeat`` says nothing about the scheduler and must not mask a dead one.
    """
    started = (JobRun.objects.filter(job=HEARTBEAT_JOB, trigger__in=SCHEDULING_ENGINES)
               .order_by("-started_at").values_list("started_at", flat=True).first())
    return max(timedelta(0), (now or timezone.now()) - started) if started else None


def heartbeat_stale(age: timedelta | None) -> bool:
    return age is None or age.total_seconds() > conf.CRON_HEARTBEAT_STALE_AFTER


def heartbeat_alert_if_stale(snapshot: "HealthSnapshot") -> bool:
    """Alert staff once per outage when the snapshot finds the heartbeat stale (see alerts.py)."""
    return scheduler_alert_if_stale(age=snapshot.heartbeat_age, stale_after=conf.CRON_HEARTBEAT_STALE_AFTER,
                                    hint=heartbeat_hint(starter=snapshot.starter))


@dataclass(frozen=True)
class HealthSnapshot:
    """Everything the health views need, computed once."""

    states: list[JobState]
    problems: list[str]  # with the failed runs' messages (staff, sysadmins)
    public_problems: list[str]  # the same lines without those messages (anonymous /healthz/cron)
    heartbeat_age: timedelta | None
    heartbeat_stale: bool  # never beat, or older than CRON_HEARTBEAT_STALE_AFTER
    now: datetime
    engine: str = CRON  # settings.SCHEDULER
    broker: BrokerStatus | None = None  # under Celery: can the broker be reached, what waits in its queues
    starter: JobStarter | None = None  # who starts the jobs on this host (starter.py)
    last_seen: LastSeen | None = None  # which engine started the latest heartbeat, where

    @property
    def healthy(self) -> bool:
        return not self.problems


def health_snapshot(now: datetime | None = None) -> HealthSnapshot:
    now = now or timezone.now()
    states = job_states(now)
    has_heartbeat = any(state.name == HEARTBEAT_JOB for state in states)
    age = heartbeat_age(now) if has_heartbeat else None
    broker = broker_status()
    starter = jobs_starter(broker=broker)
    return HealthSnapshot(
        states=states,
        problems=_problems(states, age, has_heartbeat, broker, starter, details=True),
        public_problems=_problems(states, age, has_heartbeat, broker, starter, details=False),
        heartbeat_age=age,
        heartbeat_stale=heartbeat_stale(age),
        now=now,
        engine=engine(),
        broker=broker,
        starter=starter,
        last_seen=scheduler_last_seen(now) if has_heartbeat else None,
    )


def _local(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z")


def problems(now: datetime | None = None) -> list[str]:
    return health_snapshot(now).problems


def _problems(states: list[JobState], age: timedelta | None, has_heartbeat: bool, broker: BrokerStatus | None,
              starter: JobStarter, *, details: bool) -> list[str]:
    lines = []
    if broker is not None and not broker.reachable:  # first: it explains the stale heartbeat and overdue jobs below
        lines.append(broker.problem if details else broker.public_problem)
    for state in states:
        if state.failed:
            run = state.last_completed
            line = f"{state.name}: failed last time ({_local(run.started_at)}, run #{run.pk})"
            if details:  # the message may hold exception text (paths, SQL, addresses): staff only
                line += ": " + (run.message.splitlines() or ["no message"])[0]
            lines.append(line)
        if state.overdue and state.name != HEARTBEAT_JOB:  # a late heartbeat is reported as stale below
            last = f"last run {_local(state.last_run.started_at)}" if state.last_run else "never ran"
            lines.append(f"{state.name}: overdue — due at {_local(state.missed_tick)}, {last}")
        if state.running_too_long:
            lines.append(f"{state.name}: running since {_local(state.running_since)} — longer than expected")
    if has_heartbeat:
        stale_after = conf.CRON_HEARTBEAT_STALE_AFTER
        if age is None:
            lines.append(f"heartbeat: never beat — {heartbeat_hint(starter=starter)}")
        elif age.total_seconds() > stale_after:
            lines.append(f"heartbeat: last beat {int(age.total_seconds())} s ago (stale after {stale_after} s) — "
                         f"{heartbeat_hint(starter=starter)}")
    return lines


def is_healthy(now: datetime | None = None) -> bool:
    return not problems(now)


def health_report(now: datetime | None = None, *, details: bool = True,
                  snapshot: HealthSnapshot | None = None) -> dict:
    """Everything a monitor needs, JSON-serialisable: ``healthy`` decides 200 vs 503.

    ``details=False`` (anonymous callers of /healthz/cron): problem lines without the failed
    runs' messages; job names, flags and ages only.
    """
    snap = snapshot or health_snapshot(now)
    age = snap.heartbeat_age

    def iso(moment):
        return timezone.localtime(moment).isoformat() if moment else None

    return {
        "healthy": snap.healthy,
        "problems": snap.problems if details else snap.public_problems,
        "heartbeat_age_seconds": round(age.total_seconds()) if age is not None else None,
        "heartbeat_stale": snap.heartbeat_stale,
        "time_zone": settings.TIME_ZONE,
        "engine": snap.engine,
        # Who starts the jobs on this host (crontab, serve, celery or nobody), and the one line saying so.
        **({"started_by": snap.starter.kind, "started_by_line": snap.starter.line if details else None}
           if snap.starter else {}),
        "last_seen": ({"engine": snap.last_seen.trigger, "host": snap.last_seen.host if details else None,
                       "age_seconds": round(snap.last_seen.age.total_seconds())} if snap.last_seen else None),
        **({"broker": {"reachable": snap.broker.reachable, "waiting": snap.broker.waiting}} if snap.broker else {}),
        "jobs": [
            {
                "name": s.name, "schedule": s.schedule, "next_run": iso(s.next_run),
                "last_outcome": s.last_outcome,
                "last_run_started": iso(s.last_completed.started_at) if s.last_completed else None,
                "running": s.running, "overdue": s.overdue, "failed": s.failed,
                "running_too_long": s.running_too_long,
                "paused": s.paused is not None,
                **({"paused_until": iso(s.paused.until)} if s.paused else {}),
            }
            for s in snap.states
        ],
    }
