"""timed_task_schedule / timed_task_cancel: keys, the caller's transaction, bad input refused."""
from datetime import datetime, timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from basic.cron_runtime.timed_tasks.dispatcher import timed_tasks_dispatch
from basic.cron_runtime.models import TimedTask, TimedTaskStatus
from basic.cron_runtime.timed_tasks.services import (
    MAX_ARGUMENTS_BYTES,
    TimedTaskRefused,
    timed_task_cancel,
    timed_task_schedule,
    timed_tasks_cancel,
)

pytestmark = pytest.mark.django_db
NOOP = "tests.cron_runtime.timed_tasks.funcs.noop"


def test_a_task_is_stored_with_its_arguments_and_due_at_run_at():
    run_at = timezone.now() + timedelta(hours=1)
    task = timed_task_schedule(NOOP, run_at, args=(1, "a"), kwargs={"x": [1, 2]}, max_attempts=5,
                               late_window=timedelta(minutes=10))
    task.refresh_from_db()
    assert (task.func_path, task.name, task.args, task.kwargs) == (NOOP, "noop", [1, "a"], {"x": [1, 2]})
    assert task.status == TimedTaskStatus.PENDING and task.run_at == task.next_attempt_at == run_at
    assert (task.max_attempts, task.late_window, task.key) == (5, timedelta(minutes=10), None)


def test_the_same_pending_key_moves_the_task_instead_of_adding_one():
    first = timed_task_schedule(NOOP, timezone.now() + timedelta(hours=1), key="k", args=[1])
    later = timezone.now() + timedelta(hours=3)
    second = timed_task_schedule(NOOP, later, key="k", args=[2])
    assert second.pk == first.pk and TimedTask.objects.count() == 1
    first.refresh_from_db()
    assert first.run_at == first.next_attempt_at == later and first.args == [2]


def test_a_done_key_is_returned_and_never_runs_again():
    task = timed_task_schedule(NOOP, timezone.now() - timedelta(seconds=1), key="once")
    assert timed_tasks_dispatch().done == 1
    again = timed_task_schedule(NOOP, timezone.now() - timedelta(seconds=1), key="once")
    assert again.pk == task.pk and again.status == TimedTaskStatus.DONE
    assert timed_tasks_dispatch().tasks == 0


def test_a_cancelled_key_scheduled_again_is_pending_again():
    task = timed_task_schedule(NOOP, timezone.now() + timedelta(hours=1), key="again")
    assert timed_task_cancel("again") is True
    assert timed_task_cancel("again") is False  # nothing pending any more
    again = timed_task_schedule(NOOP, timezone.now() + timedelta(hours=2), key="again")
    assert again.pk == task.pk and again.status == TimedTaskStatus.PENDING and again.finish_time is None


def test_the_task_exists_only_if_the_callers_transaction_commits():
    with pytest.raises(RuntimeError), transaction.atomic():
        timed_task_schedule(NOOP, timezone.now(), key="rolled-back")
        raise RuntimeError("the business change failed")
    assert not TimedTask.objects.filter(key="rolled-back").exists()
    timed_task_schedule(NOOP, timezone.now() + timedelta(hours=1), key="kept")
    with pytest.raises(RuntimeError), transaction.atomic():
        timed_task_cancel("kept")
        raise RuntimeError("the cancellation failed")
    assert TimedTask.objects.get(key="kept").status == TimedTaskStatus.PENDING


def test_cancel_many_in_one_statement():
    for key in ("a", "b", "c", "d"):
        timed_task_schedule(NOOP, timezone.now() + timedelta(hours=1), key=key)
    assert timed_tasks_cancel(["a", "zzz"]) == 1
    assert timed_tasks_cancel(key for key in ("b", "c")) == 2
    assert timed_tasks_cancel([]) == 0
    assert dict(TimedTask.objects.values_list("key", "status")) == {
        "a": TimedTaskStatus.CANCELLED, "b": TimedTaskStatus.CANCELLED, "c": TimedTaskStatus.CANCELLED,
        "d": TimedTaskStatus.PENDING}


@pytest.mark.parametrize(("func_path", "args", "kwargs", "run_at", "message"), [
    ("tests.cron_runtime.timed_tasks.funcs.missing", (), None, "aware", "cannot be called"),
    ("no_such_module.func", (), None, "aware", "cannot be called"),
    ("noop", (), None, "aware", "not a dotted path"),
    ("tests.cron_runtime.timed_tasks.funcs.not_callable", (), None, "aware", "is not callable"),
    (NOOP, (object(),), None, "aware", "plain JSON"),
    (NOOP, (), {"when": datetime(2024, 1, 1)}, "aware", "plain JSON"),
    (NOOP, (float("nan"),), None, "aware", "plain JSON"),
    (NOOP, "abc", None, "aware", "args must be a list"),
    (NOOP, (), {1: "x"}, "aware", "string keys"),
    (NOOP, (), None, "naive", "has no timezone"),
    (NOOP, (), None, "2024-01-01", "must be a datetime"),
    (NOOP, ("x" * MAX_ARGUMENTS_BYTES,), None, "aware", "over the 65,536-byte limit"),
])
def test_bad_input_is_refused_with_a_clear_error_and_nothing_written(func_path, args, kwargs, run_at, message):
    when = {"aware": timezone.now(), "naive": datetime(2030, 1, 1, 8, 0)}.get(run_at, run_at)
    with pytest.raises(TimedTaskRefused, match=message):
        timed_task_schedule(func_path, when, key="bad", args=args, kwargs=kwargs)
    assert not TimedTask.objects.exists()


def test_arguments_just_under_64_kb_are_accepted():
    payload = "x" * (MAX_ARGUMENTS_BYTES - len('{"args": [""], "kwargs": {}}'))
    task = timed_task_schedule(NOOP, timezone.now(), args=[payload])
    task.refresh_from_db()
    assert task.args == [payload]


@pytest.mark.parametrize(("options", "message"), [
    ({"max_attempts": 0}, "max_attempts"),
    ({"late_window": timedelta(seconds=-1)}, "late_window"),
    ({"key": ""}, "key must be"),
    ({"key": "k" * 201}, "key must be"),
])
def test_bad_options_are_refused(options, message):
    with pytest.raises(TimedTaskRefused, match=message):
        timed_task_schedule(NOOP, timezone.now(), **options)
    assert not TimedTask.objects.exists()
