"""A database migrated before the runtime became its own app keeps its runs, leases and alert states."""
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from basic.cron_runtime.models import JobAlertState, JobLock, JobRun, RunOutcome, RunTrigger
from tests.helpers import migrate_to as migrate

BEFORE_THE_MOVE = [("basic", "0003_jobs_birthday_claim"), ("cron_runtime", None)]
MOVED = ["jobrun", "joblock", "jobalertstate"]


@pytest.mark.mysql_only
@pytest.mark.django_db(transaction=True)
def test_runs_locks_and_alert_states_survive_the_move(django_user_model):
    staff = django_user_model.objects.create_user("ops", is_staff=True)
    started = datetime(2026, 11, 30, 8, 0, tzinfo=dt_timezone.utc)
    try:
        migrate(BEFORE_THE_MOVE)
        # As the old app left it: the content types (and the permissions granted on them) were basic's.
        ContentType.objects.filter(app_label="cron_runtime", model__in=MOVED).update(app_label="basic")
        ContentType.objects.clear_cache()
        view_run = Permission.objects.get(content_type__app_label="basic", codename="view_jobrun")
        staff.user_permissions.add(view_run)
        with connection.cursor() as cursor:
            for run_id, (job, outcome) in enumerate([("heartbeat", "succeeded"), ("monthly_finance", "failed"),
                                                    ("cancel_timeouts", "running")], start=1):
                cursor.execute(
                    "INSERT INTO basic_jobrun (id, job, `trigger`, host, pid, started_at, finished_at, outcome, "
                    "items_processed, message, traceback, triggered_by_id) "
                    "VALUES (%s, %s, 'manual', 'web1', 4242, %s, %s, %s, 3, 'm', 'tb', %s)",
                    [run_id, job, started + timedelta(minutes=run_id),
                     None if outcome == "running" else started + timedelta(minutes=run_id, seconds=5),
                     outcome, staff.pk])
            cursor.execute("INSERT INTO basic_joblock (job, token, host, pid, run_id, acquired_at, expires_at) "
                           "VALUES ('cancel_timeouts', 'abc', 'web1', 4242, 3, %s, %s)",
                           [started, started + timedelta(minutes=1)])
            cursor.execute("INSERT INTO basic_jobalertstate (job, failing, changed_at) "
                           "VALUES ('monthly_finance', 1, %s)", [started])

        migrate()

        runs = list(JobRun.objects.order_by("id").select_related("triggered_by"))
        assert [(run.pk, run.job, run.outcome) for run in runs] == [
            (1, "heartbeat", RunOutcome.SUCCEEDED), (2, "monthly_finance", RunOutcome.FAILED),
            (3, "cancel_timeouts", RunOutcome.RUNNING)]
        assert all(run.triggered_by == staff and run.trigger == RunTrigger.MANUAL for run in runs)
        assert runs[0].duration == timedelta(seconds=5) and runs[1].message == "m"
        lock = JobLock.objects.select_related("run").get()
        assert (lock.job, lock.token, lock.run) == ("cancel_timeouts", "abc", runs[2])
        assert list(JobAlertState.objects.values_list("job", "failing")) == [("monthly_finance", True)]
        # The new values fit the old columns.
        JobRun.objects.filter(pk=3).update(trigger=RunTrigger.CATCH_UP, outcome=RunOutcome.TERMINATED)
        JobRun.objects.create(job="heartbeat", trigger=RunTrigger.TICKER, host="h", pid=1, started_at=started)
        ContentType.objects.clear_cache()
        assert ContentType.objects.get_for_model(JobRun).pk == view_run.content_type_id
        assert django_user_model.objects.get(pk=staff.pk).has_perm("cron_runtime.view_jobrun")
    finally:
        ContentType.objects.clear_cache()
        migrate()


@pytest.mark.django_db(transaction=True)
def test_a_run_once_task_stored_before_the_rooms_still_runs_its_job():
    """The runtime's modules moved into sub-packages: a "run this job once" task stored with the old
    function path is pointed at the new one, and the dispatcher can import it."""
    from django.utils.module_loading import import_string

    from basic.cron_runtime.timed_tasks.services import RUN_JOB_ONCE, run_job_once

    old_path = "basic.cron_runtime.timed_tasks.run_job_once"
    run_at = datetime(2026, 12, 1, 3, 0, tzinfo=dt_timezone.utc)
    try:
        migrate([("cron_runtime", "0008_timed_task_queue")])
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM cron_runtime_timedtask")
            before = cursor.fetchone()[0]
        TimedTask = MigrationExecutor(connection).loader.project_state(
            ("cron_runtime", "0008_timed_task_queue")).apps.get_model("cron_runtime", "TimedTask")
        stored = TimedTask.objects.create(func_path=old_path, run_at=run_at, next_attempt_at=run_at,
                                          args=["monthly_finance"])
        other = TimedTask.objects.create(func_path="order.services.reminders.send_reminder", run_at=run_at,
                                         next_attempt_at=run_at)

        migrate()

        with connection.cursor() as cursor:
            cursor.execute("SELECT id, func_path FROM cron_runtime_timedtask WHERE id IN (%s, %s) ORDER BY id",
                           [stored.pk, other.pk])
            assert list(cursor.fetchall()) == [(stored.pk, RUN_JOB_ONCE),
                                               (other.pk, "order.services.reminders.send_reminder")]
            cursor.execute("SELECT COUNT(*) FROM cron_runtime_timedtask")
            assert cursor.fetchone()[0] == before + 2
        assert import_string(RUN_JOB_ONCE) is run_job_once
    finally:
        migrate()
