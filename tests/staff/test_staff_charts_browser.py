"""The staff charts in a real browser: ECharts draws them (from the vendored static file), the
axis ticks are distinct and ordered in a unit fitted to the data, hovering a bar shows its value,
and the same numbers are in a table."""
from __future__ import annotations

import pytest

from basic.cron_runtime.models import RunOutcome
from tests.helpers import SCREENSHOT_DIR, browser_login
from tests.staff.helpers import STAFF_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# ECharts' SVG renderer draws the y axis's labels (left of the plot) right-aligned: text-anchor="end".
AXIS_TEXTS = """el => Array.from(el.querySelectorAll('svg text')).map(t => {
    const box = t.getBoundingClientRect();
    return {text: t.textContent, anchor: t.getAttribute('text-anchor'), x: box.left + box.width / 2,
            y: box.top + box.height / 2};
})"""


def chart_texts(page, chart_id: str) -> list[dict]:
    page.wait_for_selector(f"#{chart_id} .echart[data-drawn] svg text")
    return page.locator(f"#{chart_id} .echart").evaluate(AXIS_TEXTS)


def y_ticks(texts: list[dict]) -> list[str]:
    """The y axis's tick labels, bottom to top."""
    return [t["text"] for t in sorted((t for t in texts if t["anchor"] == "end"), key=lambda t: -t["y"])]


def as_numbers(ticks: list[str], prefix: str = "") -> list[float]:
    return [float(tick.removeprefix(prefix).replace(",", "")) for tick in ticks]


def assert_readable_axis(ticks: list[str], prefix: str = "") -> list[float]:
    numbers = as_numbers(ticks, prefix)
    assert len(ticks) >= 3, ticks
    assert len(set(ticks)) == len(ticks), f"repeated tick labels: {ticks}"
    assert numbers == sorted(numbers) and numbers[0] == 0, ticks
    return numbers


def test_duration_axis_is_readable_in_a_fitting_unit_and_hover_shows_the_value(
        browser_page, staff_user, staff_cronjobs, make_run):
    page = browser_page
    # Sub-second runs: the hand-drawn axis read "0.1, 0.1, 0.1, 0.0, 0.0" for these.
    runs = [make_run("flaky", RunOutcome.SUCCEEDED, minutes_ago=10 - index, seconds=seconds)
            for index, seconds in enumerate([0.012, 0.05, 0.11, 0.003, 0.08])]
    runs.append(make_run("flaky", RunOutcome.FAILED, minutes_ago=4, seconds=0.04))
    # Long runs of another job: minutes, not thousands of seconds.
    for index, seconds in enumerate([90, 300, 610, 1500]):
        make_run("heartbeat", RunOutcome.SUCCEEDED, minutes_ago=60 - index, seconds=seconds)
    browser_login(page, staff_user.username, STAFF_PASSWORD)

    page.goto("/staff/cron/flaky/")
    texts = chart_texts(page, "chart-duration")
    numbers = assert_readable_axis(y_ticks(texts))
    assert numbers[-1] >= 110  # milliseconds: the slowest run (110 ms) is under the top tick
    assert "毫秒" in [t["text"] for t in texts]
    # Hover the slowest run's bar (its x label is the run number): the tooltip shows its value and outcome.
    label = next(t for t in texts if t["text"] == f"#{runs[2].pk}")
    box = page.locator("#chart-duration .echart").bounding_box()
    page.mouse.move(label["x"], box["y"] + box["height"] / 2)
    tooltip = page.locator("#chart-duration .echart > div").filter(has_text="110 ms")
    tooltip.wait_for()
    assert "succeeded" in tooltip.inner_text()
    # The table fallback (opened by its summary) has every run, in the same unit.
    page.locator("#chart-duration details summary").click()
    table = page.locator("#chart-duration details table")
    assert table.locator("tbody tr").count() == len(runs)
    assert "110 ms" in table.inner_text() and "failed" in table.inner_text()
    page.screenshot(path=str(SCREENSHOT_DIR / "staff-duration-chart.png"), full_page=True)

    page.goto("/staff/cron/heartbeat/")
    texts = chart_texts(page, "chart-duration")
    numbers = assert_readable_axis(y_ticks(texts))
    assert "分钟" in [t["text"] for t in texts] and 25 <= numbers[-1] <= 60  # 1500 s = 25 min


def test_finance_chart_axis_in_yuan(browser_page, staff_user, finance_records):
    page = browser_page
    browser_login(page, staff_user.username, STAFF_PASSWORD)
    page.goto("/staff/finance/")
    ticks = y_ticks(chart_texts(page, "chart-revenue"))
    numbers = assert_readable_axis(ticks, prefix="¥")
    assert all(tick.startswith("¥") for tick in ticks) and numbers[-1] >= 2500.25
    orders = y_ticks(chart_texts(page, "chart-orders"))
    assert_readable_axis(orders)
    assert page.locator("#chart-orders details table tbody tr").count() == len(finance_records)


def test_a_fresh_demo_shows_finance_charts_of_its_finished_months_and_exports_them(browser_page, tmp_path):
    """`make run` loads the demo: its finished months are on the finance page at once, recorded by the
    real monthly_finance job (a run in its history), and the .xlsx button downloads them."""
    from io import StringIO

    from django.core.management import call_command

    from basic.cron_runtime.models import JobRun
    from order.models import FinanceRecord, Order
    from order.services.finance import business_date, current_month

    out = StringIO()
    call_command("load_demo", stdout=out)
    demo_months = sorted({business_date(created).replace(day=1) for created in
                          Order.objects.values_list("created_time", flat=True)} - {current_month()})
    assert len(demo_months) >= 5
    assert sorted(FinanceRecord.objects.values_list("month", flat=True)) == demo_months
    run = JobRun.objects.get(job="monthly_finance")
    assert (run.outcome, run.trigger, run.items_processed) == ("succeeded", "manual", len(demo_months))
    assert f"demo finance: finance recorded for {len(demo_months)} month(s)" in out.getvalue()

    page = browser_page
    browser_login(page, "admin", "admin-demo-123")
    page.goto("/staff/finance/")
    labels = {text["text"] for text in chart_texts(page, "chart-revenue")}
    assert {f"{month:%Y-%m}" for month in demo_months} <= labels
    assert page.locator("#finance-table tbody tr").count() == len(demo_months)
    with page.expect_download() as download:
        page.locator("#download-xlsx").click()
    assert download.value.suggested_filename == (f"finance_{demo_months[0]:%Y-%m}_to_{demo_months[-1]:%Y-%m}.xlsx")
    page.screenshot(path=str(SCREENSHOT_DIR / "demo-finance.png"), full_page=True)


def test_with_no_finance_record_the_xlsx_button_says_there_is_nothing_to_export(browser_page, staff_user):
    page = browser_page
    browser_login(page, staff_user.username, STAFF_PASSWORD)
    page.goto("/staff/finance/")
    button = page.locator("#download-xlsx")
    assert button.get_attribute("aria-disabled") == "true" and button.get_attribute("href") is None
    assert page.locator("#nothing-to-export").inner_text() == "没有可导出的财务月报"
