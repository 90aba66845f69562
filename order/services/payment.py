"""Payment through the (simulated) gateway: signed callbacks, applied at most once.

The gateway POSTs a JSON body ``{"order_number", "transaction_id", "amount"}`` with
``X-Signature: hex(HMAC-SHA256(PAYMENT_SECRET, body))``. The order is marked paid by a
conditional UPDATE (only from unpaid, only before the deadline), so a callback racing
a cancellation leaves exactly one of the two effects. Money that arrives for an order
that cannot take it (expired, cancelled, already paid by another transaction, wrong
amount) is recorded as ``refund_required``.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from order.models import CallbackOutcome, Order, OrderStatus, PaymentCallback, payable_q


class BadSignature(Exception):
    pass


class InvalidCallback(Exception):
    pass


def payment_sign(body: bytes) -> str:
    return hmac.new(settings.PAYMENT_SECRET.encode(), body, hashlib.sha256).hexdigest()


def _parse(body: bytes) -> tuple[str, str, Decimal]:
    try:
        data = json.loads(body)
        order_number, transaction_id = str(data["order_number"]), str(data["transaction_id"])
        amount = Decimal(str(data["amount"]))
    except (ValueError, KeyError, TypeError, InvalidOperation) as exc:
        raise InvalidCallback(f"malformed callback body: {exc!r}; expected JSON with order_number, transaction_id, amount") from exc
    if not transaction_id or len(transaction_id) > 64:
        raise InvalidCallback("transaction_id must be 1-64 characters")
    if not amount.is_finite() or not Decimal(0) <= amount < Decimal(10) ** 10 or amount.as_tuple().exponent < -2:
        raise InvalidCallback(f"amount {amount} must be a sum in yuan with at most 2 decimals, 0 to 9,999,999,999.99")
    return order_number, transaction_id, amount


def payment_callback_handle(*, body: bytes, signature: str | None) -> PaymentCallback:
    """Apply one gateway callback; a replay returns the first record and changes nothing."""
    # compare_digest refuses str with non-ASCII characters (a TypeError, i.e. a 500): compare bytes.
    if not signature or not hmac.compare_digest(payment_sign(body).encode(), signature.encode("utf-8", "replace")):
        raise BadSignature("signature does not match the body")
    order_number, transaction_id, amount = _parse(body)

    existing = PaymentCallback.objects.filter(transaction_id=transaction_id).first()
    if existing is not None:
        return existing
    now = timezone.now()
    try:
        with transaction.atomic():
            order = Order.objects.filter(order_number=order_number).first()
            if order is None:
                raise InvalidCallback(f"unknown order {order_number}")
            outcome, reason = CallbackOutcome.REFUND_REQUIRED, ""
            if amount != order.pay_amount:
                reason = f"amount {amount} does not match {order.pay_amount}"
            elif Order.objects.filter(payable_q(now), pk=order.pk).update(order_status=OrderStatus.PAID, paid_time=now):
                outcome = CallbackOutcome.APPLIED
            else:
                # Django runs MySQL at READ COMMITTED: this read sees the status that made the UPDATE
                # miss, without holding the row (the timeout job skips rows someone holds).
                status = Order.objects.values_list("order_status", flat=True).get(pk=order.pk)
                reason = {
                    OrderStatus.PAID: "order already paid by another transaction",
                    OrderStatus.CANCELLED: "order was cancelled",
                    OrderStatus.TIMEOUT_CANCELLED: "order timed out before payment",
                }.get(status, "order timed out before payment")
            return PaymentCallback.objects.create(
                transaction_id=transaction_id,
                order=order,
                amount=amount,
                outcome=outcome,
                reason=reason,
                payload=body.decode("utf-8", "replace"),
            )
    except IntegrityError:
        # The same transaction_id arrived twice at once: the other one won, ours rolled back.
        return PaymentCallback.objects.get(transaction_id=transaction_id)


def payment_simulate(*, order: Order) -> PaymentCallback:
    """What the simulated gateway does when the user confirms: send a signed callback."""
    body = json.dumps(
        {"order_number": order.order_number, "transaction_id": f"SIM{uuid.uuid4().hex}", "amount": str(order.pay_amount)}
    ).encode()
    return payment_callback_handle(body=body, signature=payment_sign(body))
