"""Bad input on the staff pages: each filter stands on its own, months are bounded, nothing is a 500."""
from __future__ import annotations

import itertools
import re
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from basic.cron_runtime.models import RunOutcome
from order.models import FinanceRecord, Order, OrderStatus
from order.services.finance import current_month
from tests.factories import make_user
from tests.staff.test_staff_finance import open_xlsx, rows_of

JOB_URL = "/staff/cron/flaky/"
EXPORT_URL = "/staff/finance/export.xlsx"
REGENERATE_URL = "/staff/finance/regenerate/"
_numbers = itertools.count(1)

LOG = (
    "2024-05-01 08:00:00.000 +08:00 | INFO     | web1 | pid 1 | start\n"
    "2024-05-01 08:00:01.000 +08:00 | ERROR    | web1 | pid 1 | job raised ValueError\n"
    "2024-05-01 08:01:00.000 +08:00 | INFO     | web1 | pid 2 | all fine again\n"
)


@pytest.fixture
def thirty_runs(make_run, staff_cronjobs):
    """30 runs of flaky, newest first on the page: 3 failed (1, 11 and 21 minutes ago), 27 succeeded."""
    (staff_cronjobs / "flaky.log").write_text(LOG, encoding="utf-8")
    return [make_run("flaky", RunOutcome.FAILED if minute % 10 == 0 else RunOutcome.SUCCEEDED, minutes_ago=minute + 1)
            for minute in range(30)]


def runs_table(page: str) -> str:
    return page.split('id="runs"')[1].split("</table>")[0]


def outcomes_listed(page: str) -> list[str]:
    return re.findall(r'badge outcome [^"]*">(\w+)</span>', runs_table(page))


def log_tail(page: str) -> str:
    return page.split('id="log-tail"')[1].split("</pre>")[0] if 'id="log-tail"' in page else ""


def ignored_note(page: str) -> str:
    return page.split('id="ignored-filters"')[1].split("</p>")[0] if 'id="ignored-filters"' in page else ""


# --- Job page: a bad value in one filter never drops the others --------------------------------------------------


@pytest.mark.parametrize("bad_page", ["abc", "0", "-1", "9999", "1e5", "99999999999999999999999999"])
def test_a_bad_page_keeps_the_outcome_filter(staff_client, thirty_runs, bad_page):
    response = staff_client.get(JOB_URL, {"page": bad_page, "outcome": "failed"})
    page = response.content.decode()
    assert response.status_code == 200
    assert outcomes_listed(page) == ["failed"] * 3
    assert f"page={bad_page}" in ignored_note(page)
    assert "outcome" not in ignored_note(page)


def test_a_page_past_the_end_shows_the_last_page(staff_client, thirty_runs):
    page = staff_client.get(JOB_URL, {"page": "9999"}).content.decode()
    assert len(outcomes_listed(page)) == 5 and "第 2 / 2 页（共 30 条）" in page


def test_a_bad_outcome_keeps_the_page(staff_client, thirty_runs):
    page = staff_client.get(JOB_URL, {"outcome": "xyz", "page": "2"}).content.decode()
    assert len(outcomes_listed(page)) == 5 and "第 2 / 2 页（共 30 条）" in page  # page 2 of all 30 runs
    assert "outcome=xyz" in ignored_note(page) and "page=" not in ignored_note(page)
    assert 'value="xyz"' not in page  # the forms show the filters in force, not the rejected value


def test_a_bad_outcome_keeps_the_log_filter(staff_client, thirty_runs):
    page = staff_client.get(JOB_URL, {"outcome": "xyz", "level": "ERROR"}).content.decode()
    assert "job raised ValueError" in log_tail(page) and "all fine again" not in log_tail(page)


def test_a_bad_level_keeps_the_search_text(staff_client, thirty_runs):
    page = staff_client.get(JOB_URL, {"level": "BOGUS", "q": "fine again"}).content.decode()
    assert "all fine again" in log_tail(page) and "| start" not in log_tail(page)
    assert "level=BOGUS" in ignored_note(page) and "q=" not in ignored_note(page)
    assert 'name="q" value="fine again"' in page


def test_a_too_long_search_text_keeps_the_level_and_the_history_filter(staff_client, thirty_runs):
    page = staff_client.get(JOB_URL, {"level": "ERROR", "q": "x" * 500, "outcome": "failed"}).content.decode()
    assert "job raised ValueError" in log_tail(page) and "all fine again" not in log_tail(page)
    assert outcomes_listed(page) == ["failed"] * 3
    assert "q=" in ignored_note(page) and "x" * 100 not in page  # shown shortened


