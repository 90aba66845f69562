import json
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from basic.models import Product
from order.models import CallbackOutcome, Order, OrderStatus, PaymentCallback
from order.services.cancellation import order_cancel_by_user
from order.services.payment import payment_sign
from order.services.placement import LineRequest, order_place
from tests.factories import make_product, make_user
from tests.orders.helpers import callback

pytestmark = pytest.mark.django_db


@pytest.fixture
def order():
    return order_place(user=make_user(), lines=[LineRequest(make_product(stock=3).pk, 1)])


def test_good_callback_marks_paid(client, order):
    response = callback(client, order)
    assert response.status_code == 200 and response.json()["outcome"] == CallbackOutcome.APPLIED
    order.refresh_from_db()
    assert order.order_status == OrderStatus.PAID and order.paid_time is not None


@pytest.mark.parametrize("signature", ["", "0" * 64, "not-hex", "\xe9" * 64], ids=["empty", "zeros", "not-hex", "non-ascii"])
def test_bad_signature_is_refused_and_changes_nothing(client, order, signature):
    response = callback(client, order, signature=signature)
    assert response.status_code == 403
    assert Order.objects.get(pk=order.pk).order_status == OrderStatus.UNPAID
    assert not PaymentCallback.objects.exists()


def test_tampered_body_is_refused(client, order):
    body = json.dumps({"order_number": order.order_number, "transaction_id": "T1", "amount": "0.01"}).encode()
    signature = payment_sign(body.replace(b"0.01", str(order.pay_amount).encode()))
    response = client.post("/payment/callback/", body, content_type="application/json", headers={"X-Signature": signature})
    assert response.status_code == 403
    assert Order.objects.get(pk=order.pk).order_status == OrderStatus.UNPAID


def test_malformed_body_is_a_clear_400(client):
    body = b'{"order_number": "x"}'
    response = client.post("/payment/callback/", body, content_type="application/json", headers={"X-Signature": payment_sign(body)})
    assert response.status_code == 400 and "transaction_id" in response.json()["error"]


def test_replayed_callback_is_harmless(client, order):
    first = callback(client, order)
    paid_time = Order.objects.get(pk=order.pk).paid_time
    second = callback(client, order)
    assert second.status_code == 200 and second.json() == first.json()
    assert PaymentCallback.objects.count() == 1
    assert Order.objects.get(pk=order.pk).paid_time == paid_time


def test_second_transaction_for_paid_order_is_recorded_for_refund(client, order):
    callback(client, order, transaction_id="T1")
    response = callback(client, order, transaction_id="T2")
    assert response.json()["outcome"] == CallbackOutcome.REFUND_REQUIRED
    assert PaymentCallback.objects.get(transaction_id="T2").reason == "order already paid by another transaction"


def test_callback_after_deadline_never_marks_paid(client, order, settings):
    with time_machine.travel(timezone.now() + timedelta(seconds=settings.ORDER_TIMEOUT + 1)):
        response = callback(client, order)
    assert response.json()["outcome"] == CallbackOutcome.REFUND_REQUIRED
    assert Order.objects.get(pk=order.pk).order_status == OrderStatus.UNPAID
    assert PaymentCallback.objects.get().reason == "order timed out before payment"


def test_callback_for_cancelled_order_is_recorded_for_refund(client, order):
    order_cancel_by_user(user=order.user, order_number=order.order_number)
    response = callback(client, order)
    assert response.json()["outcome"] == CallbackOutcome.REFUND_REQUIRED
    assert Order.objects.get(pk=order.pk).order_status == OrderStatus.CANCELLED
    assert PaymentCallback.objects.get().reason == "order was cancelled"


def test_wrong_amount_is_not_applied(client, order):
    response = callback(client, order, amount="0.01")
    assert response.json()["outcome"] == CallbackOutcome.REFUND_REQUIRED
    assert Order.objects.get(pk=order.pk).order_status == OrderStatus.UNPAID


def test_paid_order_keeps_its_stock_reserved(client, order):
    product = order.items.get().product
    callback(client, order)
    assert Product.objects.get(pk=product.pk).stock == 2


@pytest.mark.parametrize("amount", ["-1", "1e20", "NaN", "1.234"])
def test_impossible_amount_is_a_clear_400_and_changes_nothing(client, order, amount):
    response = callback(client, order, amount=amount)
    assert response.status_code == 400 and "amount" in response.json()["error"]
    assert Order.objects.get(pk=order.pk).order_status == OrderStatus.UNPAID
    assert not PaymentCallback.objects.exists()
