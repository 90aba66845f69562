"""The finance page's charts (drawn by ECharts in the browser, see basic.cron_runtime.console.charts)."""
from __future__ import annotations

from basic.cron_runtime.console.charts import YUAN, Chart, ChartSeries, bar_chart
from order.models import FinanceRecord


def finance_revenue_chart(*, records: list[FinanceRecord]) -> Chart:
    return bar_chart(
        id="chart-revenue", title="收入", unit=YUAN,
        labels=[f"{record.month:%Y-%m}" for record in records],
        series=[ChartSeries("收入", [record.revenue for record in records], "#2563eb")],
    )


def finance_orders_chart(*, records: list[FinanceRecord]) -> Chart:
    return bar_chart(
        id="chart-orders", title="订单数",
        labels=[f"{record.month:%Y-%m}" for record in records],
        series=[
            ChartSeries("下单", [record.orders_created for record in records], "#94a3b8"),
            ChartSeries("已支付", [record.orders_paid for record in records], "#12805c"),
            ChartSeries("超时取消", [record.orders_timeout_cancelled for record in records], "#c0392b"),
        ],
    )
