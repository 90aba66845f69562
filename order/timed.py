"""Functions the timed-task dispatcher calls for the order app (thin: each calls one service)."""
from __future__ import annotations

# The HTTP client is imported with this module, i.e. before the dispatcher takes a rate grant
# (queue_dispatch imports a queue's functions ahead), not in the middle of the first query.
from order.services import gateway_client  # noqa: F401
from order.services.gateway_query import gateway_query_run
from order.services.reminders import order_reminder_send


def unpaid_order_reminder(order_number: str) -> None:
    """Mail "your order will be cancelled in N minutes", if the order is still unpaid."""
    order_reminder_send(order_number=order_number)


def gateway_query(order_number: str) -> dict:
    """Ask the payment gateway whether the order was paid; a "paid" answer is applied like its callback."""
    return gateway_query_run(order_number=order_number)
