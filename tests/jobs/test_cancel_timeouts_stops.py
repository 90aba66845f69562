"""SIGTERM at random moments of real cancel_timeouts runs over a large backlog (MariaDB).

Every run must end recorded (succeeded, or terminated with the orders it really cancelled),
its lease free the moment the process is gone, no chunk half applied (stock, coupons and points
agree with the statuses, set-based check), and the process must print exactly one line.
"""
from __future__ import annotations

import random
import re
import signal
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from basic.cron_runtime.models import JobLock, JobRun
from benchmarks import bench_data
from order.models import Order, OrderStatus
from order.services.finance import current_month, month_start
from tests.cron_runtime.helpers import lines, start, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.mysql_only]

RUNS = 100
EXPIRED = 20_000  # the backlog; made again (set-based, a fraction of a second) whenever a run has emptied it
CHUNK = 250
LATEST_SIGNAL = 1.0  # seconds after the run record appears; a full run over the backlog takes about that long
# "0 items": stopped before the job had started (taking the lease, opening the log).
STOP_LINE = re.compile(
    r"^cancel_timeouts: terminated by SIGTERM after (?:0 items|([\d,]+) orders|\d+ chunks? \(([\d,]+) orders\)); "
    r"lease released$")
LATE_LINE = re.compile(r"^cancel_timeouts: succeeded \(run #\d+, [\d,]+ items\), then stopped by SIGTERM; lease released$")


def make_backlog() -> bench_data.Layout:
    now = timezone.now().replace(microsecond=0)
    this_month = current_month(now)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    layout = bench_data.Layout(
        orders=EXPIRED + 2_000, expired=EXPIRED, fresh=500, users=1_000, products=50, finance_orders=0, now=now,
        timeout=settings.ORDER_TIMEOUT, last_month_start=month_start(last_month), this_month_start=month_start(this_month),
    )
    with connection.cursor() as cursor:
        bench_data.generate(cursor, layout, bench_data.django_tables(), say=lambda *_: None)
    return layout


def books_problem(layout, cancelled: int) -> str:
    """'' when orders 1..cancelled are cancelled and everything they held is back, exactly once."""
    with connection.cursor() as cursor:
        return bench_data.verify_band(cursor, layout, bench_data.django_tables(), cancelled)


def test_sigterm_at_random_points_always_leaves_a_recorded_run_and_whole_chunks(subprocess_env, manage_py):
    env = {**subprocess_env, "CANCEL_TIMEOUTS_CHUNK_SIZE": str(CHUNK)}
    rng = random.Random(20261201)
    layout, cancelled_before = make_backlog(), 0
    seen = Counter()
    started = time.monotonic()
    for attempt in range(RUNS):
        proc = start(manage_py, env, "cronjobs", "run", "cancel_timeouts")
        run = wait_for(lambda: JobRun.objects.filter(job="cancel_timeouts", pid=proc.pid).first(), 60,
                       "the run record", interval=0.01)
        time.sleep(rng.uniform(0, LATEST_SIGNAL))
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        where = f"run {attempt + 1}: exit {proc.returncode}, stderr {err!r}"

        run.refresh_from_db()
        assert not JobLock.objects.get(job="cancel_timeouts").token, f"{where}: the lease is still held"
        cancelled = Order.objects.filter(pk__lte=EXPIRED, order_status=OrderStatus.TIMEOUT_CANCELLED).count()
        problem = books_problem(layout, cancelled)
        assert not problem, f"{where}: {problem}"
        done = cancelled - cancelled_before
        if proc.returncode == 0:  # the run was over before the signal came: nothing to say
            assert run.outcome == "succeeded" and err == "", where
            seen["ended before the signal"] += 1
        else:
            assert proc.returncode == 128 + signal.SIGTERM, where
            assert len(lines(err)) == 1, where
            if run.outcome == "terminated":
                match = STOP_LINE.match(err.strip())
                assert match, where
                assert int((match[1] or match[2] or "0").replace(",", "")) == done == run.items_processed, where
                assert run.message.startswith("terminated by SIGTERM after"), where
                seen["terminated"] += 1
            else:
                assert run.outcome == "succeeded" and LATE_LINE.match(err.strip()), where
                seen["stopped after it succeeded"] += 1
        if run.outcome == "succeeded":
            assert run.items_processed == done, where
        cancelled_before = cancelled
        if cancelled == EXPIRED:
            layout, cancelled_before = make_backlog(), 0
    print(f"{RUNS} runs in {time.monotonic() - started:.0f} s: {dict(seen)}")
    assert seen["terminated"] >= RUNS // 2  # the signals did land inside the runs
