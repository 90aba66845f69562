"""Settings of the `manage.py cronjobs run` children that Run now starts in the staff tests:
the staff test jobs (see the run_now_children fixture, which points the children here)."""
import os

from oms_test.settings_test import *
from tests.staff.cron_jobs_for_tests import RUN_NOW_TEST_CRONJOBS, STAFF_TEST_CRONJOB_NAMES

CRONJOBS = RUN_NOW_TEST_CRONJOBS
CRONJOB_NAMES = STAFF_TEST_CRONJOB_NAMES
CRON_RUNTIME_JOBS = []  # exactly the staff test jobs: the runtime adds none of its own
# A test's settings.STAFF_TEST_JOB_FAILS does not reach another process; the environment does.
STAFF_TEST_JOB_FAILS = os.environ.get("STAFF_TEST_JOB_FAILS") == "1"
