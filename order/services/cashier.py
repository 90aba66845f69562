"""Sending the customer to the payment gateway's cashier, and reading what they bring back.

The shop signs a request naming the order number, the amount and where to come back (on this
site: the simulator refuses any other), with the merchant key (PAYMENT_SECRET); the gateway's cashier takes
the payment and sends the customer back with the signed callback, which is applied as if it came
server to server (``payment_callback_handle``: a replay changes nothing). The simulated cashier is
the one this site serves (GATEWAY_URL names where the status queries go).
"""
from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse

from order.models import Order
from order.services.payment import payment_sign


def cashier_url(*, order: Order) -> str:
    """Where 确认支付 sends the customer: the gateway's cashier, with the signed payment request."""
    fields = {"order_number": order.order_number, "amount": str(order.pay_amount),
              "return_url": reverse("order:pay-return", args=[order.order_number])}
    # The same text the gateway signs (oms_test.gateway.services.cashier_request_text): one field per line.
    signature = payment_sign("\n".join(fields.values()).encode())
    return f"{reverse('gateway:cashier')}?{urlencode({**fields, 'signature': signature})}"
