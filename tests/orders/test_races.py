"""Payments and cancellations racing for the same orders, with real threads.

Each thread has its own database connection (Django's are per thread), so on
MariaDB these are real concurrent transactions with row locks. Whatever the
interleaving, every order must end in exactly one state and stock, coupons and
points must balance to the unit.
"""
import json
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import OperationalError, connection, connections
from django.db.models import Sum

from basic.models import Coupon, CouponStatus, PointsEntry, Product, Profile
from order.models import CallbackOutcome, Order, OrderStatus, PaymentCallback
from order.services import OrderRefused
from order.services.cancellation import order_cancel_by_user
from order.services.payment import payment_callback_handle, payment_sign
from order.services.placement import LineRequest, order_place
from tests.factories import make_coupon, make_product, make_user

ORDERS = 40


def _pay(order_number, pay_amount, transaction_id):
    body = json.dumps({"order_number": order_number, "transaction_id": transaction_id, "amount": str(pay_amount)}).encode()
    return payment_callback_handle(body=body, signature=payment_sign(body)).outcome


def _cancel(user, order_number):
    try:
        order_cancel_by_user(user=user, order_number=order_number)
        return "cancelled"
    except OrderRefused:
        return "refused"


@pytest.mark.django_db(transaction=True)
def test_many_threads_paying_and_cancelling_the_same_orders():
    users = [make_user(points=10_000) for _ in range(4)]
    products = [make_product(price="30.00", stock=1000) for _ in range(3)]
    orders = []
    for i in range(ORDERS):
        user = users[i % len(users)]
        coupon = make_coupon(user, amount="5.00") if i % 3 == 0 else None
        orders.append(
            order_place(
                user=user,
                lines=[LineRequest(products[i % 3].pk, 1 + i % 2), LineRequest(products[(i + 1) % 3].pk, 1)],
                coupon_id=coupon.pk if coupon else None,
                points=100 * (i % 4),
            )
        )
    stock_after_placing = {p.pk: Product.objects.get(pk=p.pk).stock for p in products}

    tasks = []
    for order in orders:
        tasks.append(("pay", order, f"T{order.pk}"))
        tasks.append(("pay", order, f"T{order.pk}"))  # the gateway's retry of the same transaction
        tasks.append(("cancel", order, None))
    random.Random(7).shuffle(tasks)
    deadlocks = []
    lock = threading.Lock()

    def work(task):
        kind, order, transaction_id = task
        try:
            if kind == "pay":
                return _pay(order.order_number, order.pay_amount, transaction_id)
            return _cancel(order.user, order.order_number)
        except OperationalError as exc:  # a deadlock would be a 500 for a customer: recorded and failed below
            with lock:
                deadlocks.append(exc)
            return "deadlock"
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(work, tasks))

    final = {o.pk: o for o in Order.objects.filter(pk__in=[o.pk for o in orders])}
    for order in orders:
        state = final[order.pk]
        assert state.order_status in (OrderStatus.PAID, OrderStatus.CANCELLED, OrderStatus.UNPAID)
        applied = PaymentCallback.objects.filter(order=order, outcome=CallbackOutcome.APPLIED).count()
        assert applied == (1 if state.order_status == OrderStatus.PAID else 0)
        assert (state.paid_time is not None) == (state.order_status == OrderStatus.PAID)
        assert (state.cancelled_time is not None) == (state.order_status == OrderStatus.CANCELLED)
        if state.coupon_id:
            expected = CouponStatus.UNUSED if state.order_status == OrderStatus.CANCELLED else CouponStatus.USED
            assert Coupon.objects.get(pk=state.coupon_id).status == expected
    assert PaymentCallback.objects.filter(transaction_id__startswith="T").count() <= ORDERS

    # Stock: what is still held by paid and unpaid orders is exactly what left the shelf.
    for product in products:
        held = sum(
            item.quantity
            for o in orders
            if final[o.pk].order_status != OrderStatus.CANCELLED
            for item in o.items.all()
            if item.product_id == product.pk
        )
        reserved_at_start = sum(item.quantity for o in orders for item in o.items.all() if item.product_id == product.pk)
        assert Product.objects.get(pk=product.pk).stock == stock_after_placing[product.pk] + reserved_at_start - held

    # Points: balance equals the ledger, and only non-cancelled orders keep their points.
    for user in users:
        balance = Profile.objects.get(user=user).points
        assert balance == PointsEntry.objects.filter(user=user).aggregate(s=Sum("delta"))["s"]
        kept = sum(final[o.pk].points_used for o in orders if o.user_id == user.pk and final[o.pk].order_status != OrderStatus.CANCELLED)
        assert balance == 10_000 - kept
    assert not deadlocks, deadlocks
    # Every order was decided: the payment or the cancellation won, never neither.
    assert all(o.order_status != OrderStatus.UNPAID for o in final.values())
    if connection.vendor == "mysql":
        # The race must really have happened on the server: both outcomes occur.
        statuses = {o.order_status for o in final.values()}
        assert {OrderStatus.PAID, OrderStatus.CANCELLED} <= statuses
