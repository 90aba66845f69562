"""The staff console in a real browser (Debian's chromium via Playwright, against live_server)."""
from __future__ import annotations

import pytest
from openpyxl import load_workbook

from basic.cron_runtime.models import JobRun, RunOutcome, RunTrigger
from tests.cron_runtime.helpers import wait_for
from tests.helpers import SCREENSHOT_DIR, browser_login
from tests.staff.helpers import CUSTOMER_PASSWORD, STAFF_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RED = "rgb(192, 57, 43)"  # --bad in base.html


def test_staff_sees_a_failed_job_runs_it_and_downloads_finance(
    browser_page, staff_user, healthy_runs, make_run, staff_cronjobs, run_now_children, finance_records, tmp_path
):
    page = browser_page
    failed = make_run("flaky", RunOutcome.FAILED, minutes_ago=0.5, message="ValueError: the test told this job to fail",
                      traceback='Traceback (most recent call last):\n  File "jobs.py", line 9, in flaky\n'
                                "ValueError: the test told this job to fail")
    (staff_cronjobs / "flaky.log").write_text(
        "2024-05-01 08:00:00.000 +08:00 | INFO     | web1 | pid 1 | start flaky\n"
        "2024-05-01 08:00:01.000 +08:00 | ERROR    | web1 | pid 1 | job raised ValueError: told to fail\n",
        encoding="utf-8",
    )

    # Staff opens the console, is sent to the login form, and comes back to it.
    page.goto("/staff/")
    assert "/accounts/login/" in page.url
    page.get_by_label("用户名").fill(staff_user.username)
    page.get_by_label("密码").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/staff/")

    flaky_row = page.locator("#job-flaky")
    failed_flag = flaky_row.locator(".flag-failed")
    assert failed_flag.inner_text() == "失败"
    assert failed_flag.evaluate("el => getComputedStyle(el).color") == RED
    assert flaky_row.evaluate("el => getComputedStyle(el.cells[0]).borderLeftColor") == RED
    assert page.locator("#job-heartbeat .flag-failed").count() == 0
    assert "调度器上次心跳：1 分钟前，由 cron 守护进程 启动" in page.locator("#heartbeat").inner_text()
    page.screenshot(path=str(SCREENSHOT_DIR / "staff-cron-dashboard.png"), full_page=True)

    # Its page: the traceback of the failed run and the end of its log.
    flaky_row.get_by_role("link", name="flaky").click()
    page.wait_for_url("**/staff/cron/flaky/")
    assert "ValueError: the test told this job to fail" in page.locator("#last-failure pre").inner_text()
    assert "job raised ValueError: told to fail" in page.locator("#log-tail").inner_text()
    page.select_option("select[name=level]", "ERROR")
    page.get_by_role("button", name="筛选日志").click()
    page.wait_for_url("**level=ERROR**")
    assert "start flaky" not in page.locator("#log-tail").inner_text()

    # Run now: the page comes back at once; the new run (manual, by this user) shows up on a reload.
    page.locator("#run-now").click()
    page.wait_for_url("**/staff/cron/flaky/#runs")
    assert "flaky：已在后台启动（pid " in page.locator(".messages li.success").inner_text()
    newest = page.locator("#runs tr.run").first  # newest first: the older runs are minutes old

    def reloaded_until_finished():
        page.reload()
        return (newest.get_attribute("id") not in {f"run-{failed.pk}", f"run-{healthy_runs[0].pk}"}
                and newest.locator(".outcome").inner_text() != "running")

    wait_for(reloaded_until_finished, 60, "the new run in the history", interval=1)
    new_run = JobRun.objects.filter(job="flaky").exclude(pk__in=[failed.pk, healthy_runs[0].pk]).get()
    assert (new_run.outcome, new_run.trigger, new_run.triggered_by_id) == (
        RunOutcome.SUCCEEDED, RunTrigger.MANUAL, staff_user.pk)
    row = page.locator(f"#run-{new_run.pk}")
    assert row.locator(".outcome").inner_text() == "succeeded"
    assert "manual · ops" in row.inner_text()
    page.screenshot(path=str(SCREENSHOT_DIR / "staff-cron-job.png"), full_page=True)

    # Finance: table and charts, then the .xlsx of every month.
    page.get_by_role("link", name="财务月报").click()
    page.wait_for_url("**/staff/finance/")
    page.wait_for_selector("#chart-orders .echart[data-drawn] svg")
    assert page.locator(".echart[data-drawn] svg").count() == 2
    assert page.locator("#finance-totals").inner_text().split()[:2] == ["合计", "35"]
    page.screenshot(path=str(SCREENSHOT_DIR / "staff-finance.png"), full_page=True)
    with page.expect_download() as download_info:
        page.locator("#download-xlsx").click()
    download = download_info.value
    assert download.suggested_filename == "finance_2024-01_to_2024-03.xlsx"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    sheet = load_workbook(saved).active
    totals = [cell.value for cell in sheet[sheet.max_row]]
    assert totals[:9] == ["合计", 35, 25, 5, 4, 1, pytest.approx(3800.74), pytest.approx(75.50), 1700]


def test_a_customer_is_refused_the_staff_pages(browser_page, customer, staff_cronjobs):
    page = browser_page
    browser_login(page, customer.username, CUSTOMER_PASSWORD)
    for url in ("/staff/", "/staff/cron/flaky/", "/staff/finance/", "/staff/finance/export.xlsx"):
        response = page.goto(url)
        assert response.status == 403, url
    assert page.get_by_role("link", name="运维/财务").count() == 0
