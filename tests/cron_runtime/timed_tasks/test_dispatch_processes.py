"""Real dispatcher processes: two at once split the work and call each task exactly once;
one killed with kill -9 in the middle of a chunk loses nothing: on its host the next dispatcher
runs its tasks at once (its process is gone), elsewhere they wait for its lease."""
import signal
import time
from collections import Counter

import pytest
from django.db import connection

from basic.cron_runtime.models import TimedTask, TimedTaskStatus
from tests.cron_runtime.helpers import wait_for
from tests.cron_runtime.timed_tasks.helpers import call_count, call_table, calls, make_due_tasks, start_dispatcher

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def recorded():
    with call_table():
        yield


def finish(proc, timeout=300):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return out


def test_two_dispatchers_over_5000_due_tasks_call_each_function_exactly_once(recorded, manage_py, subprocess_env):
    total = 5000 if connection.vendor == "mysql" else 1000  # SQLite: one writer at a time, commits are fsyncs
    make_due_tasks(total)
    procs = [start_dispatcher(manage_py, subprocess_env, "--chunk-size", "100") for _ in range(2)]
    outputs = [finish(proc) for proc in procs]
    per_n = Counter(n for n, _ in calls())
    assert len(per_n) == total and set(per_n.values()) == {1}, [n for n, c in per_n.items() if c != 1][:20]
    assert TimedTask.objects.filter(status=TimedTaskStatus.DONE, attempts=1, claimed_by=None).count() == total
    assert all("timed tasks:" in out for out in outputs)
    if connection.vendor == "mysql":  # row locks: both really worked at the same time and split the work
        by_pid = Counter(pid for _, pid in calls())
        assert set(by_pid) == {proc.pid for proc in procs}, by_pid


TASKS, CHUNK = 100, 40


def _victims_hold() -> int:
    """The tasks a dispatcher killed in its first chunk holds: that chunk, and on MySQL/MariaDB the next
    one too, which it claimed ahead while the first ran (chunk_pipeline.py)."""
    return 2 * CHUNK if connection.vendor == "mysql" else CHUNK


def _kill_mid_chunk(manage_py, env, *args):
    """A dispatcher over 100 slow tasks (0.1 s each, chunks of 40) killed with kill -9 in its first chunk:
    returns the tasks it had called by then."""
    make_due_tasks(TASKS, extra_args=[0.1])
    victim = start_dispatcher(manage_py, env, "--chunk-size", str(CHUNK), *args)
    held = TimedTask.objects.filter(status=TimedTaskStatus.PENDING, claimed_by__isnull=False)
    try:
        wait_for(lambda: call_count() >= 5 and held.count() == _victims_hold(), 60,
                 "the first dispatcher to call some tasks (and claim the next chunk ahead)")
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.communicate()
    assert held.count() == _victims_hold()  # still pending, held by the dead dispatcher's lease
    assert not TimedTask.objects.filter(status=TimedTaskStatus.DONE).exists()
    return {n for n, _ in calls()}


def _each_ran_at_least_once(ran_before_kill):
    assert TimedTask.objects.filter(status=TimedTaskStatus.DONE).count() == TASKS  # none lost
    per_n = Counter(n for n, _ in calls())
    assert set(per_n) == set(range(TASKS))
    # At least once: only what the killed dispatcher had already called ran twice.
    assert {n for n, count in per_n.items() if count > 1} <= ran_before_kill


def test_a_dispatcher_killed_mid_chunk_has_its_tasks_run_at_once_by_the_next_on_the_same_host(
        recorded, manage_py, subprocess_env):
    ran_before_kill = _kill_mid_chunk(manage_py, subprocess_env)  # under the default lease: 300 s
    killed_at = time.monotonic()
    out = finish(start_dispatcher(manage_py, subprocess_env))
    assert f"{TASKS} done" in out, out  # the killed dispatcher's (its process is gone) and those nobody had claimed
    assert time.monotonic() - killed_at < 120, "the killed dispatcher's tasks waited for its lease"
    _each_ran_at_least_once(ran_before_kill)


def test_a_dispatcher_killed_mid_chunk_on_another_host_has_its_tasks_run_once_the_lease_expires(
        recorded, manage_py, subprocess_env):
    lease = 20  # long enough for the second dispatcher to start and finish inside it, even on a loaded machine
    ran_before_kill = _kill_mid_chunk(manage_py, {**subprocess_env, "OMS_HOSTNAME": "host-a"}, "--lease", str(lease))
    killed_at = time.monotonic()
    here = {**subprocess_env, "OMS_HOSTNAME": "host-b"}  # cannot see whether host-a's process lives

    # While the lease lasts another dispatcher takes the rest but leaves the held tasks alone.
    out = finish(start_dispatcher(manage_py, here, "--lease", str(lease)))
    assert time.monotonic() - killed_at < lease, "too slow to show that the lease is respected"
    held = TimedTask.objects.filter(status=TimedTaskStatus.PENDING, claimed_by__isnull=False)
    assert f"{TASKS - _victims_hold()} done" in out and held.count() == _victims_hold()

    time.sleep(max(0.0, lease + 1 - (time.monotonic() - killed_at)))
    out = finish(start_dispatcher(manage_py, here))
    assert f"{_victims_hold()} done" in out
    _each_ran_at_least_once(ran_before_kill)


def test_sigterm_mid_chunk_records_the_tasks_that_ran_and_leaves_the_rest_to_the_lease(
        recorded, manage_py, subprocess_env):
    make_due_tasks(40, extra_args=[0.1])
    proc = start_dispatcher(manage_py, subprocess_env, "--chunk-size", "40")
    try:
        wait_for(lambda: call_count() >= 5, 60, "the dispatcher to call some tasks")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err[-2000:]
    called = {n for n, _ in calls()}
    done = {args[0] for args in TimedTask.objects.filter(status=TimedTaskStatus.DONE).values_list("args", flat=True)}
    # Every task that returned is recorded done (it will not run again); at most the one the signal
    # cut short ran without being recorded, and it stays held with the rest, to run after the lease.
    assert done <= called and len(called - done) <= 1 and len(done) >= 4
    held = TimedTask.objects.filter(status=TimedTaskStatus.PENDING, claimed_by__isnull=False).count()
    assert held == 40 - len(done)
