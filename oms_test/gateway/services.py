"""The simulated payment gateway: take a payment, send (or lose) its callback, answer status queries.

It stands in for a third party, so it imports nothing of the shop: the shop sends the customer
to its cashier (oms_test/gateway/views.py) with a signed request naming the order number, the amount and
where to come back, and gets the signed callback back through the customer's browser. Status
queries arrive over HTTP, signed with the merchant key (PAYMENT_SECRET), and above
GATEWAY_QPS per second (a sliding one-second window, as providers count) are answered 429.
The window is kept in this process: the simulator is served by one process (make run, the
tests); behind several web workers each would count its own.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from oms_test.gateway.models import GatewayPayment, GatewayQuery, GatewayQueryAnswer


class QueryRefused(Exception):
    """Bad signature or body (HTTP 403/400); the message is one line."""


def gateway_sign(body: bytes) -> str:
    return hmac.new(settings.PAYMENT_SECRET.encode(), body, hashlib.sha256).hexdigest()


def cashier_request_text(*, order_number: str, amount: str, return_url: str) -> bytes:
    """What the merchant signs to send a customer to the cashier (the shop's order/services/cashier.py
    builds the same): one field per line, the amount as the merchant wrote it."""
    return f"{order_number}\n{amount}\n{return_url}".encode()


def gateway_payment_take(*, order_number: str, amount: Decimal, deliver_callback: Callable[[bytes, str], object] | None,
                         paid_at=None):
    """Record a payment (at ``paid_at``, default now) and deliver its signed callback; ``deliver_callback`` None
    simulates a lost callback.

    Returns (payment, what ``deliver_callback`` returned or None).
    """
    payment = GatewayPayment.objects.create(
        transaction_id=f"SIM{uuid.uuid4().hex}", order_number=order_number, amount=amount,
        paid_at=paid_at or timezone.now(),
        callback_sent=deliver_callback is not None,
    )
    if deliver_callback is None:
        return payment, None
    body = json.dumps({"order_number": order_number, "transaction_id": payment.transaction_id,
                       "amount": str(amount)}).encode()
    return payment, deliver_callback(body, gateway_sign(body))


class _SlidingSecond:
    """At most ``limit`` admissions in any one second (thread-safe, this process)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._times: deque[float] = deque()

    def admit(self, limit: int) -> bool:
        now = time.monotonic()
        with self._lock:
            while self._times and self._times[0] <= now - 1.0:
                self._times.popleft()
            if len(self._times) >= limit:
                return False
            self._times.append(now)
            return True


_window = _SlidingSecond()


def gateway_status_answer(*, body: bytes, signature: str | None) -> tuple[int, dict]:
    """(HTTP status, JSON answer) to a status query ``{"order_number": …}``; every query is logged."""
    arrived = timezone.now()
    if not _window.admit(settings.GATEWAY_QPS):
        GatewayQuery.objects.create(arrived_at=arrived, answer=GatewayQueryAnswer.TOO_MANY)
        return 429, {"error": f"too many requests: at most {settings.GATEWAY_QPS} queries per second"}
    try:
        if not signature or not hmac.compare_digest(gateway_sign(body).encode(), signature.encode("utf-8", "replace")):
            raise QueryRefused("signature does not match the body")
        try:
            data = json.loads(body)
        except ValueError:
            raise QueryRefused("body is not JSON") from None
        number = data.get("order_number") if isinstance(data, dict) else None
        if not isinstance(number, str) or not 1 <= len(number) <= 32:
            raise QueryRefused('expected {"order_number": "<1-32 characters>"}')
    except QueryRefused as exc:
        GatewayQuery.objects.create(arrived_at=arrived, answer=GatewayQueryAnswer.REFUSED)
        return 403, {"error": str(exc)}
    payment = GatewayPayment.objects.filter(order_number=number).order_by("paid_at", "id").first()
    if payment is None:
        GatewayQuery.objects.create(arrived_at=arrived, order_number=number, answer=GatewayQueryAnswer.UNPAID)
        return 200, {"order_number": number, "status": "unpaid"}
    GatewayQuery.objects.create(arrived_at=arrived, order_number=number, answer=GatewayQueryAnswer.PAID)
    return 200, {"order_number": number, "status": "paid", "transaction_id": payment.transaction_id,
                 "amount": str(payment.amount), "paid_at": payment.paid_at.isoformat()}
