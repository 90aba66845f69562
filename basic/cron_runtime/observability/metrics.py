"""Prometheus metrics of the cron runtime, read from the run records at scrape time.

Jobs run in short-lived processes, so every value comes from the database when ``/metrics`` is
scraped; business apps add collectors with ``register_collector()``, ``exposition()`` renders
them all. docs/observability.md ("`/metrics` (Prometheus)") has the whole story and the API.
"""
from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from basic.cron_runtime.observability.health import heartbeat_age, heartbeat_stale
from basic.cron_runtime.observability.housekeeping import HEARTBEAT_JOB
from basic.cron_runtime.models import JobRun, RunOutcome
from basic.cron_runtime.scheduling.registry import all_jobs
from basic.cron_runtime.observability.run_totals import DURATION_BUCKETS, WORKED, JobTotals, bucket_key, job_totals

__all__ = ["CONTENT_TYPE", "DURATION_BUCKETS", "RuntimeCollector", "exposition", "register_collector"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
# A run's outcome is final except "running": counting it would make a counter go down.
FINAL_OUTCOMES = [outcome for outcome in RunOutcome.values if outcome != RunOutcome.RUNNING]

_registry = CollectorRegistry(auto_describe=False)
_registered: set[str] = set()


def register_collector(collector) -> None:
    """Add a collector (an object with ``collect()`` yielding metric families) to ``/metrics``.

    Called from an app's ``AppConfig.ready()``; registering a second collector of the same
    class is ignored, so a repeated ``ready()`` never doubles the output.
    """
    key = f"{type(collector).__module__}.{type(collector).__qualname__}"
    if key not in _registered:
        _registered.add(key)
        _registry.register(collector)


def exposition() -> bytes:
    """Every registered collector's metrics in the Prometheus text format (reads the database)."""
    return generate_latest(_registry)


class RuntimeCollector:
    """Per job: runs by outcome, running now, last success, last duration, duration histogram;
    the heartbeat's age. Totals are the per-job tallies plus the runs above their watermarks
    (run_totals): the counters never go down, and a scrape costs the same whatever the history."""

    def collect(self):
        jobs = [job.name for job in all_jobs()]
        totals = job_totals()
        runs = CounterMetricFamily("oms_cron_job_runs", "Runs of a job by outcome.", labels=["job", "outcome"])
        running = GaugeMetricFamily("oms_cron_job_running", "Runs of a job recorded as running now.",
                                    labels=["job"])
        last_success = GaugeMetricFamily("oms_cron_job_last_success_timestamp_seconds",
                                         "Unix time the job's latest successful run finished.", labels=["job"])
        histogram = HistogramMetricFamily("oms_cron_job_duration_seconds",
                                          "Durations of the job's finished runs (skipped attempts left out).",
                                          labels=["job"])
        for job in jobs + sorted(set(totals) - set(jobs)):  # jobs no longer configured keep their history
            one = totals.get(job) or JobTotals()
            for outcome in FINAL_OUTCOMES:
                runs.add_metric([job, outcome], one.runs.get(outcome, 0))
            running.add_metric([job], one.runs.get(RunOutcome.RUNNING, 0))
            if one.last_success is not None:
                last_success.add_metric([job], one.last_success.timestamp())
            if one.worked:
                histogram.add_metric(
                    [job],
                    [(bucket_key(bound), one.buckets.get(bucket_key(bound), 0)) for bound in DURATION_BUCKETS]
                    + [("+Inf", one.worked)],
                    sum_value=one.worked_seconds,
                )
        yield runs
        yield running
        yield last_success
        yield self._last_duration(jobs)
        yield histogram
        yield self._paused(jobs)
        yield from self._heartbeat(jobs)

    @staticmethod
    def _paused(jobs: list[str]) -> GaugeMetricFamily:
        from basic.cron_runtime.scheduling.pausing import paused_jobs

        paused = paused_jobs()
        family = GaugeMetricFamily("oms_cron_job_paused", "1 while the job is paused (no engine starts it).",
                                   labels=["job"])
        for job in jobs:
            family.add_metric([job], 1 if job in paused else 0)
        return family

    @staticmethod
    def _last_duration(jobs: list[str]) -> GaugeMetricFamily:
        """The latest worked run of each job: an index walk per job (job, started_at)."""
        family = GaugeMetricFamily("oms_cron_job_last_duration_seconds",
                                   "Duration of the job's latest finished run (succeeded or not).", labels=["job"])
        # Ordered by started_at alone: the index (job, -started_at) then yields the row at once; adding
        # "-id" made MariaDB sort every run of the job.
        latest = JobRun.objects.filter(WORKED).order_by("-started_at")
        for job in jobs:
            row = latest.filter(job=job).values_list("started_at", "finished_at").first()
            if row:
                family.add_metric([job], (row[1] - row[0]).total_seconds())
        return family

    @staticmethod
    def _heartbeat(jobs: list[str]):
        if HEARTBEAT_JOB not in jobs:
            return
        age = heartbeat_age()
        if age is not None:
            yield GaugeMetricFamily("oms_cron_heartbeat_age_seconds",
                                    "Seconds since the cron daemon last started the heartbeat job.",
                                    value=age.total_seconds())
        yield GaugeMetricFamily("oms_cron_heartbeat_stale",
                                "1 when the heartbeat never beat or is older than CRON_HEARTBEAT_STALE_AFTER.",
                                value=1 if heartbeat_stale(age) else 0)


register_collector(RuntimeCollector())
