"""The next chunk claimed, and the last one recorded, while the current one runs: on MySQL/MariaDB, on a
connection of its own."""
import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.utils import timezone

from basic.cron_runtime.models import JobRun, TimedTask, TimedTaskStatus
from basic.cron_runtime.running.stopping import Stopped
from basic.cron_runtime.timed_tasks.chunk_pipeline import pipelining_possible
from basic.cron_runtime.timed_tasks.dispatcher import timed_tasks_dispatch
from basic.cron_runtime.timed_tasks.services import timed_task_schedule
from tests.cron_runtime.helpers import wait_for
from tests.cron_runtime.timed_tasks.helpers import call_table, calls

pytestmark = pytest.mark.django_db(transaction=True)
RECORD = "tests.cron_runtime.timed_tasks.funcs.record_call"


@pytest.fixture
def recorded():
    with call_table():
        yield


def _schedule(count: int) -> list[TimedTask]:
    """``count`` due tasks, one a second apart (the due order is their number)."""
    now = timezone.now()
    return [timed_task_schedule(RECORD, now - timedelta(seconds=count - n), args=[n]) for n in range(count)]


def _pipeline_threads() -> list[str]:
    return [thread.name for thread in threading.enumerate() if thread.name.startswith("chunk-pipeline")]


def _held(tasks) -> bool:
    return TimedTask.objects.filter(pk__in=[task.pk for task in tasks], claimed_by__isnull=False).count() == len(tasks)


def _held_while_a_task_runs(tasks) -> bool:
    """Are ``tasks`` (a later chunk) claimed while the current chunk runs? On MySQL/MariaDB the claim ahead is
    under way: give it 5 s to land. SQLite claims one chunk after the other: what holds now is the answer."""
    if connection.vendor == "mysql":
        return wait_for(lambda: _held(tasks), 5, "the next chunk to be claimed ahead")
    return _held(tasks)


def test_the_next_chunk_is_claimed_while_the_current_one_runs_on_mysql_alone(recorded, monkeypatch):
    tasks = _schedule(6)  # chunks of 2: [0, 1], [2, 3], [4, 5]
    import tests.cron_runtime.timed_tasks.funcs as funcs

    original, second_chunk_held = funcs.record_call, []

    def record_and_look(n, sleep=0.0):
        if n == 1:  # the first chunk's last task: is the second chunk claimed yet?
            second_chunk_held.append(_held_while_a_task_runs(tasks[2:4]))
        original(n)

    monkeypatch.setattr(funcs, "record_call", record_and_look)
    report = timed_tasks_dispatch(chunk_size=2)
    assert (report.done, report.chunks) == (6, 3)
    assert sorted(n for n, _pid in calls()) == list(range(6))  # each once
    assert second_chunk_held == [connection.vendor == "mysql"]  # SQLite: one writer, one claim at a time
    assert _pipeline_threads() == []  # its worker (and the worker's connection) closed with the dispatch
    assert not TimedTask.objects.filter(status=TimedTaskStatus.PENDING).exists()


def test_inside_a_transaction_the_dispatch_claims_on_its_own_connection_and_sees_its_tasks(recorded):
    with transaction.atomic():
        assert not pipelining_possible()  # another connection would not see the rows below
        _schedule(3)
        report = timed_tasks_dispatch(chunk_size=1)
    assert (report.done, report.chunks) == (3, 3)
    assert sorted(n for n, _pid in calls()) == [0, 1, 2]


def test_a_run_stopped_mid_chunk_counts_the_chunk_recorded_beside_and_leaves_the_one_claimed_ahead_held(
        recorded, monkeypatch, settings):
    from basic.cron_runtime.running.runner import run_job
    from basic.cron_runtime.scheduling.registry import job_by_name

    settings.TIMED_TASKS_CHUNK_SIZE = 2
    tasks = _schedule(6)  # chunks of 2: [0, 1] recorded while [2, 3] runs, [4, 5] claimed meanwhile
    import tests.cron_runtime.timed_tasks.funcs as funcs

    original = funcs.record_call

    def interrupted_at_three(n, sleep=0.0):
        if n == 3:
            _held_while_a_task_runs(tasks[4:6])  # on MySQL, let the claim of [4, 5] land: it is what the stop leaves
            raise KeyboardInterrupt
        original(n)

    monkeypatch.setattr(funcs, "record_call", interrupted_at_three)
    with pytest.raises(Stopped):
        run_job(job_by_name("timed_tasks"), trigger="manual")
    message = JobRun.objects.get(job="timed_tasks").message
    assert "(3 tasks)" in message, message  # [0, 1] recorded beside [2, 3], and 2, which ran before the stop
    assert _pipeline_threads() == []
    done = TimedTask.objects.filter(status=TimedTaskStatus.DONE).values_list("pk", flat=True)
    assert sorted(done) == [task.pk for task in tasks[:3]]  # ran: recorded, not run again
    monkeypatch.setattr(funcs, "record_call", original)
    ahead = connection.vendor == "mysql"  # SQLite claimed nothing ahead: only task 3 is held
    # Held by the stopped dispatch's lease (its process lives), they run when it runs out.
    assert timed_tasks_dispatch().done == (0 if ahead else 2)
    with time_machine.travel(timezone.now() + timedelta(minutes=5, seconds=1)):
        assert timed_tasks_dispatch().done == (3 if ahead else 1)
    assert sorted(n for n, _pid in calls()) == list(range(6))  # none lost, none twice
