"""The shared limiter of rate-limited timed-task queues: one grant per call, for all dispatchers together.

A queue's rate ``N/period`` means: the provider never sees more than N calls in any window of
``period`` seconds, whatever the number of dispatcher processes, hosts and engines. What a
provider counts is when a call *arrives*, which is later than when it was granted by a
latency that varies (a slow first connection, a busy host). So each grant is a reservation,
held as "in flight" until the call has finished, and then recorded at its *finish* time;
the next grant of that slot comes ``period`` seconds after it. A call arrives before it
finishes and after its grant, so N + 1 calls can never arrive within one period, however the
latency varies; the cost is that a slot waits out one call's duration besides the period
(measured in benchmarks/queue_rate_bench.py). A dispatcher killed mid-call leaves its slot
"in flight" for at most ``hold`` seconds (the task's lease): slower for a while, never faster.

``limits`` and pyrate-limiter record a hit at the moment it is granted and cannot move it to
the moment the call ended, which is what keeps the provider's count right under varying
latency; neither keeps its log in MariaDB/SQLite. Hence this small limiter, in two stores:
- the database by default (SQLite on one host, MariaDB/MySQL across hosts): one
  ``QueueRateWindow`` row per queue, locked for a grant, with times from the database's
  clock, so hosts with skewed clocks agree; the grant is taken in the same transaction as the
  claim of the task it pays for (queue_dispatch.py).
- Redis when ``TIMED_TASK_RATE_LIMITER_URL`` is set: a sorted set per queue, changed by one
  Lua script each time, times from the Redis server's clock.
"""
from __future__ import annotations

import time
import uuid
from functools import cache

from django.db import IntegrityError, connection, transaction

from basic.cron_runtime import conf
from basic.cron_runtime.models import QueueRateWindow
from basic.cron_runtime.timed_tasks.rate_spec import QueueRate, RateSpecError, queue_rates_parse


def queue_rates() -> dict[str, QueueRate]:
    """The rate of each rate-limited queue (settings.TIMED_TASK_QUEUES, already checked at startup)."""
    return queue_rates_parse(conf.TIMED_TASK_QUEUES)


def queue_rates_problem() -> str | None:
    """Why TIMED_TASK_QUEUES cannot be used, naming it; None when it can (checked when the app loads)."""
    try:
        queue_rates()
    except RateSpecError as exc:
        return f"TIMED_TASK_QUEUES={conf.TIMED_TASK_QUEUES!r} is not valid: {exc}"
    return None


def uses_redis() -> bool:
    return bool(conf.TIMED_TASK_RATE_LIMITER_URL)


# --- the database store ------------------------------------------------------------------------

def _database_now() -> float:
    if connection.vendor == "mysql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT UNIX_TIMESTAMP(NOW(6))")
            return float(cursor.fetchone()[0])
    return time.time()  # SQLite: one host, one clock


def _locked_window(queue: str) -> QueueRateWindow:
    window = QueueRateWindow.objects.select_for_update().filter(queue=queue).first()
    if window is None:
        try:
            with transaction.atomic():
                QueueRateWindow.objects.create(queue=queue, grants={})
        except IntegrityError:
            pass  # another dispatcher created it at the same moment
        window = QueueRateWindow.objects.select_for_update().get(queue=queue)
    return window


def database_grant(queue: str, rate: QueueRate, *, hold: float) -> tuple[float, str | None]:
    """In the caller's transaction: (0.0, token) when granted, else (seconds until a slot may free, None).

    The slot counts as in flight until ``database_release`` (or ``hold`` seconds if that never comes).
    """
    window = _locked_window(queue)
    now = _database_now()
    slots = {token: t for token, t in (window.grants or {}).items() if t > now - rate.period}
    if len(slots) >= rate.limit:
        return max(min(slots.values()) + rate.period - now, 0.001), None
    token = uuid.uuid4().hex[:16]
    slots[token] = now + hold
    QueueRateWindow.objects.filter(queue=queue).update(grants=slots)
    return 0.0, token


def database_release(queue: str, token: str) -> None:
    """The granted call has finished: its slot frees one period from now."""
    ended = _database_now()  # before the lock: waiting for another dispatcher's grant is not part of the call
    with transaction.atomic():
        window = _locked_window(queue)
        slots = dict(window.grants or {})
        if token in slots:
            slots[token] = ended
            QueueRateWindow.objects.filter(queue=queue).update(grants=slots)


# --- the Redis store ---------------------------------------------------------------------------

# KEYS[1] the queue's sorted set (member: token, score: ms the slot frees a period after).
# ARGV: limit, period ms, hold ms, token. Returns {1, 0} granted or {0, ms to wait}.
_GRANT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local period = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - period)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tonumber(oldest[2]) + period - now}
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[4])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) + period)
return {1, 0}
"""
_RELEASE = """
local t = redis.call('TIME')
redis.call('ZADD', KEYS[1], 'XX', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), ARGV[1])
return 1
"""


@cache
def _redis_scripts(url: str):
    import redis

    client = redis.Redis.from_url(url)
    return client.register_script(_GRANT), client.register_script(_RELEASE)


def _redis_key(queue: str) -> str:
    return f"oms:timed-task-queue:{queue}"


def redis_grant(queue: str, rate: QueueRate, *, hold: float) -> tuple[float, str | None]:
    grant, _ = _redis_scripts(conf.TIMED_TASK_RATE_LIMITER_URL)
    token = uuid.uuid4().hex[:16]
    granted, wait_ms = grant(keys=[_redis_key(queue)], args=[rate.limit, rate.period * 1000, int(hold * 1000), token])
    return (0.0, token) if granted else (max(int(wait_ms) / 1000, 0.001), None)


def redis_release(queue: str, token: str) -> None:
    _, release = _redis_scripts(conf.TIMED_TASK_RATE_LIMITER_URL)
    release(keys=[_redis_key(queue)], args=[token])


def grant_release(queue: str, token: str) -> None:
    (redis_release if uses_redis() else database_release)(queue, token)
