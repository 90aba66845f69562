"""Queues and results without a gateway: a task's JSON result is stored (64 KB at most, a clear error
beyond), a bad TIMED_TASK_QUEUES stops every command with one line naming it, and the backlog of each
rate-limited queue shows on the timed-task page, in `cronjobs status` and on /metrics."""
import subprocess
from datetime import timedelta

import pytest
from django.utils import timezone

from basic.cron_runtime.timed_tasks.dispatcher import timed_tasks_dispatch
from basic.cron_runtime.models import TimedTask, TimedTaskStatus
from basic.cron_runtime.timed_tasks.queue_backlog import queue_backlogs
from basic.cron_runtime.timed_tasks.rate_spec import RateSpecError, queue_rates_parse
from basic.cron_runtime.timed_tasks.services import timed_task_schedule
from tests.factories import make_user
from tests.helpers import PROJECT_DIR

pytestmark = pytest.mark.django_db(transaction=True)
FUNCS = "tests.gateway_queue.funcs"


def test_a_tasks_json_result_is_stored_with_it():
    task = timed_task_schedule(f"{FUNCS}.small_result", timezone.now())
    timed_tasks_dispatch()
    task.refresh_from_db()
    assert task.status == TimedTaskStatus.DONE and task.result == {"answer": "ok", "items": [1, 2, 3]}


def test_a_result_over_64_kb_fails_the_task_with_a_clear_error():
    task = timed_task_schedule(f"{FUNCS}.big_result", timezone.now(), args=[70_000])
    report = timed_tasks_dispatch()
    task.refresh_from_db()
    assert report.failed == 1 and task.status == TimedTaskStatus.FAILED and task.result is None
    assert "70,002 bytes as JSON, over the 65,536-byte limit of a stored result" in task.last_error


def test_rates_are_parsed_and_bad_ones_refused():
    assert {name: str(rate) for name, rate in queue_rates_parse("gateway=10/s, reports=600/m").items()} == {
        "gateway": "10/s", "reports": "600/m"}
    for bad in ("gateway=fast", "gateway=0/s", "gateway", "Gate Way=2/s", "gateway=2/d"):
        with pytest.raises(RateSpecError):
            queue_rates_parse(bad)


@pytest.mark.parametrize("value", ["gateway=fast", "gateway"])
def test_a_bad_timed_task_queues_stops_every_command_with_one_line_naming_it(value, subprocess_env, manage_py):
    env = dict(subprocess_env, TIMED_TASK_QUEUES=value)
    proc = subprocess.run([*manage_py, "check"], env=env, cwd=PROJECT_DIR, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("configuration error: TIMED_TASK_QUEUES=") and value in lines[0]


def backlog(settings, due: int, *, oldest_minutes: int = 3):
    settings.TIMED_TASK_QUEUES = {"gateway": "2/s"}
    start = timezone.now() - timedelta(minutes=oldest_minutes)
    TimedTask.objects.bulk_create(
        TimedTask(func_path=f"{FUNCS}.small_result", queue="gateway", run_at=start, next_attempt_at=start)
        for _ in range(due)
    )


def test_the_backlog_is_counted_per_queue(settings):
    backlog(settings, 300)
    [gateway] = queue_backlogs()
    assert (gateway.queue, gateway.due, gateway.drain_seconds) == ("gateway", 300, 150)
    assert 179 <= gateway.oldest_age <= 200 and gateway.outgrown


def test_the_backlog_shows_on_the_page_in_status_and_on_metrics(settings, client, subprocess_env, manage_py):
    backlog(settings, 300)
    client.force_login(make_user(staff=True))
    page = client.get("/staff/timed-tasks/").content.decode()
    assert 'data-queue="gateway"' in page and "2/s（每小时 7200）" in page and "积压超过速率" in page
    proc = subprocess.run([*manage_py, "cronjobs", "status"], env=subprocess_env, cwd=PROJECT_DIR,
                          capture_output=True, text=True, timeout=60, check=False)
    assert "queue gateway (2/s, 7,200 an hour): 300 due, oldest waiting 18" in proc.stdout
    metrics = client.get("/metrics").content.decode()
    assert 'oms_timed_task_queue_due{queue="gateway"} 300.0' in metrics
    assert 'oms_timed_task_queue_rate_per_second{queue="gateway"} 2.0' in metrics
