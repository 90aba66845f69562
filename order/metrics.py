"""Business metrics for ``/metrics``: orders cancelled and payment callbacks, read at scrape time.

Registered with the cron runtime's ``/metrics`` from ``OrderConfig.ready()``. Both count
rows whose state is final (a cancelled order stays cancelled, a callback's outcome is never
rewritten), so they only grow, as Prometheus counters must.
"""
from __future__ import annotations

from django.db.models import Count
from prometheus_client.core import CounterMetricFamily

from order.models import CallbackOutcome, OrderStatus, PaymentCallback
from order.services.totals import orders_cancelled_totals

CANCEL_REASONS = {OrderStatus.TIMEOUT_CANCELLED: "timeout", OrderStatus.CANCELLED: "user"}


class OrderMetricsCollector:
    """Orders cancelled from their maintained tallies (two rows); callbacks by outcome from an index."""

    def collect(self):
        cancelled = orders_cancelled_totals()
        orders = CounterMetricFamily("oms_orders_cancelled", "Orders cancelled, by who cancelled them "
                                     "(timeout: the payment time ran out; user: the buyer).", labels=["reason"])
        for status, reason in CANCEL_REASONS.items():
            orders.add_metric([reason], cancelled.get(status, 0))
        yield orders

        outcomes = dict(PaymentCallback.objects.values_list("outcome").annotate(n=Count("id")).order_by())
        callbacks = CounterMetricFamily("oms_payment_callbacks", "Payment gateway callbacks accepted, by what "
                                        "was done with them (applied, duplicate, refund_required).",
                                        labels=["outcome"])
        for outcome in CallbackOutcome.values:
            callbacks.add_metric([outcome], outcomes.get(outcome, 0))
        yield callbacks