def test_good_filters_show_no_ignored_note(staff_client, thirty_runs):
    for page_number in ("2", "02"):
        page = staff_client.get(JOB_URL, {"outcome": "succeeded", "page": page_number, "level": "INFO", "q": "fine"})
        assert 'id="ignored-filters"' not in page.content.decode()


def test_pagination_links_and_filter_forms_carry_the_other_filters(staff_client, thirty_runs):
    page = staff_client.get(JOB_URL, {"level": "ERROR", "q": "raised", "page": "2"}).content.decode()
    assert 'href="?page=1&amp;level=ERROR&amp;q=raised"' in page
    history_form, log_form = page.split('<form class="filters" method="get">')[1:3]
    assert 'name="level" value="ERROR"' in history_form and 'name="q" value="raised"' in history_form
    assert 'name="page"' not in history_form  # a new history filter starts again at page 1
    assert 'name="page" value="2"' in log_form  # a new log filter keeps the history page


@pytest.mark.parametrize("query", [
    {"page": "\x00"}, {"outcome": "\x00"}, {"level": "\x00"}, {"q": "\x00"}, {"q": "%s%n{}"},
    {"page": ["1", "abc"]}, {"outcome": ["failed", "xyz"]},
])
def test_odd_query_strings_are_never_a_500(staff_client, thirty_runs, query):
    assert staff_client.get(JOB_URL, query).status_code == 200


@pytest.mark.parametrize("name", ["nope", "%00", "%E2%98%83", "a" * 3000, "123", "..", "flaky.log"])
def test_unknown_job_names_are_404(staff_client, staff_cronjobs, name):
    assert staff_client.get(f"/staff/cron/{name}/").status_code == 404
    assert staff_client.post(f"/staff/cron/{name}/run/").status_code == 404


# --- Regenerate: only finished months from 2000-01, and not before the first order --------------------------------


def make_order(created: datetime) -> Order:
    return Order.objects.create(
        order_number=f"S{next(_numbers):012d}", user=make_user(), total=Decimal("100.00"), pay_amount=Decimal("100.00"),
        order_status=OrderStatus.PAID, created_time=created, paid_time=created + timedelta(minutes=5),
    )


@pytest.fixture
def order_in_2024_05(db):
    return make_order(timezone.make_aware(datetime(2024, 5, 10, 12, 0)))


def regenerate(client, month: str) -> str:
    response = client.post(REGENERATE_URL, {"month": month})
    assert response.status_code == 302 and response["Location"] == "/staff/finance/"
    return client.get(response["Location"]).content.decode()


@pytest.mark.parametrize("month", ["0001-01", "1000-06", "1999-12"])
def test_a_month_before_2000_is_a_form_error_not_a_500(staff_client, order_in_2024_05, month):
    page = regenerate(staff_client, month)
    assert f"无法重新生成：{month} 太早了：只能生成 2000-01 以后的月份" in page
    assert not FinanceRecord.objects.exists()


def test_a_month_before_the_first_order_is_refused_and_nothing_is_recorded(staff_client, order_in_2024_05):
    page = regenerate(staff_client, "2024-04")
    assert "2024-04 没有订单（第一笔订单在 2024-05），不生成全为 0 的月报" in page
    assert not FinanceRecord.objects.exists()


def test_without_any_order_no_month_is_generated(staff_client, db):
    assert "2020-01 没有订单（还没有任何订单）" in regenerate(staff_client, "2020-01")
    assert not FinanceRecord.objects.exists()


def test_a_month_before_the_first_order_that_has_a_record_can_be_regenerated(staff_client, order_in_2024_05,
                                                                             finance_records):
    assert "2024-01 的财务月报已重新生成" in regenerate(staff_client, "2024-01")
    assert FinanceRecord.objects.get(month=date(2024, 1, 1)).orders_created == 0  # recomputed from the orders


def test_the_month_of_the_first_order_is_generated(staff_client, order_in_2024_05):
    assert "2024-05 的财务月报已重新生成" in regenerate(staff_client, "2024-05")
    record = FinanceRecord.objects.get()
    assert (record.month, record.orders_paid, record.revenue) == (date(2024, 5, 1), 1, Decimal("100.00"))


@pytest.mark.parametrize("offset_months", [0, 1, 12 * 7000])
def test_the_current_and_future_months_are_refused(staff_client, order_in_2024_05, offset_months):
    this_month = current_month()
    year, month = divmod(this_month.year * 12 + this_month.month - 1 + offset_months, 12)
    month_text = f"{min(year, 9999):04d}-{month + 1:02d}"
    page = regenerate(staff_client, month_text)
    assert f"无法重新生成：{month_text} 还没有结束" in page
    assert not FinanceRecord.objects.exists()


@pytest.mark.parametrize("month", ["", "abc", "2024-13", "99999-01", "2024-1x", "\x00"])
def test_malformed_months_are_refused(staff_client, db, month):
    assert "无法重新生成" in regenerate(staff_client, month)
    assert not FinanceRecord.objects.exists()


