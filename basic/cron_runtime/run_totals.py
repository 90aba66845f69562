"""Per-job run totals that never go down: counts by outcome and a duration histogram.

Computed by the database (GROUP BY, a conditional count per histogram bucket), never by a Python
loop over the history. Pruning deletes old run records; ``fold_into_tally(ids)`` first adds the rows
it is about to delete to ``JobRunTally`` (same transaction), so ``job_totals()`` = tally + the rows
still kept only grows, as Prometheus counters must.

Public API: ``DURATION_BUCKETS``, ``JobTotals``, ``job_totals()``, ``fold_into_tally(ids)``.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, DurationField, ExpressionWrapper, F, Max, Q, QuerySet, Sum

from basic.cron_runtime.models import JobRun, JobRunTally, RunOutcome

# Seconds. Jobs here take from milliseconds (heartbeat) to many minutes (a big timeout backlog).
DURATION_BUCKETS = (0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 1800, 3600)
# Runs that did the job's work; skipped attempts take no time and would flatten the histogram.
WORKED = ~Q(outcome__in=[RunOutcome.RUNNING, RunOutcome.SKIPPED]) & Q(finished_at__isnull=False)


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


def _bucket_key(bound: float) -> str:
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
        one.buckets = {_bucket_key(bound): row[f"le_{index}"] for index, bound in enumerate(DURATION_BUCKETS)}
    return totals


def _from_tally(tally: JobRunTally) -> JobTotals:
    return JobTotals(runs=dict(tally.runs), buckets=dict(tally.buckets), worked=tally.worked,
                     worked_seconds=tally.worked_seconds, last_success=tally.last_success)


def job_totals() -> dict[str, JobTotals]:
    """Every job's totals: the tally of pruned runs plus the rows kept, read in one transaction
    (a prune committing in between cannot count its rows twice or not at all)."""
    with transaction.atomic():
        totals = _aggregate(JobRun.objects.all())
        for tally in JobRunTally.objects.all():
            totals[tally.job].add(_from_tally(tally))
    return dict(totals)


def fold_into_tally(ids: list[int]) -> None:
    """Add the runs ``ids`` (about to be deleted, in the caller's transaction) to the tally.

    Only finished runs are pruned; a run still ``running`` is never among them.
    """
    for job, folded in _aggregate(JobRun.objects.filter(pk__in=ids)).items():
        folded.runs.pop(RunOutcome.RUNNING, None)  # never pruned (closed first); never a final count
        tally, _ = JobRunTally.objects.select_for_update().get_or_create(job=job)
        totals = _from_tally(tally)
        totals.add(folded)
        tally.runs, tally.buckets = totals.runs, totals.buckets
        tally.worked, tally.worked_seconds, tally.last_success = totals.worked, totals.worked_seconds, totals.last_success
        tally.save()
