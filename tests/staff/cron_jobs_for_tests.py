"""Jobs the staff-console tests put in settings.CRONJOBS (see the staff_cronjobs fixture)."""
from __future__ import annotations

from django.conf import settings

from basic.cron_runtime.running.result import JobReport

STAFF_TEST_CRONJOBS = [
    ("* * * * *", "tests.staff.cron_jobs_for_tests.flaky"),
    ("* * * * *", "tests.staff.cron_jobs_for_tests.heartbeat"),
]
STAFF_TEST_CRONJOB_NAMES = {"tests.staff.cron_jobs_for_tests.flaky": "flaky",
                            "tests.staff.cron_jobs_for_tests.heartbeat": "heartbeat"}
# Run now's tests (real child processes, run_now_children fixture) also start a slow job; yearly,
# so that it is never due by itself.
RUN_NOW_TEST_CRONJOBS = [*STAFF_TEST_CRONJOBS, ("0 0 1 1 *", "tests.cron_runtime.jobs.slow")]


def flaky() -> JobReport:
    """Fails while settings.STAFF_TEST_JOB_FAILS is true (in a child: the environment variable of that
    name, see run_now_settings), succeeds otherwise."""
    if getattr(settings, "STAFF_TEST_JOB_FAILS", False):
        raise ValueError("the test told this job to fail")
    return JobReport(items_processed=7, message="7 things done")


def heartbeat() -> None:
    """A heartbeat without the real one's housekeeping (catch-up would start other jobs)."""
