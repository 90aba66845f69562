"""Pause and resume from the job page in a real browser (Debian's chromium via Playwright, live_server)."""
from __future__ import annotations

import pytest

from basic.cron_runtime.models import JobPause
from tests.helpers import SCREENSHOT_DIR, browser_login
from tests.staff.helpers import STAFF_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_pauses_a_job_with_a_reason_sees_it_everywhere_and_resumes_it(
        browser_page, staff_user, healthy_runs, staff_cronjobs):
    page = browser_page
    browser_login(page, staff_user.username, STAFF_PASSWORD)
    page.goto("/staff/cron/flaky/")
    page.locator("#pause-reason").fill("邮件模板有误，修好前暂停")
    page.locator("#pause-until").fill("2099-01-01 08:00")
    page.locator("#pause").click()
    page.wait_for_url("**/staff/cron/flaky/")
    info = page.locator("#pause-info").inner_text()
    assert "ops 于" in info and "邮件模板有误，修好前暂停" in info and "2099-01-01 08:00 自动恢复" in info
    assert "暂停期间的时刻不补跑" in info
    assert page.locator("#paused-badge").inner_text() == "已暂停"
    assert "已暂停" in page.locator("#run-paused-warning").inner_text()
    page.screenshot(path=str(SCREENSHOT_DIR / "staff-job-paused.png"), full_page=True)
    pause = JobPause.objects.get(job="flaky")
    assert pause.paused and pause.paused_by == "ops" and pause.reason == "邮件模板有误，修好前暂停"

    page.goto("/staff/")
    assert page.locator("#job-flaky .flag-paused").inner_text() == "已暂停"
    assert page.locator("#job-heartbeat .flag-paused").count() == 0

    page.goto("/staff/cron/flaky/")
    page.locator("#resume").click()
    page.wait_for_url("**/staff/cron/flaky/")
    assert "已恢复" in page.locator(".messages li.success").inner_text()
    assert page.locator("#pause-form").count() == 1 and page.locator("#pause-info").count() == 0
    pause.refresh_from_db()
    assert not pause.paused and pause.resumed_by == "ops"
