"""One tick path: which (job, slot) pairs are due at a minute, whoever asks.

Every engine (the crontab lines, ``cronjobs tick`` and ``serve``, Celery beat) asks
``slots_due(minute)`` and runs each ``DueSlot`` through ``runner.run_job``; the catch-up of
missed ticks lives here too. docs/cron.md ("How a job is started") has the whole story.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from django.db import connection
from django.db.models import Q, Subquery
from django.utils import timezone

from basic.cron_runtime.scheduling.job_options import CATCH_UP_ALL_LIMIT
from basic.cron_runtime.models import JobLock, JobRun, RunOutcome, RunTrigger
from basic.cron_runtime.scheduling.pausing import pause_ends, pause_overview
from basic.cron_runtime.scheduling.registry import HEARTBEAT_JOB, Job, all_jobs
from basic.cron_runtime.scheduling.retries import retry_due
from basic.cron_runtime.scheduling.schedule import as_slot, business_tz, interval_at, is_due, previous_run, slot_label

# The triggers of runs a scheduler started on its own: a heartbeat started by one of them proves
# that the jobs are being started (manual, catch-up and timed runs prove nothing of the kind).
SCHEDULING_ENGINES = frozenset({RunTrigger.CRON, RunTrigger.TICKER, RunTrigger.CELERY})
# Engines that call slots_due() on every tick and so launch the catch-up slots themselves. Under
# plain OS cron (trigger cron: one crontab line per job, no tick process) the heartbeat does it.
ENGINES_WITH_OWN_CATCH_UP = frozenset({RunTrigger.TICKER, RunTrigger.CELERY})


@dataclass(frozen=True)
class DueSlot:
    """One run to start: ``job`` for ``slot`` (UTC minute), recorded with ``trigger``.

    ``attempt`` > 1: a retry of the slot. ``backlog``: more slots the same process runs after this
    one, in order, one at a time (a job with ``catch_up="all"``)."""

    job: Job
    slot: datetime
    trigger: str
    attempt: int = 1
    backlog: tuple[datetime, ...] = ()

    @property
    def slots(self) -> tuple[datetime, ...]:
        return (self.slot, *self.backlog)

    def __str__(self) -> str:
        text = f"{self.job.name} {slot_label(self.slot)}"
        if self.backlog:
            text += f" and {len(self.backlog)} more slot(s) to {slot_label(self.backlog[-1])}"
        if self.trigger == RunTrigger.CATCH_UP:
            text += " (catch-up)"
        elif self.trigger == RunTrigger.RETRY:
            text += f" (retry, attempt {self.attempt} of {self.job.options.attempts})"
        return text


MINUTE_FORMAT = "YYYY-MM-DD HH:MM"


def parse_minute(text: str) -> datetime:
    """``"YYYY-MM-DD HH:MM"`` in TIME_ZONE (or an ISO 8601 time with its offset) → that minute, UTC.

    ValueError names the expected format. A wall-clock time that does not exist in TIME_ZONE
    (skipped when the clocks go forward) is refused; a repeated one means its first pass.
    """
    text = text.strip()
    try:
        moment = datetime.strptime(text, "%Y-%m-%d %H:%M")
    except ValueError:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            moment = None
        if moment is None or timezone.is_naive(moment):
            raise ValueError(f"{text!r} is not a time like {MINUTE_FORMAT!r} "
                             f"(in TIME_ZONE, {business_tz().key}), e.g. '2026-12-01 08:00'") from None
        return as_slot(moment)
    local = moment.replace(tzinfo=business_tz())
    if local.astimezone(UTC).astimezone(business_tz()).replace(tzinfo=None) != moment:
        raise ValueError(f"{text!r} does not exist in {business_tz().key} (the clocks skip it)")
    return as_slot(local)


def slots_due(minute: datetime, *, now: datetime | None = None, trigger: str = RunTrigger.CRON,
              skipped_from: datetime | None = None) -> list[DueSlot]:
    """Every job due at ``minute`` in TIME_ZONE (with ``trigger``), then catch-up slots of missed runs.

    - ``now``: when the question is asked, for the catch-up's grace periods; default ``minute``
      (so ``cronjobs tick --at`` replays a minute, catch-up included).
    - ``skipped_from``: the first minute an engine that ticks every minute could not tick on time
      (it was stopped, or a tick took longer than a minute). Each job due in
      [skipped_from, minute) gets a catch-up slot at once, no grace: the latest one it missed.
    - A job due at ``minute`` gets no catch-up slot: its run now covers its backlog (the jobs
      catch up on their own work, e.g. every missing finance month). Nor does the heartbeat (its
      beat now is the proof of life) or a job whose run is still going (its lease is live).
    - A paused job (pausing.py) gets no slot at all. A job with ``catch_up="all"`` due at ``minute``
      with missed slots gets one DueSlot that runs them, oldest first, and then ``minute``.
    """
    minute = as_slot(minute)
    pauses = pause_overview(now or minute)  # read once for the jobs due now and the catch-up alike
    paused = pauses[0]
    jobs = [job for job in all_jobs() if job.name not in paused]
    busy = running_jobs() if any(job.options.catch_up == "all" for job in jobs) else set()
    due, on_time = [], set()
    for job in jobs:
        if not is_due(job.schedule, minute):
            continue
        on_time.add(job.name)
        missed = _missed_slots(job, now=now or minute, before=minute, wait=timedelta(0)) \
            if job.options.catch_up == "all" and job.name not in busy else []
        if missed:
            due.append(DueSlot(job, missed[0], RunTrigger.CATCH_UP, backlog=(*missed[1:], minute)))
        else:
            due.append(DueSlot(job, minute, trigger))
    return due + catch_up_slots(now or minute, jobs=[job for job in jobs if job.name not in on_time],
                                skipped_from=skipped_from, before=minute, pauses=pauses)


def catch_up_slots(now: datetime | None = None, *, jobs: list[Job] | None = None,
                   skipped_from: datetime | None = None, before: datetime | None = None,
                   pauses: tuple[dict, dict] | None = None) -> list[DueSlot]:
    """One catch-up slot per job that missed its latest tick (see ``slots_due``), or the retry of its
    failed latest slot (retries.py). Each job's ``catch_up`` policy decides: ``latest`` (default),
    ``all`` (every missed slot in one DueSlot, oldest first) or ``none``; ``grace`` drops a missed
    slot that is later than that. A paused job gets none, and the slots of its pause are not made up.
    ``pauses``: ``pause_overview(now)`` when the caller has read it already."""
    if jobs is not None and not jobs:  # every job is due on time (or paused): no query to make
        return []
    now = now or timezone.now()
    paused, ended = pauses if pauses is not None else pause_overview(now)
    jobs = [job for job in (all_jobs() if jobs is None else jobs) if job.name not in paused]
    installed = install_time()
    busy = running_jobs()
    jobs = [job for job in jobs if job.name != HEARTBEAT_JOB and job.name not in busy]
    last = last_runs([job for job in jobs if job.options.catch_up == "latest"])
    slots = []
    for job in jobs:
        due = _catch_up_slot(job, now=now, installed=installed, pause_end=ended.get(job.name),
                             skipped_from=skipped_from, before=before, last=last.get(job.name, NEVER_RAN))
        if due is None:
            retry = retry_due(job, now, not_before=ended.get(job.name))
            due = DueSlot(job, retry[0], RunTrigger.RETRY, attempt=retry[1]) if retry else None
        if due is not None:
            slots.append(due)
    return slots


def _catch_up_slot(job: Job, *, now: datetime, installed: datetime | None, pause_end: datetime | None,
                   skipped_from: datetime | None, before: datetime | None, last: LastRuns) -> DueSlot | None:
    policy = job.options.catch_up
    if policy == "none":
        return None
    if policy == "all":
        missed = _missed_slots(job, now=now, before=before or now, wait=None if skipped_from is None else timedelta(0))
        return DueSlot(job, missed[0], RunTrigger.CATCH_UP, backlog=tuple(missed[1:])) if missed else None
    tick = None
    if skipped_from is not None:
        latest = previous_run(job.schedule, (before or now) - timedelta(minutes=1))
        if latest >= as_slot(skipped_from) and not last.ran_since(latest) and _after(latest, pause_end):
            tick = latest
    if tick is None:
        tick = missed_tick(job, last_started=_latest(last.started, pause_end), installed=installed, now=now)
        if tick is not None and last.ran_since(tick):  # a run for that slot started before it (a replayed minute)
            tick = None
    if tick is None or not _within_grace(job, tick, now):
        return None
    return DueSlot(job, as_slot(tick), RunTrigger.CATCH_UP)


def _latest(*moments: datetime | None) -> datetime | None:
    known = [moment for moment in moments if moment is not None]
    return max(known) if known else None


def _after(tick: datetime, moment: datetime | None) -> bool:
    return moment is None or tick > moment


def _within_grace(job: Job, tick: datetime, now: datetime) -> bool:
    """The job's ``grace`` option: a missed slot later than that is not run (None: however late)."""
    return job.options.grace is None or now - tick <= timedelta(seconds=job.options.grace)


