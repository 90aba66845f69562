"""The dispatcher in-process: overdue tasks, late windows, retries with backoff, leases, logs."""
import re
import subprocess
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from basic.cron_runtime.timed_tasks.dispatcher import timed_tasks_dispatch
from basic.cron_runtime.models import JobLock, TimedTask, TimedTaskStatus
from basic.cron_runtime.timed_tasks.claim import CLAIM_PREFIX
from basic.cron_runtime.timed_tasks.services import timed_task_cancel, timed_task_schedule
from tests.cron_runtime.timed_tasks.helpers import call_table, calls

pytestmark = pytest.mark.django_db(transaction=True)
RECORD = "tests.cron_runtime.timed_tasks.funcs.record_call"
FAIL = "tests.cron_runtime.timed_tasks.funcs.fail"


@pytest.fixture
def recorded():
    with call_table():
        yield


def test_an_overdue_task_still_runs(recorded):
    task = timed_task_schedule(RECORD, timezone.now() - timedelta(days=3), args=[7])  # the system was down
    report = timed_tasks_dispatch()
    task.refresh_from_db()
    assert report.done == 1 and calls() and calls()[0][0] == 7
    assert task.status == TimedTaskStatus.DONE and task.attempts == 1
    assert task.executed_time and task.finish_time and task.host and task.claimed_by is None


def test_a_task_not_yet_due_waits(recorded):
    task = timed_task_schedule(RECORD, timezone.now() + timedelta(minutes=5), args=[1])
    assert timed_tasks_dispatch().tasks == 0
    with time_machine.travel(timezone.now() + timedelta(minutes=5, seconds=1)):
        assert timed_tasks_dispatch().done == 1
    assert [n for n, _ in calls()] == [1]
    task.refresh_from_db()
    assert task.status == TimedTaskStatus.DONE


def test_past_its_late_window_a_task_is_marked_missed_and_not_run(recorded):
    late = timed_task_schedule(RECORD, timezone.now() - timedelta(minutes=11), args=[1],
                               late_window=timedelta(minutes=10))
    in_time = timed_task_schedule(RECORD, timezone.now() - timedelta(minutes=9), args=[2],
                                  late_window=timedelta(minutes=10))
    report = timed_tasks_dispatch()
    assert (report.missed, report.done) == (1, 1)
    assert [n for n, _ in calls()] == [2]
    late.refresh_from_db()
    in_time.refresh_from_db()
    assert late.status == TimedTaskStatus.MISSED and "missed" in late.last_error and late.finish_time
    assert late.attempts == 0  # never called
    assert in_time.status == TimedTaskStatus.DONE


def test_retries_follow_the_backoff_and_the_task_fails_after_max_attempts(settings):
    settings.TIMED_TASK_RETRY_DELAY = 60
    start = timezone.now().replace(microsecond=0)
    with time_machine.travel(start, tick=False):
        task = timed_task_schedule(FAIL, start, args=["mail server down"], max_attempts=3)
        assert timed_tasks_dispatch().retrying == 1
    task.refresh_from_db()
    assert (task.status, task.attempts, task.next_attempt_at) == (TimedTaskStatus.PENDING, 1, start + timedelta(seconds=60))
    assert task.last_error == "ValueError: mail server down"
    with time_machine.travel(start + timedelta(seconds=59), tick=False):
        assert timed_tasks_dispatch().tasks == 0  # not before its retry time
    with time_machine.travel(start + timedelta(seconds=60), tick=False):
        assert timed_tasks_dispatch().retrying == 1
    task.refresh_from_db()
    assert (task.attempts, task.next_attempt_at) == (2, start + timedelta(seconds=60 + 120))  # doubled
    with time_machine.travel(start + timedelta(seconds=180), tick=False):
        assert timed_tasks_dispatch().failed == 1
    task.refresh_from_db()
    assert (task.status, task.attempts, task.finish_time) == (TimedTaskStatus.FAILED, 3, start + timedelta(seconds=180))
    with time_machine.travel(start + timedelta(days=1), tick=False):
        assert timed_tasks_dispatch().tasks == 0  # failed is final


def test_one_failing_task_never_stops_the_others(recorded):
    for n in range(3):
        timed_task_schedule(RECORD, timezone.now(), args=[n])
    timed_task_schedule(FAIL, timezone.now(), max_attempts=1)
    timed_task_schedule(RECORD, timezone.now(), args=[3])
    report = timed_tasks_dispatch(chunk_size=2)
    assert (report.done, report.failed, report.chunks) == (4, 1, 3)
    assert sorted(n for n, _ in calls()) == [0, 1, 2, 3]


def test_a_function_that_no_longer_imports_fails_at_once_with_the_reason():
    task = timed_task_schedule("tests.cron_runtime.timed_tasks.funcs.noop", timezone.now(), max_attempts=5)
    TimedTask.objects.filter(pk=task.pk).update(func_path="tests.cron_runtime.timed_tasks.funcs.removed_since")
    assert timed_tasks_dispatch().failed == 1
    task.refresh_from_db()
    assert task.status == TimedTaskStatus.FAILED and "cannot be imported" in task.last_error
    assert task.attempts == task.max_attempts == 5


def test_a_task_held_by_a_live_lease_is_left_alone_and_taken_once_the_lease_runs_out(recorded):
    task = timed_task_schedule(RECORD, timezone.now() - timedelta(seconds=1), args=[1])
    lease_end = timezone.now() + timedelta(seconds=300)
    TimedTask.objects.filter(pk=task.pk).update(claimed_by="another-dispatcher", lease_until=lease_end, host="host-a")
    assert timed_tasks_dispatch().tasks == 0
    with time_machine.travel(lease_end + timedelta(seconds=1)):
        assert timed_tasks_dispatch().done == 1
    assert [n for n, _ in calls()] == [1]


