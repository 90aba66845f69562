"""A real worker runs an interval job's minute from its own queue, jobs_interval (real seconds: part of a minute)."""
from __future__ import annotations

import math
import time

import pytest
from django.utils import timezone

from basic.cron_runtime.models import JobRun, RunOutcome, RunTrigger
from tests.cron_runtime.engines.celery.helpers import send_tick, start_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_worker_runs_an_interval_jobs_minute_sent_to_its_own_queue(celery_env_for, tmp_path, broker_url):
    beats_file = tmp_path / "beats.txt"
    env = celery_env_for("interval", TEST_BEATS_FILE=str(beats_file))
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        while not 40 <= timezone.now().second <= 45:  # what is left of the minute: about 15 s of calls
            time.sleep(0.2)
        minute = timezone.now().replace(second=0, microsecond=0)
        send_tick(broker_url, minute)
        run = wait_for(lambda: JobRun.objects.filter(job="records_beats", finished_at__isnull=False).first(), 60,
                       "the interval run to end", interval=0.5)
    finally:
        worker.stop()
    calls = [float(line.split()[1]) for line in beats_file.read_text().splitlines()]
    assert run.trigger == RunTrigger.CELERY and run.outcome == RunOutcome.SUCCEEDED and run.slot == minute
    assert run.items_processed == len(calls) >= 10
    seconds = [math.floor(at) for at in calls]
    assert seconds == list(range(seconds[0], seconds[-1] + 1))  # every second once, on the grid
    assert "records_beats" in worker.output() and "→ jobs_interval" in worker.output()
    assert "run here" not in worker.output()  # a minute-long run never holds the tick's own process
