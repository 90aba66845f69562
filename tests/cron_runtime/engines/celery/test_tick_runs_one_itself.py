"""In a worker, the tick runs one of the minute's due runs itself and sends the others: one trip
through the broker fewer for that run, and still one run per slot."""
from __future__ import annotations

import re

import pytest

from basic.cron_runtime.models import JobRun, RunOutcome, RunTrigger
from tests.cron_runtime.engines.celery.helpers import send_tick, start_worker, this_minute, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
JOBS = ("heartbeat", "cancel_timeouts")  # the "real" set: both due every minute, both on the jobs queue


def test_a_workers_tick_runs_the_first_due_run_itself_and_sends_the_other(celery_env_for, broker_url, tmp_path):
    worker = start_worker(celery_env_for("real"), tmp_path / "worker.log")
    minute = this_minute()
    try:
        send_tick(broker_url, minute)
        wait_for(lambda: JobRun.objects.filter(slot=minute, outcome=RunOutcome.SUCCEEDED).count() == len(JOBS), 30,
                 "both runs of the minute")
    finally:
        worker.stop()
    runs = JobRun.objects.filter(slot=minute)
    assert sorted(run.job for run in runs) == sorted(JOBS)  # one run per slot, nothing skipped
    assert {run.trigger for run in runs} == {RunTrigger.CELERY}
    log = worker.output()
    assert len(re.findall(r"Task cron_runtime\.run_slot\[[^\]]+\] received", log)) == 1  # cancel_timeouts'
    assert "cancel_timeouts 2" in log and "→ jobs, heartbeat " in log and " run here: heartbeat: succeeded" in log
