"""The shared limiter of rate-limited timed-task queues: one grant per call, for all dispatchers together.

A queue's rate ``N/period`` means: at most N calls in any window of ``period`` seconds, counted
over every dispatcher process, host and engine. The window is a sliding log of the latest
grants (not a fixed calendar second): a fixed window lets 2N through around its edge. Each
window is ``GUARD_SECONDS`` longer than the period, so a call that reaches the provider a few
milliseconds later than the one before it (scheduling, network) still lands in a window the
provider counts as within the limit. The price is a rate ``period / (period + guard)`` of the
limit, 0.97 at N/s (measured in benchmarks/queue_rate_bench.py).

Where the log lives:
- the database by default (SQLite on one host, MariaDB/MySQL across hosts): one
  ``QueueRateWindow`` row per queue, locked for the grant, times from the database's clock so
  hosts with skewed clocks still agree. No kept library keeps a rate log in MariaDB/SQLite
  through Django (``limits`` has no SQL storage; pyrate-limiter has SQLite in its own file and
  PostgreSQL), and the grant must sit in the same transaction as the claim of the task it pays
  for (queue_dispatch.py), hence this small hand-written one.
- Redis when ``TIMED_TASK_RATE_LIMITER_URL`` is set: pyrate-limiter's ``RedisBucket`` (a sorted
  set per queue, checked and written by one Lua script; the clients' clocks, so keep hosts on NTP).
"""
from __future__ import annotations

import time
from functools import cache

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from basic.cron_runtime.models import QueueRateWindow
from basic.cron_runtime.rate_spec import QueueRate, queue_rates_parse

GUARD_SECONDS = 0.03


def queue_rates() -> dict[str, QueueRate]:
    """The rate of each rate-limited queue (settings.TIMED_TASK_QUEUES, already checked at startup)."""
    return queue_rates_parse(settings.TIMED_TASK_QUEUES)


def _window(rate: QueueRate) -> float:
    return rate.period + GUARD_SECONDS


def _database_now() -> float:
    if connection.vendor == "mysql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT UNIX_TIMESTAMP(NOW(6))")
            return float(cursor.fetchone()[0])
    return time.time()  # SQLite: one host, one clock


def database_grant(queue: str, rate: QueueRate) -> float:
    """Take a grant in the caller's transaction: 0.0 when granted, else the seconds until one is free.

    The caller commits the grant together with what it pays for (or rolls both back).
    """
    window = QueueRateWindow.objects.select_for_update().filter(queue=queue).first()
    if window is None:
        try:
            with transaction.atomic():
                QueueRateWindow.objects.create(queue=queue, grants=[])
        except IntegrityError:
            pass  # another dispatcher created it at the same moment
        window = QueueRateWindow.objects.select_for_update().get(queue=queue)
    now = _database_now()
    span = _window(rate)
    grants = [t for t in window.grants if t > now - span][-rate.limit:]
    if len(grants) >= rate.limit:
        return max(grants[0] + span - now, 0.001)
    grants.append(now)
    QueueRateWindow.objects.filter(queue=queue).update(grants=grants)
    return 0.0


@cache
def _redis_bucket(url: str, queue: str, limit: int, period: int):
    import redis
    from pyrate_limiter import Rate, RedisBucket

    client = redis.Redis.from_url(url)
    return RedisBucket.init([Rate(limit, round(_window(QueueRate(limit, period)) * 1000))], client,
                            f"oms:timed-task-queue:{queue}")


def redis_grant(queue: str, rate: QueueRate) -> float:
    """Take a grant from the Redis bucket: 0.0 when granted, else the seconds until one is free."""
    from pyrate_limiter import RateItem

    bucket = _redis_bucket(settings.TIMED_TASK_RATE_LIMITER_URL, queue, rate.limit, rate.period)
    now = bucket.now()
    decision = bucket.put_decision(RateItem(queue, now))
    if decision.allowed:
        bucket.leak(now)
        return 0.0
    return max((decision.retry_after_ms or 1) / 1000, 0.001)


def uses_redis() -> bool:
    return bool(settings.TIMED_TASK_RATE_LIMITER_URL)
