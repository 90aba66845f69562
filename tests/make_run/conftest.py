"""Fixtures of the `make run` tests: those of the cron runtime's and the Celery engine's tests."""
from tests.cron_runtime.engines.celery.conftest import broker_url  # noqa: F401 — the tests' own Redis database
from tests.cron_runtime.conftest import cron_env, real_crontab  # noqa: F401 — test jobs; the saved crontab
from tests.cron_runtime.installer.test_cron_daemon import cron_daemon  # noqa: F401 — a running cron daemon
