"""The 一次性任务 page in a real browser (Debian's chromium via Playwright, against live_server)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from basic.cron_runtime.models import TimedTask, TimedTaskStatus
from basic.cron_runtime.timed_tasks.services import timed_task_schedule
from tests.helpers import SCREENSHOT_DIR, browser_login
from tests.staff.helpers import STAFF_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
NOOP = "tests.cron_runtime.timed_tasks.funcs.noop"


def test_staff_filters_retries_cancels_and_meets_a_stale_task(browser_page, staff_user):
    page = browser_page
    pending = timed_task_schedule(NOOP, timezone.now() + timedelta(hours=1), name="reminder order 42")
    failed = timed_task_schedule(NOOP, timezone.now() - timedelta(hours=1), name="live class 7")
    TimedTask.objects.filter(pk=failed.pk).update(status=TimedTaskStatus.FAILED, attempts=3, finish_time=timezone.now(),
                                                  last_error="SMTPServerDisconnected: Connection unexpectedly closed")
    browser_login(page, staff_user.username, STAFF_PASSWORD)
    page.goto("/staff/")
    page.get_by_role("link", name="一次性任务").click()
    page.wait_for_url("**/staff/timed-tasks/")
    assert page.locator("#task-%d .status" % failed.pk).inner_text() == "failed"
    page.screenshot(path=str(SCREENSHOT_DIR / "staff-timed-tasks.png"), full_page=True)

    page.select_option("select[name=status]", str(TimedTaskStatus.FAILED))
    page.get_by_role("button", name="筛选").click()
    page.wait_for_url("**status=2**")
    assert page.locator("tr.task").count() == 1
    page.locator(f"#task-{failed.pk} button.retry").click()
    page.wait_for_url("**/staff/timed-tasks/?status=2")  # back to the same filter
    assert "已重新排队" in page.locator(".messages").inner_text()
    failed.refresh_from_db()
    assert failed.status == TimedTaskStatus.PENDING

    # The task is finished elsewhere while the page still offers 取消: a message, not an error page.
    page.goto("/staff/timed-tasks/")
    TimedTask.objects.filter(pk=pending.pk).update(status=TimedTaskStatus.DONE, finish_time=timezone.now())
    page.locator(f"#task-{pending.pk} button.cancel").click()
    page.wait_for_url("**/staff/timed-tasks/")
    assert f"#{pending.pk} is done now" in page.locator(".messages").inner_text()