def test_a_task_being_run_keeps_its_due_time_and_is_held_by_the_lease_alone(recorded, monkeypatch):
    """The claim writes only columns no index carries: the hold is the token and the lease's end."""
    due = timezone.now() - timedelta(seconds=1)
    task = timed_task_schedule(RECORD, due, args=[1])
    import tests.cron_runtime.timed_tasks.funcs as funcs

    original, seen = funcs.record_call, []

    def look_then_record(n, sleep=0.0):
        seen.append(TimedTask.objects.values("next_attempt_at", "claimed_by", "lease_until").get(pk=task.pk))
        original(n)

    monkeypatch.setattr(funcs, "record_call", look_then_record)
    assert timed_tasks_dispatch().done == 1
    [held] = seen
    assert held["next_attempt_at"] == due and held["claimed_by"] and held["lease_until"] > timezone.now()


def _held_by_a_dispatcher(task, *, host: str, pid: int, due_moved: bool = False) -> None:
    """``task`` claimed by a dispatcher of ``host`` / ``pid`` whose lease runs for 5 more minutes.
    ``due_moved``: held the previous release's way, its due time moved to the lease's end."""
    now = timezone.now()
    JobLock.objects.create(job=f"{CLAIM_PREFIX}t1", token="t1", host=host, pid=pid, acquired_at=now,
                           expires_at=now + timedelta(minutes=5))
    moved = {"next_attempt_at": now + timedelta(minutes=5)} if due_moved else {}
    TimedTask.objects.filter(pk=task.pk).update(claimed_by="t1", lease_until=now + timedelta(minutes=5),
                                                executed_time=now, host=host, **moved)


def _gone_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


@pytest.mark.parametrize("due_moved", [False, True], ids=["held", "held-by-the-previous-release"])
def test_tasks_of_a_dispatcher_whose_process_is_gone_on_this_host_run_at_once(recorded, settings, due_moved):
    task = timed_task_schedule(RECORD, timezone.now() - timedelta(seconds=1), args=[1])
    _held_by_a_dispatcher(task, host=settings.HOSTNAME, pid=_gone_pid(), due_moved=due_moved)
    assert timed_tasks_dispatch().done == 1
    assert [n for n, _ in calls()] == [1]
    assert not JobLock.objects.filter(job__startswith=CLAIM_PREFIX).exists()  # nothing left behind


def test_tasks_of_a_dispatcher_on_another_host_wait_for_its_lease(recorded):
    task = timed_task_schedule(RECORD, timezone.now() - timedelta(seconds=1), args=[1])
    _held_by_a_dispatcher(task, host="host-a", pid=_gone_pid())  # a pid here says nothing about host-a
    assert timed_tasks_dispatch().tasks == 0
    with time_machine.travel(timezone.now() + timedelta(minutes=5, seconds=1)):
        assert timed_tasks_dispatch().done == 1
    assert [n for n, _ in calls()] == [1]


def test_a_task_cancelled_while_it_runs_stays_cancelled(recorded, monkeypatch):
    task = timed_task_schedule(RECORD, timezone.now(), args=[1], key="cancel-me")
    import tests.cron_runtime.timed_tasks.funcs as funcs

    original = funcs.record_call

    def cancel_then_record(n, sleep=0.0):
        timed_task_cancel("cancel-me")
        original(n)

    monkeypatch.setattr(funcs, "record_call", cancel_then_record)
    report = timed_tasks_dispatch()
    assert (report.done, report.lost) == (0, 1)
    task.refresh_from_db()
    assert task.status == TimedTaskStatus.CANCELLED


def test_one_summary_line_per_dispatch_and_one_line_per_task_in_the_job_log(settings):
    from basic.cron_runtime.scheduling.registry import job_by_name
    from basic.cron_runtime.running.runner import run_job
    from basic.cron_runtime.running.joblog import job_log_path

    timed_task_schedule("tests.cron_runtime.timed_tasks.funcs.noop", timezone.now(), name="greet")
    timed_task_schedule(FAIL, timezone.now(), args=["bad"], max_attempts=1, name="breaks")
    run = run_job(job_by_name("timed_tasks"), trigger="manual")
    assert run.outcome == "succeeded" and run.items_processed == 2
    assert run.message.startswith("timed tasks: 2 dispatched — 1 done, 0 to retry, 1 failed, 0 missed")
    log = job_log_path("timed_tasks").read_text()
    # the dispatcher's summary line (the runner's own "end:" line repeats it as the run's message)
    assert log.count("| timed tasks: 2 dispatched") == 1
    assert "task #" in log and ": done in" in log and "greet" in log
    assert "breaks (tests.cron_runtime.timed_tasks.funcs.fail): failed after attempt 1/1: ValueError: bad" in log
    # The lines of succeeded tasks are written in one go per chunk; they look like every other line.
    line = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} [+-]\d\d:\d\d \| (INFO |ERROR|DEBUG)\s* \| \S+ \| pid \d+ \| ")
    done = next(text for text in log.splitlines() if ": done in" in text)
    summary = next(text for text in log.splitlines() if "| timed tasks: 2 dispatched" in text)
    assert line.match(done) and line.match(summary), (done, summary)
    assert done.split(" | ")[2:4] == summary.split(" | ")[2:4]  # same host, same pid
