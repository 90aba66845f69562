"""The staff 一次性任务 page: filters, retry, cancel, "run job X once at T", stale-state messages."""
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from basic.cron_runtime.timed_tasks.dispatcher import timed_tasks_dispatch
from basic.cron_runtime.models import JobRun, TimedTask, TimedTaskStatus
from basic.cron_runtime.timed_tasks.services import RUN_JOB_ONCE, timed_task_schedule

pytestmark = pytest.mark.django_db
NOOP = "tests.cron_runtime.timed_tasks.funcs.noop"
PAGE = reverse("staff:timed-tasks")


def task(status=TimedTaskStatus.PENDING, *, name="task", minutes=10, **fields) -> TimedTask:
    made = timed_task_schedule(NOOP, timezone.now() + timedelta(minutes=minutes), name=name)
    if status != TimedTaskStatus.PENDING:
        fields.setdefault("finish_time", timezone.now())
    TimedTask.objects.filter(pk=made.pk).update(status=status, **fields)
    made.refresh_from_db()
    return made


def shown(response) -> list[str]:
    return [t.name for t in response.context["tasks"]]


def message_texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_staff_only(client, customer):
    assert client.get(PAGE).status_code == 302  # to the login page
    client.force_login(customer)
    assert client.get(PAGE).status_code == 403
    pending = task()
    assert client.post(reverse("staff:timed-task-cancel", args=[pending.pk])).status_code == 403
    pending.refresh_from_db()
    assert pending.status == TimedTaskStatus.PENDING


def test_filters_by_status_overdue_and_name(staff_client):
    task(name="reminder order 1", minutes=-30)  # pending, overdue
    task(name="reminder order 2", minutes=30)  # pending, not yet due
    task(TimedTaskStatus.FAILED, name="live class 7", last_error="SMTP down", attempts=3)
    task(TimedTaskStatus.DONE, name="live class 8", attempts=1)
    response = staff_client.get(PAGE)
    assert response.status_code == 200 and len(shown(response)) == 4
    assert "一次性任务" in response.content.decode()
    assert shown(staff_client.get(PAGE, {"status": TimedTaskStatus.FAILED})) == ["live class 7"]
    assert shown(staff_client.get(PAGE, {"overdue": "on"})) == ["reminder order 1"]
    assert sorted(shown(staff_client.get(PAGE, {"name": "LIVE"}))) == ["live class 7", "live class 8"]
    bad = staff_client.get(PAGE, {"status": "99", "name": "reminder"})  # a bad filter is ignored, the rest applies
    assert sorted(shown(bad)) == ["reminder order 1", "reminder order 2"]
    assert ("status", "99") in bad.context["ignored_filters"]


def test_retry_a_failed_task_runs_it_again(staff_client):
    failed = task(TimedTaskStatus.FAILED, attempts=3, last_error="ValueError: x")
    response = staff_client.post(reverse("staff:timed-task-retry", args=[failed.pk]), {"back": "status=2"})
    assert response.status_code == 302 and response["Location"] == PAGE + "?status=2"
    failed.refresh_from_db()
    assert (failed.status, failed.max_attempts, failed.finish_time) == (TimedTaskStatus.PENDING, 4, None)
    assert failed.next_attempt_at <= timezone.now()
    assert timed_tasks_dispatch().done == 1


def test_cancel_a_pending_task(staff_client):
    pending = task()
    response = staff_client.post(reverse("staff:timed-task-cancel", args=[pending.pk]), follow=True)
    pending.refresh_from_db()
    assert pending.status == TimedTaskStatus.CANCELLED
    assert any("已取消" in text for text in message_texts(response))


@pytest.mark.parametrize(("status", "action"), [
    (TimedTaskStatus.DONE, "staff:timed-task-cancel"),
    (TimedTaskStatus.CANCELLED, "staff:timed-task-cancel"),
    (TimedTaskStatus.PENDING, "staff:timed-task-retry"),
    (TimedTaskStatus.DONE, "staff:timed-task-retry"),
])
def test_an_action_on_a_task_no_longer_in_that_state_gets_a_message_not_a_500(staff_client, status, action):
    stale = task(status)  # e.g. the dispatcher finished it after the page was loaded
    response = staff_client.post(reverse(action, args=[stale.pk]), follow=True)
    assert response.status_code == 200
    assert any(f"#{stale.pk} is {stale.get_status_display()} now" in text for text in message_texts(response))
    stale.refresh_from_db()
    assert stale.status == status


def test_an_action_on_a_deleted_task_gets_a_message(staff_client):
    response = staff_client.post(reverse("staff:timed-task-cancel", args=[987654]), follow=True)
    assert response.status_code == 200 and any("no longer exists" in t for t in message_texts(response))


def test_run_job_x_once_at_time_t_goes_through_the_runner_with_trigger_timed(staff_client, settings):
    settings.CRONJOBS = [("0 0 1 1 *", "tests.cron_runtime.jobs.noop")]
    settings.CRONJOB_NAMES = {"tests.cron_runtime.jobs.noop": "test_noop"}
    at = timezone.localtime() + timedelta(minutes=30)
    response = staff_client.post(reverse("staff:timed-task-run-job"),
                                 {"job": "test_noop", "run_at": at.strftime("%Y-%m-%dT%H:%M")}, follow=True)
    assert any("test_noop 将在" in t for t in message_texts(response))
    scheduled = TimedTask.objects.get(func_path=RUN_JOB_ONCE)
    assert scheduled.args == ["test_noop"] and scheduled.run_at == at.replace(second=0, microsecond=0)
    assert "ops" in scheduled.name
    assert timed_tasks_dispatch().tasks == 0  # not before its time
    assert timed_tasks_dispatch(now=scheduled.run_at).done == 1
    run = JobRun.objects.get(job="test_noop")
    assert (run.trigger, run.outcome) == ("timed", "succeeded")


def test_run_job_once_refuses_an_unknown_job_or_a_bad_time(staff_client):
    response = staff_client.post(reverse("staff:timed-task-run-job"), {"job": "nope", "run_at": "tomorrow"}, follow=True)
    assert response.status_code == 200 and any(t.startswith("没有安排") for t in message_texts(response))
    assert not TimedTask.objects.exists()


def test_the_admin_lists_timed_tasks(staff_client, staff_user):
    staff_user.is_superuser = True
    staff_user.save()
    task(name="visible in admin")
    response = staff_client.get(reverse("admin:cron_runtime_timedtask_changelist"))
    assert response.status_code == 200 and "visible in admin" in response.content.decode()
