"""Settings of the `celery worker` / `celery beat` processes the Celery engine's tests start.

TEST_CELERY_JOBS picks the job set (tests/cron_runtime/engines/celery/jobs.py); TEST_VISIBILITY_TIMEOUT
shortens Redis's redelivery of unacknowledged messages.
TEST_SMTP_PORT sends mail to the test's SMTP server on loopback.
"""
import os

from oms_test.settings_test import *
from tests.cron_runtime.engines.celery.jobs import JOB_NAMES, jobs

CRONJOBS = jobs(os.environ.get("TEST_CELERY_JOBS", "real"))
CRONJOB_NAMES = JOB_NAMES
CRON_RUNTIME_JOBS = []  # exactly the job set picked: the runtime adds none of its own
CRONJOB_OPTIONS = {**CRONJOB_OPTIONS, "hangs_on_a_socket": {"timeout": 2}}
CRON_TIME_LIMIT_GRACE = 2
if os.environ.get("TEST_VISIBILITY_TIMEOUT"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": int(os.environ["TEST_VISIBILITY_TIMEOUT"]),
    }
if os.environ.get("TEST_SMTP_PORT"):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST, EMAIL_PORT = "127.0.0.1", int(os.environ["TEST_SMTP_PORT"])
    EMAIL_HOST_USER = EMAIL_HOST_PASSWORD = ""
    EMAIL_USE_TLS = False
    ADMINS = [("Ops", "ops@example.com")]
if os.environ.get("TEST_DB_WAIT_TIMEOUT"):  # MariaDB closes this process's idle connections after so many seconds
    DATABASES["default"]["OPTIONS"]["init_command"] += f", SESSION wait_timeout={int(os.environ['TEST_DB_WAIT_TIMEOUT'])}"
