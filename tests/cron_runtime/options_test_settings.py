"""The test jobs plus those of the job options' tests (time limits, retries, catch-up "all")."""
from tests.cron_runtime.cron_test_settings import *

CRONJOBS = [*TEST_CRONJOBS,
            ("* * * * *", "tests.cron_runtime.jobs.hangs_on_a_socket"),
            ("0 0 1 1 *", "tests.cron_runtime.jobs.stuck_where_no_signal_reaches"),
            ("30 0 1 * *", "tests.cron_runtime.jobs.fails_until_marker"),
            ("* * * * *", "tests.cron_runtime.jobs.records_its_slot")]
CRONJOB_NAMES = {**TEST_CRONJOB_NAMES, "tests.cron_runtime.jobs.fails_until_marker": "monthly_finance"}
CRONJOB_OPTIONS = {
    "hangs_on_a_socket": {"timeout": 2},
    "stuck_where_no_signal_reaches": {"timeout": 1},
    "monthly_finance": {"retries": 2, "retry_delay": 3},
    "records_its_slot": {"catch_up": "all"},
}
CRON_TIME_LIMIT_GRACE = 2
