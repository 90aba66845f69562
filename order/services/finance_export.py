"""Finance records as an Excel workbook (openpyxl) for staff to download.

The sheet is meant to be opened by accountants: Chinese headers, months as real dates
shown as yyyy-mm (so Excel sorts and filters them as dates), money as ¥ with two
decimals, counts as integers, and a totals row. The totals are written as computed
values rather than SUM formulas: openpyxl does not evaluate formulas, so a value is
what every reader (including tests and scripts) sees identically.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from io import BytesIO

from django.utils import timezone
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from order.models import FinanceRecord

MONEY_FORMAT = '"¥"#,##0.00'
INTEGER_FORMAT = "#,##0"
MONTH_FORMAT = "yyyy-mm"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"


@dataclass(frozen=True)
class FinanceColumn:
    header: str
    field: str
    number_format: str
    width: int
    summed: bool = True


FINANCE_COLUMNS = [
    FinanceColumn("月份", "month", MONTH_FORMAT, 10, summed=False),
    FinanceColumn("下单数", "orders_created", INTEGER_FORMAT, 10),
    FinanceColumn("已支付订单", "orders_paid", INTEGER_FORMAT, 12),
    FinanceColumn("用户取消", "orders_cancelled", INTEGER_FORMAT, 10),
    FinanceColumn("超时取消", "orders_timeout_cancelled", INTEGER_FORMAT, 10),
    FinanceColumn("未支付", "orders_unpaid", INTEGER_FORMAT, 10),
    FinanceColumn("收入（元）", "revenue", MONEY_FORMAT, 16),
    FinanceColumn("优惠券抵扣（元）", "discounts", MONEY_FORMAT, 18),
    FinanceColumn("积分抵扣（积分）", "points_used", INTEGER_FORMAT, 18),
    FinanceColumn("生成时间", "generated_time", DATETIME_FORMAT, 18, summed=False),
]
TOTALS_LABEL = "合计"


def finance_totals(*, records: Iterable[FinanceRecord]) -> dict[str, int | Decimal]:
    """Sum of every summed column over ``records`` (also shown under the staff page's table)."""
    totals: dict[str, int | Decimal] = {
        column.field: Decimal("0.00") if column.number_format == MONEY_FORMAT else 0
        for column in FINANCE_COLUMNS if column.summed
    }
    for record in records:
        for field in totals:
            totals[field] += getattr(record, field)
    return totals


def finance_export_filename(*, first_month: date, last_month: date) -> str:
    if first_month == last_month:
        return f"finance_{first_month:%Y-%m}.xlsx"
    return f"finance_{first_month:%Y-%m}_to_{last_month:%Y-%m}.xlsx"


def _cell_value(record: FinanceRecord, field: str):
    value = getattr(record, field)
    if field == "generated_time" and value is not None:
        # Excel has no timezones: write the business-timezone wall clock.
        return timezone.localtime(value).replace(tzinfo=None)
    return value


def finance_workbook_build(*, records: list[FinanceRecord]) -> Workbook:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "财务月报"
    bold = Font(bold=True)
    header_fill = PatternFill("solid", fgColor="E8EEF9")
    top_line = Border(top=Side(style="thin"))

    for index, column in enumerate(FINANCE_COLUMNS, start=1):
        cell = sheet.cell(row=1, column=index, value=column.header)
        cell.font, cell.fill = bold, header_fill
        cell.alignment = Alignment(horizontal="center")
        sheet.column_dimensions[get_column_letter(index)].width = column.width

    for row, record in enumerate(records, start=2):
        for index, column in enumerate(FINANCE_COLUMNS, start=1):
            cell = sheet.cell(row=row, column=index, value=_cell_value(record, column.field))
            cell.number_format = column.number_format

    totals_row = len(records) + 2
    totals = finance_totals(records=records)
    for index, column in enumerate(FINANCE_COLUMNS, start=1):
        value = TOTALS_LABEL if index == 1 else totals.get(column.field)
        cell = sheet.cell(row=totals_row, column=index, value=value)
        cell.font, cell.border = bold, top_line
        cell.number_format = column.number_format if column.summed else "General"

    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(FINANCE_COLUMNS))}{max(1, totals_row - 1)}"
    return workbook


def finance_export_xlsx(*, records: list[FinanceRecord], first_month: date, last_month: date) -> tuple[str, bytes]:
    """(file name, .xlsx bytes) for the records of ``first_month``..``last_month``."""
    buffer = BytesIO()
    finance_workbook_build(records=records).save(buffer)
    return finance_export_filename(first_month=first_month, last_month=last_month), buffer.getvalue()
