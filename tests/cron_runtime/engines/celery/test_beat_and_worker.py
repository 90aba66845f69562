"""Real `celery beat` and `celery worker` processes tick the real jobs, each slot once (slow: real minutes)."""
from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from basic.cron_runtime.models import JobRun, RunOutcome, RunTrigger
from order.models import Order, OrderStatus
from tests.cron_runtime.engines.celery.helpers import start_beat, start_worker, this_minute, wait_for
from tests.factories import make_product, make_user
from tests.jobs.helpers import place_at

pytestmark = pytest.mark.django_db(transaction=True)
JOBS = ("heartbeat", "cancel_timeouts")


def ran(job: str, after):
    return JobRun.objects.filter(job=job, slot__gt=after).exclude(outcome=RunOutcome.SKIPPED)


def test_two_beats_and_a_worker_run_every_slot_once_with_trigger_celery(celery_env_for, tmp_path, settings):
    expired = place_at(timezone.now() - timedelta(seconds=settings.ORDER_TIMEOUT + 60), make_user(), make_product())
    env = celery_env_for("real")
    started = this_minute()
    processes = [start_worker(env, tmp_path / "worker.log")]
    try:
        processes += [start_beat(env, tmp_path / f"beat{n}.log") for n in (1, 2)]
        # two minutes: each beat ticks twice, so every job has two slots, each sent twice
        wait_for(lambda: all(ran(job, started).filter(outcome=RunOutcome.SUCCEEDED).count() >= 2 for job in JOBS),
                 timeout=150, what="two slots of heartbeat and cancel_timeouts", interval=1)
    finally:
        for process in processes:
            process.stop()
    for job in JOBS:
        runs = list(ran(job, started))
        assert {run.trigger for run in runs} == {RunTrigger.CELERY}
        assert {run.host for run in runs} == {settings.HOSTNAME}
        per_slot = Counter(run.slot for run in runs)
        assert per_slot and set(per_slot.values()) == {1}, per_slot  # never a second run of a slot
        # the second beat's tick did arrive: each slot has a skipped start besides its run
        skipped = JobRun.objects.filter(job=job, outcome=RunOutcome.SKIPPED, started_at__gte=started)
        assert skipped.count() >= len(per_slot) - 1
        log = Path(tmp_path / "logs" / "crontab" / f"{job}.log").read_text()
        assert "trigger celery" in log and "end: succeeded" in log
        # the runner's format, as under cron: time with its offset in TIME_ZONE | level | host | pid | message
        assert re.search(rf"^\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{{3}} \+08:00 \| INFO     \| {settings.HOSTNAME} "
                         rf"\| pid \d+ \| start ", log, re.MULTILINE)
    assert Order.objects.get(pk=expired.pk).order_status == OrderStatus.TIMEOUT_CANCELLED
    worker_log, beat_log = (tmp_path / "worker.log").read_text(), (tmp_path / "beat1.log").read_text()
    # Celery's own lines come through loguru, in the jobs' format (time with offset | level | host | pid)
    assert "| INFO     | " in worker_log and "Task cron_runtime.run_slot[" in worker_log
    assert "Sending due task tick (cron_runtime.tick)" in beat_log
