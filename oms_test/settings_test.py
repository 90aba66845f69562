"""Test settings: the real settings with throwaway secrets and a fast password hasher.

The database is whatever DATABASE_URL says (SQLite by default, MariaDB in CI's second run).
"""
import os
import tempfile

os.environ.setdefault("OMS_IGNORE_DOTENV", "1")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("PAYMENT_SECRET", "test-payment-secret-not-for-production")
# Orders placed by tests get no gateway query unless the test asks for one (settings fixture):
# the tests of cancel_timeouts, reminders and payment predate it and run no dispatcher to answer it.
os.environ.setdefault("GATEWAY_QUERY_BEFORE", "0")
# Each test run gets its own log folder and cache (child processes inherit them through the
# environment), so runs on SQLite and MariaDB at the same time never read each other's files,
# and a CACHE_URL from the developer's shell (a real Redis) is never cleared by a test.
if "OMS_TEST_RUN_DIR" not in os.environ:  # the pytest process itself, not a child it started
    os.environ["OMS_TEST_RUN_DIR"] = tempfile.mkdtemp(prefix=f"oms-test-{os.environ.get('TEST_DATABASE_NAME', 'run')}-")
    os.environ["CACHE_URL"] = "filecache://" + os.path.join(os.environ["OMS_TEST_RUN_DIR"], "cache")
    # Likewise Celery's broker: the tests own Redis databases 10-13 of 127.0.0.1:6379 (10 on SQLite,
    # 11 on MariaDB, so the two passes never share one; OMS_TEST_REDIS_DB picks another).
    _redis_db = os.environ.get("OMS_TEST_REDIS_DB") or ("11" if os.environ.get("DATABASE_URL", "").startswith("mysql")
                                                        else "10")
    os.environ["CELERY_BROKER_URL"] = f"redis://127.0.0.1:6379/{_redis_db}"
os.environ.setdefault("LOG_DIR", os.path.join(os.environ["OMS_TEST_RUN_DIR"], "logs"))

from oms_test.settings import *

# A child process started by cron finds this run's folder and broker database through .cron.env.
CRON_ENV_EXTRA_VARIABLES = ["OMS_TEST_RUN_DIR", "OMS_TEST_REDIS_DB"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