def _missed_slots(job: Job, *, now: datetime, before: datetime, wait: timedelta | None) -> list[datetime]:
    """``catch_up="all"``: the job's slots before ``before`` (and older than ``wait``, default its grace
    period) that no run ran, oldest first: since its first run still on record (never before the
    install, the end of its pause), within its ``grace``, at most CATCH_UP_ALL_LIMIT of them."""
    wait = grace_period(job, now) if wait is None else wait
    first = JobRun.objects.filter(_ran(), job=job.name).order_by("started_at").first()
    if first is None:
        return []
    horizon = _latest(first.slot or first.started_at, pause_ends(now).get(job.name))
    if job.options.grace is not None:
        horizon = max(horizon, now - timedelta(seconds=job.options.grace) - timedelta(microseconds=1))
    newest = min(as_slot(before) - timedelta(minutes=1), now - wait)
    ticks = []
    tick = previous_run(job.schedule, newest)
    while tick > horizon and len(ticks) < CATCH_UP_ALL_LIMIT:
        ticks.append(as_slot(tick))
        tick = previous_run(job.schedule, tick - timedelta(minutes=1))
    if not ticks:
        return []
    ran = set(JobRun.objects.filter(_ran(), job=job.name, slot__gte=ticks[-1], slot__lte=ticks[0])
              .values_list("slot", flat=True))
    return [tick for tick in reversed(ticks) if tick not in ran]


