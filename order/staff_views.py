"""Staff finance page: monthly records, charts, .xlsx download, regenerate a month."""
from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from basic.cron_runtime.console.access import staff_required
from order.finance_charts import finance_orders_chart, finance_revenue_chart
from order.services.finance import FinanceMonthRefused, finance_regenerate
from order.services.finance_export import finance_export_xlsx, finance_totals
from order.staff_forms import FinanceRangeForm, RegenerateMonthForm, month_text
from order.staff_selectors import finance_month_bounds, finance_records_between

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@staff_required
@require_GET
def finance_index(request):
    form = FinanceRangeForm(request.GET or None)
    chosen = form.cleaned_data if form.is_valid() else {}
    records = finance_records_between(first_month=chosen.get("first"), last_month=chosen.get("last"))
    return render(request, "order/staff/finance.html", {
        "form": form,
        "records": records,
        "totals": finance_totals(records=records),
        "revenue_chart": finance_revenue_chart(records=records),
        "orders_chart": finance_orders_chart(records=records),
        "export_query": request.GET.urlencode() if form.is_bound and form.is_valid() else "",
        "regenerate_form": RegenerateMonthForm(),
    })


@staff_required
@require_GET
def finance_export(request):
    """One month (first=last) or a range as .xlsx; no range given means every month on record.

    The range is narrowed to the months that have a record (``first=0001-01`` starts at the
    first record); a range with no record in it, an inverted or malformed one, sends the
    user back to the finance page with a message instead of a broken or empty file.
    """
    form = FinanceRangeForm(request.GET)
    if not form.is_valid():
        messages.error(request, "无法导出：" + "; ".join(error for errors in form.errors.values() for error in errors))
        return redirect("staff:finance:index")
    first, last = form.cleaned_data["first"], form.cleaned_data["last"]
    records = finance_records_between(first_month=first, last_month=last)
    if not records:
        first_on_record, last_on_record = finance_month_bounds()
        if first_on_record is None:
            messages.error(request, "还没有财务月报可以导出")
        else:
            asked = f"{month_text(first) if first else '最早'} 到 {month_text(last) if last else '最近'}"
            messages.error(request, f"{asked} 之间没有财务月报可以导出；已有月报的月份是 "
                                    f"{month_text(first_on_record)} 到 {month_text(last_on_record)}")
        return redirect("staff:finance:index")
    first_month, last_month = records[0].month, records[-1].month  # the range, clamped to the months on record
    filename, content = finance_export_xlsx(records=records, first_month=first_month, last_month=last_month)
    response = HttpResponse(content, content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@staff_required
@require_POST
def finance_regenerate_month(request):
    form = RegenerateMonthForm(request.POST)
    if not form.is_valid():
        messages.error(request, "无法重新生成：" + "; ".join(form.errors.get("month", ["月份无效"])))
        return redirect("staff:finance:index")
    try:
        record = finance_regenerate(form.cleaned_data["month"])
    except FinanceMonthRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{record.month:%Y-%m} 的财务月报已重新生成")
    return redirect("staff:finance:index")
