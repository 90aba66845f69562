"""Pause and resume one job: ``cronjobs pause NAME --reason … [--until …]``, ``cronjobs resume NAME``,
and the buttons on the staff job page.

A paused job is started by no engine: the tick path (``ticks.slots_due``, which cron's
`cronjobs tick`, `serve` and Celery beat ask) leaves it out, the catch-up and retries leave it
out, and the runner refuses a scheduled start of it without a record (a crontab line, a Celery
message sent before the pause). A run already under way when the pause commits finishes. A
staff member's Run now (and a sysadmin's `cronjobs run`) still runs it, with a warning.

A pause with ``until`` ends by itself at that minute. Either way, the slots that fell in the pause
are not made up: the job's catch-up horizon starts at the end of the pause (``pause_ended_at``).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from django.db import connection, transaction
from django.utils import timezone

from basic.cron_runtime.models import JobPause
from basic.cron_runtime.sql_names import column, table
from basic.cron_runtime.scheduling.registry import HEARTBEAT_JOB, Job
from basic.cron_runtime.scheduling.schedule import slot_label

REASON_MAX = 500


class PauseRefused(ValueError):
    """The pause or resume cannot be done as asked; the message says why and what to do."""


@dataclass(frozen=True)
class PauseState:
    """A job paused now: by whom, since when, why, until when (None = until resumed)."""

    job: str
    paused_by: str
    paused_at: datetime
    reason: str
    until: datetime | None

    def describe(self) -> str:
        until = f" until {slot_label(self.until)}" if self.until else " until resumed"
        return (f"{self.job}: paused{until} — by {self.paused_by} at {slot_label(self.paused_at)}: {self.reason}; "
                "its slots are not run meanwhile, nor made up after")


def _in_force(pause: JobPause, now: datetime) -> bool:
    return pause.paused and (pause.until is None or pause.until > now)


def _state(pause: JobPause) -> PauseState:
    return PauseState(job=pause.job, paused_by=pause.paused_by, paused_at=pause.paused_at, reason=pause.reason,
                      until=pause.until)


def paused_jobs(now: datetime | None = None) -> dict[str, PauseState]:
    """Every job paused at ``now``, by name (one query)."""
    now = now or timezone.now()
    return {pause.job: _state(pause) for pause in JobPause.objects.filter(paused=True) if _in_force(pause, now)}


def job_pause_state(name: str, now: datetime | None = None) -> PauseState | None:
    pause = JobPause.objects.filter(job=name, paused=True).first()
    return _state(pause) if pause is not None and _in_force(pause, now or timezone.now()) else None


def pause_in_force_sql(name: str, now: datetime) -> tuple[str, list]:
    """SQL (and its parameters) true while ``name`` is paused at ``now``, the rule of ``_in_force``: for a
    statement that must not act on a paused job, so that the pause is read in that very statement (the
    runner's lease, lease.py). Written out, not built by the ORM: that took longer than the statement."""
    return _pause_in_force_sql(connection.vendor), [name, True, connection.ops.adapt_datetimefield_value(now)]


@lru_cache
def _pause_in_force_sql(vendor: str) -> str:
    until = column(JobPause, "until")
    return (f"EXISTS (SELECT 1 FROM {table(JobPause)} WHERE {column(JobPause, 'job')} = %s "
            f"AND {column(JobPause, 'paused')} = %s AND ({until} IS NULL OR {until} > %s))")


def is_paused(name: str, now: datetime | None = None) -> bool:
    return job_pause_state(name, now) is not None


def pause_ended_at(name: str, now: datetime | None = None) -> datetime | None:
    """When the job's latest pause ended (resumed, or its ``until`` passed); None if never paused or still paused.
    Slots before it are not caught up: they fell in the pause, or before it."""
    pause = JobPause.objects.filter(job=name).first()
    return _ended_at(pause, now or timezone.now())


def _ended_at(pause: JobPause | None, now: datetime) -> datetime | None:
    if pause is None:
        return None
    if not pause.paused:
        return pause.resumed_at
    return pause.until if pause.until is not None and pause.until <= now else None


def pause_ends(now: datetime | None = None) -> dict[str, datetime]:
    """The end of each job's latest pause, for the jobs whose pause has ended (one query)."""
    return pause_overview(now)[1]


def pause_overview(now: datetime | None = None) -> tuple[dict[str, PauseState], dict[str, datetime]]:
    """(the jobs paused now, the end of each ended pause), in one query: what a tick needs."""
    now = now or timezone.now()
    paused, ends = {}, {}
    for pause in JobPause.objects.all():
        if _in_force(pause, now):
            paused[pause.job] = _state(pause)
        elif (end := _ended_at(pause, now)) is not None:
            ends[pause.job] = end
    return paused, ends


def pausable(job: Job) -> bool:
    """Every job but the heartbeat: it is the proof that the scheduler runs, and it closes abandoned runs."""
    return job.name != HEARTBEAT_JOB


def job_pause(*, job: Job, by: str, reason: str, until: datetime | None = None,
              now: datetime | None = None) -> PauseState:
    """Pause ``job`` from now (until ``until``, or until resumed). Pausing a paused job replaces its
    reason and end. Refused: no reason, an end in the past, the heartbeat (the scheduler's proof of life)."""
    now = now or timezone.now()
    reason = " ".join((reason or "").split())
    if not reason:
        raise PauseRefused(f"{job.name}: say why it is paused (--reason \"…\"): the job page and "
                           "`cronjobs status` show it to whoever wonders why it does not run")
    if len(reason) > REASON_MAX:
        raise PauseRefused(f"{job.name}: the reason is {len(reason)} characters long; at most {REASON_MAX}")
    if not pausable(job):
        raise PauseRefused("the heartbeat cannot be paused: it is the proof that the scheduler runs, and it closes "
                           "abandoned runs; pause the jobs themselves instead")
    if until is not None and until <= now:
        raise PauseRefused(f"{job.name}: --until {slot_label(until)} is not in the future")
    with transaction.atomic():
        JobPause.objects.update_or_create(job=job.name, defaults={
            "paused": True, "paused_at": now, "paused_by": by[:150], "reason": reason, "until": until,
            "resumed_at": None, "resumed_by": "",
        })
    return PauseState(job=job.name, paused_by=by[:150], paused_at=now, reason=reason, until=until)


def job_resume(*, job: Job, by: str, now: datetime | None = None) -> PauseState:
    """Resume ``job``: its next slot runs; the slots of the pause are not made up. Returns the pause
    it ended. Refused when the job is not paused (or its pause has already run out)."""
    now = now or timezone.now()
    with transaction.atomic():
        pause = JobPause.objects.select_for_update().filter(job=job.name, paused=True).first()
        if pause is None or not _in_force(pause, now):
            raise PauseRefused(f"{job.name} is not paused")
        pause.paused, pause.resumed_at, pause.resumed_by = False, now, by[:150]
        pause.save(update_fields=["paused", "resumed_at", "resumed_by"])
    return _state(pause)
