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
import re
import uuid
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone

from basic.cron_runtime.running.transactions import atomic_with_retry
from oms_conf.logging import one_line
from order.models import CallbackOutcome, Order, OrderStatus, PaymentCallback, payable_q
from order.services.gateway_query import gateway_query_cancel
from order.services.reminders import order_reminder_cancel
from order.services.totals import product_sales_count_paid
from order.signals import order_paid


class BadSignature(Exception):
    pass


class InvalidCallback(Exception):
    """The body is not the documented shape (HTTP 400); the message is one line."""


class CallbackTooLarge(InvalidCallback):
    """The body is over CALLBACK_MAX_BYTES (HTTP 413)."""


def payment_sign(body: bytes) -> str:
    return hmac.new(settings.PAYMENT_SECRET.encode(), body, hashlib.sha256).hexdigest()


# Attempts of a callback's transaction that loses a lock race (deadlock, lock wait timeout)
# before the gateway is told to send it again (HTTP 409).
CALLBACK_ATTEMPTS = 5
# A callback is ~150 bytes; anything much larger is not from the gateway (HTTP 413).
CALLBACK_MAX_BYTES = 4096
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_SHAPE = 'expected a JSON object {"order_number": str, "transaction_id": str, "amount": str or number}'


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number")


def _no_duplicate_keys(pairs):
    keys = [key for key, _ in pairs]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ValueError(f"duplicate key {one_line(duplicates[0])!r}")
    return dict(pairs)


def _text_field(data: dict, name: str, max_length: int) -> str:
    value = data[name]
    if not isinstance(value, str):
        raise InvalidCallback(f"{name} must be a JSON string, not {type(value).__name__}")
    if not value or len(value) > max_length:
        raise InvalidCallback(f"{name} must be 1-{max_length} characters")
    if one_line(value) != value:
        raise InvalidCallback(f"{name} must not contain control characters")
    return value


def _parse(body: bytes) -> tuple[str, str, Decimal]:
    """The documented shape or InvalidCallback with a one-line reason; bounded in time and depth.

    The body is small (``payment_callback_handle`` checks) and must be a flat object: nesting is refused
    before ``json.loads`` sees it, so no depth can reach Python's recursion limit.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidCallback(f"body is not UTF-8 (byte 0x{body[exc.start]:02x} at position {exc.start})") from None
    outside_strings = _STRING.sub('""', text)
    if outside_strings.count("{") + outside_strings.count("[") > 1:
        raise InvalidCallback(f"nested objects or arrays are not accepted; {_SHAPE}")
    try:
        data = json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant, object_pairs_hook=_no_duplicate_keys)
    except (ValueError, RecursionError) as exc:
        raise InvalidCallback(f"malformed JSON: {one_line(str(exc))}; {_SHAPE}") from None
    if not isinstance(data, dict):
        raise InvalidCallback(f"body is a JSON {type(data).__name__}; {_SHAPE}")
    missing = [name for name in ("order_number", "transaction_id", "amount") if name not in data]
    if missing:
        raise InvalidCallback(f"missing {', '.join(missing)}; {_SHAPE}")
    order_number = _text_field(data, "order_number", 32)
    transaction_id = _text_field(data, "transaction_id", 64)
    raw_amount = data["amount"]
    if isinstance(raw_amount, bool) or not isinstance(raw_amount, (str, int, Decimal)):
        raise InvalidCallback(f"amount must be a JSON string or number, not {type(raw_amount).__name__}")
    try:
        amount = Decimal(raw_amount)
    except (InvalidOperation, ValueError):
        amount = None
    if (amount is None or not amount.is_finite() or not Decimal(0) <= amount < Decimal(10) ** 10
            or amount.as_tuple().exponent < -2):
        shown = one_line(str(raw_amount)[:40])
        raise InvalidCallback(f"amount {shown} must be a sum in yuan with at most 2 decimals, 0 to 9,999,999,999.99")
    return order_number, transaction_id, amount


def payment_callback_handle(*, body: bytes, signature: str | None) -> PaymentCallback:
    """Apply one gateway callback; a replay returns the first record and changes nothing."""
    if len(body) > CALLBACK_MAX_BYTES:
        raise CallbackTooLarge(f"body of {len(body)} bytes is over the {CALLBACK_MAX_BYTES}-byte limit of a callback")
    # compare_digest refuses str with non-ASCII characters (a TypeError, i.e. a 500): compare bytes.
    if not signature or not hmac.compare_digest(payment_sign(body).encode(), signature.encode("utf-8", "replace")):
        raise BadSignature("signature does not match the body")
    order_number, transaction_id, amount = _parse(body)
    # When the money arrived: decides "before the deadline", whatever the retries.
    return payment_apply(order_number=order_number, transaction_id=transaction_id, amount=amount,
                         paid_at=timezone.now(), payload=body.decode("utf-8"))


def payment_apply(*, order_number: str, transaction_id: str, amount: Decimal, paid_at, payload: str,
                  cancel_query: bool = True) -> PaymentCallback:
    """Record the gateway's word that ``transaction_id`` paid ``amount`` for the order at ``paid_at``.

    A callback and a status query's "paid" answer both come here: the first record of a
    transaction id wins, any later one is a replay that changes nothing. ``cancel_query``
    False: the order's gateway query is the caller (its own result records the outcome).
    """
    now = paid_at

    def attempt() -> PaymentCallback:
        # Read again on each attempt: a duplicate that committed meanwhile is now a replay.
        existing = PaymentCallback.objects.filter(transaction_id=transaction_id).first()
        if existing is not None:
            return existing
        order = Order.objects.filter(order_number=order_number).first()
        if order is None:
            raise InvalidCallback(f"unknown order {order_number}")
        outcome, reason = CallbackOutcome.REFUND_REQUIRED, ""
        if amount != order.pay_amount:
            reason = f"amount {amount} does not match {order.pay_amount}"
        elif Order.objects.filter(payable_q(now), pk=order.pk).update(order_status=OrderStatus.PAID, paid_time=now):
            outcome = CallbackOutcome.APPLIED
            product_sales_count_paid(order_id=order.pk, user_id=order.user_id)  # only the UPDATE's winner counts
            order_paid.send(sender=Order, order=order)  # courses open (order.learning)
            order_reminder_cancel(order_number=order.order_number)
            if cancel_query:
                gateway_query_cancel(order_number=order.order_number)
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
            payload=payload,
        )

    try:
        # A deadlock or lock wait (e.g. with cancel_timeouts, or the gateway's own duplicate) is
        # retried; when every attempt loses, TransactionRetriesExhausted becomes a 409 "retry".
        return atomic_with_retry(attempt, what=f"payment callback {transaction_id!r}", attempts=CALLBACK_ATTEMPTS)
    except IntegrityError:
        # The same transaction_id arrived twice at once: the other one won, ours rolled back.
        return PaymentCallback.objects.get(transaction_id=transaction_id)


def payment_simulate(*, order: Order) -> PaymentCallback:
    """A signed callback as the gateway sends it (tests and the demo's paid orders)."""
    body = json.dumps(
        {"order_number": order.order_number, "transaction_id": f"SIM{uuid.uuid4().hex}", "amount": str(order.pay_amount)}
    ).encode()
    return payment_callback_handle(body=body, signature=payment_sign(body))
