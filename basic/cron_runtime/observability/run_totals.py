"""Per-job run totals for /metrics that never go down and cost the same whatever the history.

The heartbeat folds each job's finished runs into ``JobRunTally`` below a per-job watermark
(``fold_finished_runs``); a scrape reads the tallies plus the few runs above it (``job_totals``).
docs/observability.md ("How the run totals are kept") has the whole story and the public API.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import reduce
from operator import or_

from django.db import transaction
from django.db.models import Count, DurationField, ExpressionWrapper, F, Max, Min, Q, QuerySet, Sum
from django.utils import timezone

from basic.cron_runtime.models import JobRun, JobRunTally, RunOutcome
from basic.cron_runtime.scheduling.registry import all_jobs

# Seconds. Jobs here take from milliseconds (heartbeat) to many minutes (a big timeout backlog).
DURATION_BUCKETS = (0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 1800, 3600)
# Runs that did the job's work; skipped attempts take no time and would flatten the histogram.
WORKED = ~Q(outcome__in=[RunOutcome.RUNNING, RunOutcome.SKIPPED]) & Q(finished_at__isnull=False)
FOLD_AFTER = timedelta(minutes=10)


@dataclass
class JobTotals:
    runs: dict[str, int] = field(default_factory=dict)  # outcome -> runs (running: those still open)
    last_success: datetime | None = None  # when the latest successful run finished
    buckets: dict[str, int] = field(default_factory=dict)  # str(bound) -> worked runs at most that long
    worked: int = 0  # worked runs (the histogram's count)
    worked_seconds: float = 0.0  # their summed duration

    def add(self, other: JobTotals) -> None:
        for outcome, count in other.runs.items():
            self.runs[outcome] = self.runs.get(outcome, 0) + count
        for bound, count in other.buckets.items():
            self.buckets[bound] = self.buckets.get(bound, 0) + count
        self.worked += other.worked
        self.worked_seconds += other.worked_seconds
        if other.last_success is not None and (self.last_success is None or other.last_success > self.last_success):
            self.last_success = other.last_success


def bucket_key(bound: float) -> str:
    """A bucket's upper bound as Prometheus writes it ("0.5", "60.0"), and as the tally stores it."""
    return str(float(bound))


def _aggregate(runs: QuerySet) -> dict[str, JobTotals]:
    """Two GROUP BY queries over ``runs``."""
    totals: dict[str, JobTotals] = defaultdict(JobTotals)
    for row in runs.values("job", "outcome").annotate(n=Count("id"), last=Max("finished_at")).order_by():
        one = totals[row["job"]]
        one.runs[row["outcome"]] = row["n"]
        if row["outcome"] == RunOutcome.SUCCEEDED:
            one.last_success = row["last"]
    buckets = {f"le_{index}": Count("id", filter=Q(duration__lte=timedelta(seconds=bound)))
               for index, bound in enumerate(DURATION_BUCKETS)}
    rows = (runs.filter(WORKED)
            .alias(duration=ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField()))
            .values("job").annotate(total=Count("id"), seconds=Sum("duration"), **buckets).order_by())
    for row in rows:
        one = totals[row["job"]]
        one.worked = row["total"]
        one.worked_seconds = row["seconds"].total_seconds() if row["seconds"] is not None else 0.0
        one.buckets = {bucket_key(bound): row[f"le_{index}"] for index, bound in enumerate(DURATION_BUCKETS)}
    return totals


def _from_tally(tally: JobRunTally) -> JobTotals:
    return JobTotals(runs=dict(tally.runs), buckets=dict(tally.buckets), worked=tally.worked,
                     worked_seconds=tally.worked_seconds, last_success=tally.last_success)


def job_totals() -> dict[str, JobTotals]:
    """Every job's totals (CRONJOBS' jobs and any job with a tally): its tally plus its runs above
    the watermark, read in one transaction (a fold committing in between cannot count a run twice
    or not at all)."""
    with transaction.atomic():
        tallies = {tally.job: tally for tally in JobRunTally.objects.all()}
        jobs = sorted({job.name for job in all_jobs()} | set(tallies))
        if not jobs:
            return {}
        above = reduce(or_, (Q(job=job, id__gt=tallies[job].through_id if job in tallies else 0) for job in jobs))
        totals = _aggregate(JobRun.objects.filter(above))
        for job, tally in tallies.items():
            totals[job].add(_from_tally(tally))
    return dict(totals)


def fold_finished_runs(now: datetime | None = None) -> int:
    """Add each job's finished runs older than FOLD_AFTER (and below its first open run) to its
    tally and move its watermark past them; returns how many runs were folded. Run by the
    heartbeat (one at a time: its lease), each job in a transaction of its own."""
    horizon = (now or timezone.now()) - FOLD_AFTER
    folded = 0
    for job in JobRun.objects.order_by().values_list("job", flat=True).distinct():
        with transaction.atomic():
            tally, _ = JobRunTally.objects.select_for_update().get_or_create(job=job)
            newer = JobRun.objects.filter(job=job, id__gt=tally.through_id)
            bounds = newer.aggregate(old_enough=Max("id", filter=Q(started_at__lt=horizon)),
                                     first_open=Min("id", filter=Q(outcome=RunOutcome.RUNNING)))
            upto = bounds["old_enough"]
            if bounds["first_open"] is not None and upto is not None:
                upto = min(upto, bounds["first_open"] - 1)
            if upto is None or upto <= tally.through_id:
                continue
            chunk = _aggregate(newer.filter(id__lte=upto)).get(job)
            if chunk is not None:
                folded += sum(chunk.runs.values())
                totals = _from_tally(tally)
                totals.add(chunk)
                tally.runs, tally.buckets, tally.last_success = totals.runs, totals.buckets, totals.last_success
                tally.worked, tally.worked_seconds = totals.worked, totals.worked_seconds
            tally.through_id = upto
            tally.save()
    return folded


def folded_q() -> Q:
    """Runs already in their job's tally (at or below its watermark): the only ones pruning may delete."""
    marks = list(JobRunTally.objects.filter(through_id__gt=0).values_list("job", "through_id"))
    if not marks:
        return Q(pk__in=[])
    return reduce(or_, (Q(job=job, id__lte=through) for job, through in marks))
