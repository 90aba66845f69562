"""Shared test fixtures and hooks (pytest-django, real database); helpers are in tests/helpers.py."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.helpers import CHROMIUM, CHROMIUM_ARGS, PROJECT_DIR, SCREENSHOT_DIR, database_url_for


@pytest.fixture
def subprocess_env(settings) -> dict:
    """Environment for `manage.py …` child processes: same settings, same (test) database."""
    from django.db import connection

    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "oms_test.settings_test"
    env["DATABASE_URL"] = database_url_for(connection.settings_dict)
    env["LOG_DIR"] = str(settings.LOG_DIR)
    env["PYTHONPATH"] = str(PROJECT_DIR)
    return env


@pytest.fixture
def manage_py() -> list[str]:
    return [sys.executable, str(PROJECT_DIR / "manage.py")]


@pytest.fixture(autouse=True)
def _mysql_only(request):
    from django.db import connection

    if request.node.get_closest_marker("mysql_only") and connection.vendor != "mysql":
        pytest.skip("needs MariaDB/MySQL (marked mysql_only): set DATABASE_URL=mysql://…")


@pytest.fixture
def browser_page(live_server, monkeypatch):
    """A page in Debian's headless chromium driven by Playwright (never a downloaded browser)."""
    # Playwright's sync API runs an event loop in this thread; Django's ORM calls made by
    # the test itself around the browser steps are still plain synchronous calls.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=live_server.url, locale="zh-CN", accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(15_000)
        try:
            yield page
        finally:
            context.close()
            browser.close()


def pytest_collection_modifyitems(config, items):
    """Outside CI, skip tests that need a missing system tool, saying which one to install.

    Browser tests need Debian's chromium; crontab tests need the `crontab` program (and the
    daemon test `cron`). In CI (CI=true) nothing is skipped for a missing tool: .ci/run
    installs them, and a missing one must fail the run rather than hide tests.
    """
    if os.environ.get("CI"):
        return
    no_chromium = not Path(CHROMIUM).exists()
    no_cron = not (Path("/usr/bin/crontab").exists() and Path("/usr/sbin/cron").exists())
    for item in items:
        if no_chromium and "browser" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=f"{CHROMIUM} not found: apt-get install chromium (CI installs it)"))
        if no_cron and ("cron_daemon" in item.keywords or "real_crontab" in getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.skip(reason="cron not installed: apt-get install cron (CI installs it)"))


def pytest_sessionfinish(session, exitstatus):
    """Remove the run's temporary cache and log folder made by oms_test.settings_test
    (CI's screenshots are kept in the project's logs/, not there)."""
    run_dir = os.environ.get("OMS_TEST_RUN_DIR")
    if run_dir and Path(run_dir).name.startswith("oms-test-"):
        import shutil

        shutil.rmtree(run_dir, ignore_errors=True)
