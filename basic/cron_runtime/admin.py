"""Admin for the cron runtime's models: read-only.

Run records, locks and alert states are written by the runner only; editing them by
hand would falsify the history or break a running job's lease, so the admin shows them
and nothing more. Run a job from the staff console (/staff/) instead.
"""
from django.contrib import admin

from basic.cron_runtime.models import JobAlertState, JobLock, JobPause, JobRun, TimedTask


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "job", "outcome", "trigger", "slot", "attempt", "triggered_by", "host", "pid", "started_at", "finished_at",
                    "items_processed", "short_message")
    list_filter = ("job", "outcome", "trigger", "host")
    search_fields = ("job", "message", "host")
    # No date_hierarchy: on MySQL/MariaDB it needs the server's time zone tables loaded
    # (CONVERT_TZ), which a stock install lacks; the list is ordered newest first anyway.
    list_select_related = ("triggered_by",)

    @admin.display(description="message")
    def short_message(self, run):
        return run.message[:80]


@admin.register(JobLock)
class JobLockAdmin(ReadOnlyAdmin):
    list_display = ("job", "host", "pid", "run", "acquired_at", "expires_at")


@admin.register(JobAlertState)
class JobAlertStateAdmin(ReadOnlyAdmin):
    list_display = ("job", "failing", "changed_at")


@admin.register(TimedTask)
class TimedTaskAdmin(ReadOnlyAdmin):
    """Read-only like the run records: tasks change state through their services (a conditional UPDATE
    each), which an admin form saving a whole row would race; retry and cancel are on /staff/timed-tasks/."""

    list_display = ("id", "name", "func_path", "key", "run_at", "status", "attempts", "max_attempts", "executed_time",
                    "finish_time", "host", "short_error")
    list_filter = ("status", "func_path", "host")
    search_fields = ("name", "key", "func_path", "last_error")

    @admin.display(description="last error")
    def short_error(self, task):
        return task.last_error[:80]


@admin.register(JobPause)
class JobPauseAdmin(ReadOnlyAdmin):
    """Pauses are set and lifted on the job page or with `cronjobs pause|resume`, which check them."""

    list_display = ("job", "paused", "paused_by", "paused_at", "reason", "until", "resumed_by", "resumed_at")
