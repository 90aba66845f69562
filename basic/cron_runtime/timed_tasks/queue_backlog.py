"""The backlog of each rate-limited queue: how many tasks are due, how long the oldest has waited,
and how long the queue needs to drain at its rate. Shown on the staff timed-task page, by
``cronjobs status`` and on ``/metrics``.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from basic.cron_runtime.models import TimedTask, TimedTaskStatus
from basic.cron_runtime.timed_tasks.queue_rates import queue_rates
from basic.cron_runtime.timed_tasks.rate_spec import QueueRate

# A backlog that needs longer than this to drain makes every task due after it late by as much.
LATE_AFTER_SECONDS = 60


@dataclass(frozen=True)
class QueueBacklog:
    queue: str
    rate: QueueRate
    due: int
    oldest_age: float  # seconds the oldest due task has waited (0 when none is due)

    @property
    def drain_seconds(self) -> float:
        return self.due / self.rate.per_second

    @property
    def outgrown(self) -> bool:
        return self.drain_seconds > LATE_AFTER_SECONDS

    def line(self) -> str:
        text = (f"queue {self.queue} ({self.rate}, {self.rate.per_hour:,} an hour): {self.due} due, "
                f"oldest waiting {self.oldest_age:.0f} s")
        if self.due:
            text += f", {self.drain_seconds:.0f} s to drain"
        if self.outgrown:
            text += " — backlog outgrows the rate: tasks due now run that late"
        return text


def queue_backlogs(now=None) -> list[QueueBacklog]:
    """One entry per rate-limited queue (one grouped query over the queue index alone).

    A task being called counts as due until it is recorded (a hold is not in the index: telling
    it apart would read every due row), at most one per dispatcher."""
    now = now or timezone.now()
    rates = queue_rates()
    if not rates:
        return []
    rows = {
        row["queue"]: row for row in TimedTask.objects.filter(
            queue__in=list(rates), status=TimedTaskStatus.PENDING, next_attempt_at__lte=now,
        ).values("queue").annotate(due=Count("id"), oldest=Min("next_attempt_at")).order_by()
    }
    backlogs = []
    for queue, rate in rates.items():
        row = rows.get(queue)
        due = row["due"] if row else 0
        age = max((now - row["oldest"]).total_seconds(), 0.0) if row else 0.0
        backlogs.append(QueueBacklog(queue=queue, rate=rate, due=due, oldest_age=age))
    return backlogs


class QueueBacklogCollector:
    """/metrics: per rate-limited queue, due tasks, the oldest one's age and the rate limit."""

    def collect(self):
        due = GaugeMetricFamily("oms_timed_task_queue_due", "Timed tasks of a rate-limited queue due now (those being called included).",
                                labels=["queue"])
        age = GaugeMetricFamily("oms_timed_task_queue_oldest_age_seconds",
                                "Seconds the oldest due task of a rate-limited queue has waited.", labels=["queue"])
        limit = GaugeMetricFamily("oms_timed_task_queue_rate_per_second",
                                  "A rate-limited queue's limit, in calls per second.", labels=["queue"])
        for backlog in queue_backlogs():
            due.add_metric([backlog.queue], backlog.due)
            age.add_metric([backlog.queue], backlog.oldest_age)
            limit.add_metric([backlog.queue], backlog.rate.per_second)
        yield due
        yield age
        yield limit
