"""The test jobs plus an interval job (kept apart: other tests count TEST_CRONJOBS)."""
from tests.cron_runtime.cron_test_settings import *

INTERVAL_CRONJOBS = [("every 1s", "tests.cron_runtime.jobs.records_beats")]
CRONJOBS = [*TEST_CRONJOBS, *INTERVAL_CRONJOBS]

# A test of the per-call time limit sets it (seconds) here.
if os.environ.get("TEST_BEAT_TIMEOUT"):
    CRONJOB_OPTIONS = {"records_beats": {"timeout": int(os.environ["TEST_BEAT_TIMEOUT"])}}
CRON_TIME_LIMIT_GRACE = 2
