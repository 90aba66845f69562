"""The test jobs plus those that a stop is sent to (kept apart: other tests count TEST_CRONJOBS)."""
from tests.cron_runtime.cron_test_settings import *

CRONJOBS = [*TEST_CRONJOBS, ("0 0 1 1 *", "tests.cron_runtime.jobs.chunked"),
            ("0 0 1 1 *", "tests.cron_runtime.jobs.waits_in_a_query")]
