"""Redis goes away and comes back (a redis-server of the test's own): one problem line and 503, then all well."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command

from basic.cron_runtime.scheduling.registry import HEARTBEAT_FUNCTION
from basic.cron_runtime.models import JobRun, RunOutcome
from tests.cron_runtime.engines.celery.helpers import OwnRedis, send_tick, start_worker, wait_for
from tests.cron_runtime.engines.celery.test_worker_stops_and_failures import even_minute, run_of

pytestmark = pytest.mark.django_db(transaction=True)


def status() -> tuple[list[str], bool]:
    out = io.StringIO()
    try:
        call_command("cronjobs", "status", stdout=out)
    except CommandError:
        return out.getvalue().splitlines(), False
    return out.getvalue().splitlines(), True


def test_redis_unreachable_is_one_line_and_503_and_nothing_is_lost_when_it_is_back(
        celery_env_for, tmp_path, settings, client):
    redis_server = OwnRedis(tmp_path)
    redis_server.start()
    settings.SCHEDULER, settings.CELERY_BROKER_URL = "celery", redis_server.url
    settings.CRONJOBS = [("*/2 * * * *", "tests.cron_runtime.engines.celery.jobs.slow"), ("* * * * *", HEARTBEAT_FUNCTION)]
    settings.CRONJOB_NAMES = {**settings.CRONJOB_NAMES, "tests.cron_runtime.engines.celery.jobs.slow": "celery_slow"}
    hold = tmp_path / "hold"
    hold.touch()
    worker = start_worker(celery_env_for("slow", broker=redis_server.url, TEST_SLOW_JOB_FLAG=str(hold)),
                          tmp_path / "worker.log")
    slot = even_minute()
    try:
        send_tick(redis_server.url, slot)
        wait_for(lambda: run_of("celery_slow", slot, RunOutcome.RUNNING), 30, "the slow job to run")
        wait_for(lambda: run_of("heartbeat", slot, RunOutcome.SUCCEEDED), 30, "the heartbeat")
        assert status()[1] is True

        redis_server.stop()
        lines, ok = status()
        assert not ok
        broker_lines = [line for line in lines if "broker" in line]
        assert broker_lines == [f"celery: the broker redis://127.0.0.1:{redis_server.port}/0 is unreachable (Error 111 "
                                f"connecting to 127.0.0.1:{redis_server.port}. Connection refused.) — start Redis or "
                                "fix CELERY_BROKER_URL; jobs run again once it is back, and missed runs are caught up"]
        assert not any("Traceback" in line for line in lines)
        response = client.get("/healthz/cron")
        assert response.status_code == 503
        assert response.json()["problems"][0] == ("celery: the broker is unreachable — start Redis or fix "
                                                  "CELERY_BROKER_URL; jobs run again once it is back, and missed "
                                                  "runs are caught up")
        assert response.json()["broker"] == {"reachable": False, "waiting": {}}

        hold.unlink()  # the running job ends while Redis is away: its run is recorded all the same
        wait_for(lambda: run_of("celery_slow", slot, RunOutcome.SUCCEEDED), 30, "the slow job's record")

        redis_server.start()  # same port, empty (no persistence): the worker reconnects by itself
        worker.wait_for_output("Connected to redis", timeout=5)
        wait_for(lambda: worker.output().count("Connected to redis") >= 2, 60, "the worker to reconnect")
        send_tick(redis_server.url, slot + timedelta(minutes=1))
        wait_for(lambda: run_of("heartbeat", slot + timedelta(minutes=1), RunOutcome.SUCCEEDED), 30,
                 "a heartbeat after the outage")
        assert status() == (status()[0], True)
        assert client.get("/healthz/cron").status_code == 200
    finally:
        worker.stop()
        redis_server.stop()
    assert JobRun.objects.filter(job="celery_slow").exclude(outcome=RunOutcome.SKIPPED).count() == 1
