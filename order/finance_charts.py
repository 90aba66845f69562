"""The finance page's charts (server-side SVG, see basic.charts)."""
from __future__ import annotations

from django.utils.safestring import SafeString

from basic.charts import ChartSeries, bar_chart_svg
from order.models import FinanceRecord


def finance_revenue_chart(*, records: list[FinanceRecord]) -> SafeString:
    return bar_chart_svg(
        title="收入（元）",
        labels=[f"{record.month:%Y-%m}" for record in records],
        series=[ChartSeries("收入", [record.revenue for record in records], "#2563eb")],
        value_format=lambda value: f"¥{value:,.0f}",
    )


def finance_orders_chart(*, records: list[FinanceRecord]) -> SafeString:
    return bar_chart_svg(
        title="订单数",
        labels=[f"{record.month:%Y-%m}" for record in records],
        series=[
            ChartSeries("下单", [record.orders_created for record in records], "#94a3b8"),
            ChartSeries("已支付", [record.orders_paid for record in records], "#12805c"),
            ChartSeries("超时取消", [record.orders_timeout_cancelled for record in records], "#c0392b"),
        ],
    )
