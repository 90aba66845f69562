"""The test jobs plus an interval job (kept apart: other tests count TEST_CRONJOBS)."""
from tests.cron_runtime.cron_test_settings import *

INTERVAL_CRONJOBS = [("every 1s", "tests.cron_runtime.jobs.records_beats")]
CRONJOBS = [*TEST_CRONJOBS, *INTERVAL_CRONJOBS]
