"""Jobs the staff-console tests put in settings.CRONJOBS (see the staff_cronjobs fixture)."""
from __future__ import annotations

from django.conf import settings

from basic.cron_runtime.result import JobReport


def flaky() -> JobReport:
    """Fails while settings.STAFF_TEST_JOB_FAILS is true, succeeds otherwise."""
    if getattr(settings, "STAFF_TEST_JOB_FAILS", False):
        raise ValueError("the test told this job to fail")
    return JobReport(items_processed=7, message="7 things done")


def heartbeat() -> None:
    """A heartbeat without the real one's housekeeping (catch-up would start other jobs)."""
