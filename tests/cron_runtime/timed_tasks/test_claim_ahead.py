"""The next chunk claimed while the current one runs: on MySQL/MariaDB, on a connection of its own."""
import threading
import time
from datetime import timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.utils import timezone

from basic.cron_runtime.models import TimedTask, TimedTaskStatus
from basic.cron_runtime.timed_tasks.claim_ahead import claim_ahead_possible
from basic.cron_runtime.timed_tasks.dispatcher import timed_tasks_dispatch
from basic.cron_runtime.timed_tasks.services import timed_task_schedule
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


def _claim_ahead_threads() -> list[str]:
    return [thread.name for thread in threading.enumerate() if thread.name.startswith("claim-ahead")]


def _held(tasks) -> bool:
    return TimedTask.objects.filter(pk__in=[task.pk for task in tasks], claimed_by__isnull=False).count() == len(tasks)


def test_the_next_chunk_is_claimed_while_the_current_one_runs_on_mysql_alone(recorded, monkeypatch):
    tasks = _schedule(6)  # chunks of 2: [0, 1], [2, 3], [4, 5]
    import tests.cron_runtime.timed_tasks.funcs as funcs

    original, second_chunk_held = funcs.record_call, []

    def record_and_look(n, sleep=0.0):
        if n == 1:  # the first chunk's last task: is the second chunk claimed yet?
            deadline = time.monotonic() + (5 if connection.vendor == "mysql" else 0)
            while not _held(tasks[2:4]) and time.monotonic() < deadline:
                time.sleep(0.05)
            second_chunk_held.append(_held(tasks[2:4]))
        original(n)

    monkeypatch.setattr(funcs, "record_call", record_and_look)
    report = timed_tasks_dispatch(chunk_size=2)
    assert (report.done, report.chunks) == (6, 3)
    assert sorted(n for n, _pid in calls()) == list(range(6))  # each once
    assert second_chunk_held == [connection.vendor == "mysql"]  # SQLite: one writer, one claim at a time
    assert _claim_ahead_threads() == []  # its worker (and the worker's connection) closed with the dispatch
    assert not TimedTask.objects.filter(status=TimedTaskStatus.PENDING).exists()


def test_inside_a_transaction_the_dispatch_claims_on_its_own_connection_and_sees_its_tasks(recorded):
    with transaction.atomic():
        assert not claim_ahead_possible()  # another connection would not see the rows below
        _schedule(3)
        report = timed_tasks_dispatch(chunk_size=1)
    assert (report.done, report.chunks) == (3, 3)
    assert sorted(n for n, _pid in calls()) == [0, 1, 2]


def test_a_dispatch_stopped_mid_chunk_leaves_the_chunk_claimed_ahead_under_its_lease(recorded, monkeypatch):
    tasks = _schedule(4)  # chunks of 2: [0, 1], [2, 3]
    import tests.cron_runtime.timed_tasks.funcs as funcs

    original = funcs.record_call

    def interrupted_at_one(n, sleep=0.0):
        if n == 1:
            if connection.vendor == "mysql":  # let the claim of [2, 3] land, so that it is what the stop leaves
                deadline = time.monotonic() + 5
                while not _held(tasks[2:4]) and time.monotonic() < deadline:
                    time.sleep(0.05)
            raise KeyboardInterrupt
        original(n)

    monkeypatch.setattr(funcs, "record_call", interrupted_at_one)
    with pytest.raises(KeyboardInterrupt):
        timed_tasks_dispatch(chunk_size=2)
    assert _claim_ahead_threads() == []
    assert TimedTask.objects.get(pk=tasks[0].pk).status == TimedTaskStatus.DONE  # ran: recorded, not run again
    monkeypatch.setattr(funcs, "record_call", original)
    ahead = connection.vendor == "mysql"  # SQLite claimed nothing ahead: only task 1 is held
    # Held by the stopped dispatch's lease (its process lives), they run when it runs out.
    assert timed_tasks_dispatch().done == (0 if ahead else 2)
    with time_machine.travel(timezone.now() + timedelta(minutes=5, seconds=1)):
        assert timed_tasks_dispatch().done == (3 if ahead else 1)
    assert sorted(n for n, _pid in calls()) == [0, 1, 2, 3]  # none lost, none twice