def test_the_month_input_is_bounded_in_the_browser_too(staff_client, db):
    last_finished = current_month() - timedelta(days=1)
    page = staff_client.get("/staff/finance/").content.decode()
    form = page.split(f'action="{REGENERATE_URL}"')[1].split("</form>")[0]
    assert 'min="2000-01"' in form and f'max="{last_finished:%Y-%m}"' in form


# --- Export: the range is clamped to the months on record; an empty or bad one goes back with a message ------------


def export_refused(client, query) -> str:
    response = client.get(EXPORT_URL, query)
    assert response.status_code == 302 and response["Location"] == "/staff/finance/"
    return client.get(response["Location"]).content.decode()


def exported(client, query) -> tuple[str, list[list]]:
    response = client.get(EXPORT_URL, query)
    assert response.status_code == 200
    filename = re.search(r'filename="([^"]+)"', response["Content-Disposition"]).group(1)
    return filename, rows_of(open_xlsx(response.content))


@pytest.mark.parametrize("query, filename, months", [
    ({"first": "0001-01"}, "finance_2024-01_to_2024-03.xlsx", 3),
    ({"first": "0001-01", "last": "9999-12"}, "finance_2024-01_to_2024-03.xlsx", 3),
    ({"first": "2024-02", "last": "2030-01"}, "finance_2024-02_to_2024-03.xlsx", 2),
    ({"last": "2024-02"}, "finance_2024-01_to_2024-02.xlsx", 2),
    ({"first": "2023-06", "last": "2024-01"}, "finance_2024-01.xlsx", 1),
])
def test_the_range_is_clamped_to_the_months_on_record(staff_client, finance_records, query, filename, months):
    name, rows = exported(staff_client, query)
    assert name == filename
    assert len(rows) == months + 2 and rows[-1][0] == "合计"


@pytest.mark.parametrize("query", [{"first": "2030-01"}, {"last": "0001-01"}, {"first": "2030-01", "last": "2030-12"}])
def test_a_range_without_records_goes_back_with_a_message(staff_client, finance_records, query):
    page = export_refused(staff_client, query)
    assert "之间没有财务月报可以导出；已有月报的月份是 2024-01 到 2024-03" in page


def test_a_gap_month_without_a_record_goes_back_with_a_message(staff_client, finance_records):
    finance_records[1].delete()
    assert "2024-02 到 2024-02 之间没有财务月报可以导出" in export_refused(staff_client, {"first": "2024-02",
                                                                                        "last": "2024-02"})


def test_an_inverted_range_goes_back_with_a_message(staff_client, finance_records):
    assert "无法导出：开始月份不能晚于结束月份" in export_refused(staff_client, {"first": "2024-03", "last": "2024-01"})


@pytest.mark.parametrize("first", ["March", "2024-13", "99999-01", "\x00"])
def test_a_malformed_month_goes_back_with_a_message(staff_client, finance_records, first):
    assert "无法导出：请输入月份，格式 YYYY-MM" in export_refused(staff_client, {"first": first})


def test_nothing_on_record_goes_back_with_a_message(staff_client, db):
    assert "还没有财务月报可以导出" in export_refused(staff_client, {"first": "2024-01"})


@pytest.mark.parametrize("query", [{"first": "0001-01"}, {"first": "9999-12", "last": "9999-12"},
                                   {"first": "2024-03", "last": "2024-01"}, {"first": "abc"}])
def test_the_finance_page_takes_odd_ranges(staff_client, finance_records, query):
    response = staff_client.get("/staff/finance/", query)
    assert response.status_code == 200
    if query == {"first": "0001-01"}:
        assert 'value="0001-01"' in response.content.decode()  # not "1-01"


# --- Admin ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def admin_client_(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))
    return client


@pytest.mark.parametrize("query", [
    "month__year=9999", "month__year=9999&month__month=12", "month__year=9999&month__month=12&month__day=31",
    "month__year=99999999999999999999", "month__year=abc", "month__year=2024&month__month=13",
])
def test_admin_date_hierarchy_out_of_range_is_not_a_500(admin_client_, finance_records, query):
    response = admin_client_.get(f"/admin/order/financerecord/?{query}")
    assert response.status_code == 302 and response["Location"].endswith("?e=1")


def test_admin_finance_record_is_shown_read_only(admin_client_, finance_records):
    page = admin_client_.get(f"/admin/order/financerecord/{finance_records[1].pk}/change/").content.decode()
    assert "2500.25" in page and 'name="_save"' not in page and 'name="revenue"' not in page
    assert admin_client_.get("/admin/order/financerecord/abc/change/").status_code == 302  # "does not exist"
