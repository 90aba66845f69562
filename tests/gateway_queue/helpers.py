"""Helpers of the queue and gateway tests: queued tasks, dispatcher processes, the gateway's own log."""
from __future__ import annotations

import os
import subprocess
import tempfile
from collections import Counter
from datetime import timedelta

from django.utils import timezone

from basic.cron_runtime.models import TimedTask
from oms_test.gateway.models import GatewayQuery, GatewayQueryAnswer
from tests.helpers import PROJECT_DIR

ASK = "tests.gateway_queue.funcs.ask_gateway"


def make_queue_tasks(count: int, *, queue: str = "gateway") -> None:
    """``count`` due tasks on ``queue``, task n due n ms after task n-1 (so "earliest first" has one answer)."""
    start = timezone.now() - timedelta(minutes=5)
    TimedTask.objects.bulk_create(
        TimedTask(func_path=ASK, name=f"ask {n}", args=[n], queue=queue, run_at=start + timedelta(milliseconds=n),
                  next_attempt_at=start + timedelta(milliseconds=n), max_attempts=5)
        for n in range(count)
    )


def dispatcher_env(subprocess_env: dict, live_server, *, rate: int, host: str, **extra) -> dict:
    """The dispatchers' environment: this gateway, this rate, this host name; and a log folder of their own,
    so that their many timed_tasks log lines never reach a test that reads the run's job log."""
    env = dict(subprocess_env)
    env.update(GATEWAY_URL=live_server.url + "/gateway/", TIMED_TASK_QUEUES=f"gateway={rate}/s", OMS_HOSTNAME=host,
               LOG_DIR=tempfile.mkdtemp(prefix="dispatchers-", dir=os.environ.get("OMS_TEST_RUN_DIR")),
               **{k: str(v) for k, v in extra.items()})
    return env


def start_dispatcher(manage_py, env, *args) -> subprocess.Popen:
    return subprocess.Popen([*manage_py, "dispatch_timed_tasks", *args], env=env, cwd=PROJECT_DIR,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc, timeout=180) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return out


def gateway_arrivals() -> list:
    """(arrival time, answer) of every status query the gateway received, oldest first."""
    return list(GatewayQuery.objects.order_by("arrived_at").values_list("arrived_at", "answer"))


def busiest_second(arrivals) -> int:
    """The most queries that arrived within one calendar second."""
    counts = Counter(int(at.timestamp()) for at, _ in arrivals)
    return max(counts.values(), default=0)


def busiest_sliding_second(arrivals) -> int:
    """The most queries that arrived within any one-second window (stricter than calendar seconds)."""
    times = [at.timestamp() for at, _ in arrivals]
    best, first = 0, 0
    for last, t in enumerate(times):
        while t - times[first] >= 1.0:
            first += 1
        best = max(best, last - first + 1)
    return best


def too_many(arrivals) -> int:
    return sum(1 for _, answer in arrivals if answer == GatewayQueryAnswer.TOO_MANY)


def warm_gateway(live_server) -> None:
    """One request before the test: a real gateway is already serving, not loading its code on the first query."""
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(live_server.url + "/gateway/query/", timeout=10)  # noqa: S310 — a GET: 405
    except urllib.error.HTTPError:
        pass


def fresh_gateway_window(monkeypatch) -> None:
    """The simulator counts its queries per second in its process (this one, under live_server): start
    each test with an empty count, as a gateway that has not been asked for a while."""
    import oms_test.gateway.services

    monkeypatch.setattr(oms_test.gateway.services, "_window", oms_test.gateway.services._SlidingSecond())
