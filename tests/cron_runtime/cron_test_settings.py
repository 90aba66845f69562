"""Settings for `manage.py` child processes of the runner's tests: the test jobs in CRONJOBS.

CRONTAB_EXECUTABLE comes from TEST_CRONTAB_EXECUTABLE so a test can point it at a missing
or failing program.
"""
import os

import environ

# Under cron (env -i) the environment comes from OMS_ENV_FILE; read it before settings_test's
# setdefault()s (LOG_DIR, SECRET_KEY…) would take precedence over it.
if os.environ.get("OMS_ENV_FILE"):
    environ.Env.read_env(os.environ["OMS_ENV_FILE"])

from oms_test.settings_test import *
from tests.cron_runtime.jobs import TEST_CRONJOB_NAMES, TEST_CRONJOBS

CRONJOBS = TEST_CRONJOBS
CRONJOB_NAMES = TEST_CRONJOB_NAMES
# Exactly the test jobs (they list the heartbeat themselves): the runtime adds none of its own.
CRON_RUNTIME_JOBS = []
CRONTAB_EXECUTABLE = os.environ.get("TEST_CRONTAB_EXECUTABLE", "/usr/bin/crontab")
# A test that must see the alert mail of a child process points this at a folder (`crontab add`
# copies it into .cron.env, so cron-started children see it too).
CRON_ENV_EXTRA_VARIABLES = [*CRON_ENV_EXTRA_VARIABLES, "OMS_TEST_EMAIL_FILE_PATH"]
if os.environ.get("OMS_TEST_EMAIL_FILE_PATH"):
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = os.environ["OMS_TEST_EMAIL_FILE_PATH"]