def grace_period(job: Job, now: datetime | None = None) -> timedelta:
    """How late a run may start before its tick counts as missed: 2 min, more for rare jobs (≤ 10 min)."""
    return min(max(timedelta(minutes=2), interval_at(job.schedule, now) / 10), timedelta(minutes=10))


def install_time() -> datetime | None:
    """The first run of any job still on record: ticks before it are not 'missed'."""
    return JobRun.objects.order_by("started_at").values_list("started_at", flat=True).first()


def _ran() -> Q:
    # A skipped start did not run the job: a start refused because the previous run still held
    # the lease leaves its tick open, so that it is caught up once that run has ended.
    return ~Q(outcome=RunOutcome.SKIPPED)


@dataclass(frozen=True)
class LastRuns:
    """What a job's runs that actually ran (not skipped) say about it: the latest start, the latest slot."""

    started: datetime | None
    slot: datetime | None

    def ran_since(self, tick: datetime) -> bool:
        """Has the job run for ``tick`` or after it (by its slot, or by its start time)? A run with a
        slot or a start at or after ``tick`` exists exactly when the latest one of either is."""
        return any(moment is not None and moment >= tick for moment in (self.started, self.slot))


NEVER_RAN = LastRuns(started=None, slot=None)


def last_runs(jobs: list[Job]) -> dict[str, LastRuns]:
    """``LastRuns`` of each job, in one query whatever the number of jobs (the tick asks it of every
    job not due on time, every minute).

    Two scalar subqueries per job, each the newest entry of an index (``jobrun_job_latest``, and
    ``(job, slot, attempt)``) past the skipped runs; the outer query reads one row of the table,
    which only carries them (no run at all: every answer is None anyway).
    """
    if not jobs:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(*_last_runs_sql(connection.vendor, tuple(job.name for job in jobs)))
        row = cursor.fetchone()
    if row is None:
        return {job.name: NEVER_RAN for job in jobs}
    moment = connection.ops.convert_datetimefield_value  # what the ORM would apply: aware UTC datetimes
    row = [moment(value, None, connection) for value in row]
    return {job.name: LastRuns(started=row[2 * n], slot=row[2 * n + 1]) for n, job in enumerate(jobs)}


@lru_cache(maxsize=64)
def _last_runs_sql(vendor: str, names: tuple[str, ...]) -> tuple[str, tuple]:
    """``last_runs``' statement for these jobs, compiled once: building its 2 × N subqueries through
    the ORM cost more than running it, every tick. ``vendor`` keys the SQL to the database's dialect."""
    columns = {}
    for n, name in enumerate(names):
        ran = JobRun.objects.filter(_ran(), job=name)
        columns[f"started_{n}"] = Subquery(ran.order_by("-started_at", "-id").values("started_at")[:1])
        columns[f"slot_{n}"] = Subquery(ran.filter(slot__isnull=False).order_by("-slot").values("slot")[:1])
    return JobRun.objects.order_by().annotate(**columns).values_list(*columns)[:1].query.sql_with_params()


def missed_tick(job: Job, *, last_started: datetime | None, installed: datetime | None,
                now: datetime | None = None) -> datetime | None:
    """The latest tick of ``job`` older than its grace period when no run started at or after it.

    ``last_started``: the start of the job's latest run that ran (not skipped). Only ticks after
    it count — or, for a job that never ran, after ``installed``, so that a new install does not
    replay the past.
    """
    now = now or timezone.now()
    tick = previous_run(job.schedule, now - grace_period(job, now))
    since = last_started or installed
    return tick if since is not None and since < tick else None


def running_jobs() -> set[str]:
    """Names of the jobs whose lease is held and live now (by the wall clock, not a replayed minute)."""
    return set(JobLock.objects.exclude(JobLock.free_at(timezone.now())).values_list("job", flat=True))
