"""Finance page and its .xlsx download."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from io import BytesIO

import pytest
from openpyxl import load_workbook

from order.models import FinanceRecord

EXPORT_URL = "/staff/finance/export.xlsx"


def open_xlsx(content: bytes):
    return load_workbook(BytesIO(content)).active


def rows_of(sheet) -> list[list]:
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def test_download_of_a_range_has_headers_formats_and_totals(staff_client, finance_records):
    response = staff_client.get(EXPORT_URL, {"first": "2024-01", "last": "2024-03"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response["Content-Disposition"] == 'attachment; filename="finance_2024-01_to_2024-03.xlsx"'
    sheet = open_xlsx(response.content)
    rows = rows_of(sheet)
    assert rows[0][:9] == ["月份", "下单数", "已支付订单", "用户取消", "超时取消", "未支付",
                           "收入（元）", "优惠券抵扣（元）", "积分抵扣（积分）"]
    assert [row[0] for row in rows[1:4]] == [datetime(2024, 1, 1), datetime(2024, 2, 1), datetime(2024, 3, 1)]
    assert rows[4][:9] == ["合计", 35, 25, 5, 4, 1, pytest.approx(3800.74), pytest.approx(75.50), 1700]
    assert all(cell.font.bold for cell in sheet[1]) and all(cell.font.bold for cell in sheet[5])
    assert sheet["A2"].number_format == "yyyy-mm"
    assert sheet["G2"].number_format == '"¥"#,##0.00' and sheet["G5"].number_format == '"¥"#,##0.00'
    assert sheet["B2"].number_format == "#,##0" and sheet["I5"].number_format == "#,##0"
    assert sheet.column_dimensions["G"].width >= 12
    assert sheet.freeze_panes == "A2"


def test_download_of_one_month(staff_client, finance_records):
    response = staff_client.get(EXPORT_URL, {"first": "2024-02", "last": "2024-02"})
    assert 'filename="finance_2024-02.xlsx"' in response["Content-Disposition"]
    rows = rows_of(open_xlsx(response.content))
    assert len(rows) == 3 and rows[1][1] == 20 and rows[2][0] == "合计" and rows[2][6] == pytest.approx(2500.25)


def test_download_without_a_range_covers_every_month(staff_client, finance_records):
    response = staff_client.get(EXPORT_URL)
    assert 'filename="finance_2024-01_to_2024-03.xlsx"' in response["Content-Disposition"]


def test_a_bad_range_goes_back_to_the_finance_page_with_a_message(staff_client, finance_records):
    for query, message in [({"first": "2024-03", "last": "2024-01"}, "开始月份不能晚于结束月份"),
                           ({"first": "March"}, "请输入月份，格式 YYYY-MM"),
                           ({"first": "2030-01"}, "没有财务月报可以导出")]:
        response = staff_client.get(EXPORT_URL, query, follow=True)
        assert response.redirect_chain == [("/staff/finance/", 302)]
        assert message in response.content.decode()


def test_finance_page_shows_table_totals_and_charts(staff_client, finance_records):
    response = staff_client.get("/staff/finance/")
    page = response.content.decode()
    assert response.status_code == 200
    assert page.count('class="echart"') == 2 and page.count('<details class="chart-table">') == 2
    assert "2024-02" in page and "¥3,800.74" in page  # the totals row
    assert 'href="/staff/finance/export.xlsx"' in page


def test_finance_page_range_filter(staff_client, finance_records):
    page = staff_client.get("/staff/finance/", {"first": "2024-02", "last": "2024-02"}).content.decode()
    assert "¥2,500.25" in page and "¥1,200.50" not in page
    assert "export.xlsx?first=2024-02&amp;last=2024-02" in page


def test_regenerate_button_recomputes_a_finished_month(staff_client, finance_records):
    response = staff_client.post("/staff/finance/regenerate/", {"month": "2024-02"}, follow=True)
    assert "2024-02 的财务月报已重新生成" in response.content.decode()
    record = FinanceRecord.objects.get(month=date(2024, 2, 1))
    assert record.orders_created == 0 and record.revenue == Decimal(0)  # no orders in the test database


def test_regenerate_refuses_the_current_month(staff_client, db):
    from order.services.finance import current_month

    response = staff_client.post("/staff/finance/regenerate/", {"month": f"{current_month():%Y-%m}"}, follow=True)
    assert f"{current_month():%Y-%m} 还没有结束" in response.content.decode()
    assert not FinanceRecord.objects.exists()


def test_admin_action_regenerates_selected_months(client, django_user_model, finance_records):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    response = client.post("/admin/order/financerecord/", {
        "action": "regenerate_selected_months", "_selected_action": [finance_records[0].pk],
    }, follow=True)
    assert "已重新生成：2024-01" in response.content.decode()
    assert FinanceRecord.objects.get(month=date(2024, 1, 1)).orders_created == 0
    assert FinanceRecord.objects.get(month=date(2024, 2, 1)).orders_created == 20  # not selected
