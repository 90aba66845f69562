"""Totals kept by the transactions that change them: units sold and buyers per product, orders cancelled.

They must equal a full recount of the orders whatever races happened: payments, the gateway's
retries, money for orders no longer payable (refund_required), users' cancels and the timeout
job, all at once in real threads with their own connections (on MariaDB, real row locks).
"""
from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from django.utils import timezone

from order.services.home import home_page_build
from order.models import CallbackOutcome, Order, OrderItem, OrderStatus, OrderTally, PaymentCallback, ProductSales
from order.services import OrderRefused
from order.services.cancellation import order_cancel_by_user
from order.services.payment import payment_callback_handle, payment_sign
from order.services.placement import LineRequest, order_place
from order.services.timeouts import orders_cancel_timed_out
from order.services.totals import totals_rebuild, totals_verify
from tests.factories import make_product, make_user


def _pay(order, transaction_id):
    body = json.dumps({"order_number": order.order_number, "transaction_id": transaction_id,
                       "amount": str(order.pay_amount)}).encode()
    return payment_callback_handle(body=body, signature=payment_sign(body)).outcome


def _cancel(order):
    try:
        order_cancel_by_user(user=order.user, order_number=order.order_number)
        return "cancelled"
    except OrderRefused:
        return "refused"


def _recount() -> dict[int, tuple[int, int]]:
    """Units sold and distinct buyers per product, counted from every paid order."""
    units: dict[int, int] = {}
    people: dict[int, set[int]] = {}
    for product_id, user_id, quantity in OrderItem.objects.filter(order__order_status=OrderStatus.PAID).values_list(
            "product_id", "order__user_id", "quantity"):
        units[product_id] = units.get(product_id, 0) + quantity
        people.setdefault(product_id, set()).add(user_id)
    return {p: (units[p], len(people[p])) for p in units}


def _kept() -> dict[int, tuple[int, int]]:
    return {p: (u, b) for p, u, b in ProductSales.objects.values_list("product_id", "units_sold", "buyers") if u or b}


@pytest.mark.django_db(transaction=True)
def test_totals_equal_a_recount_after_concurrent_payments_cancellations_refunds_and_the_timeout_job(settings):
    users = [make_user() for _ in range(5)]  # few buyers, so the same buyer pays for the same product at once
    products = [make_product(price="10.00", stock=None) for _ in range(3)]
    start = timezone.now()
    with time_machine.travel(start - timedelta(seconds=settings.ORDER_TIMEOUT + 60), tick=False):
        stale = [order_place(user=users[i % 5], lines=[LineRequest(products[i % 3].pk, 1)]) for i in range(12)]
    orders = [order_place(user=users[i % 5], lines=[LineRequest(products[i % 3].pk, 1 + i % 2),
                                                  LineRequest(products[(i + 1) % 3].pk, 1)])
              for i in range(36)]
    tasks = []
    for order in orders:
        tasks += [("pay", order, f"A{order.pk}"), ("pay", order, f"A{order.pk}"),  # the gateway's retry
                  ("pay", order, f"B{order.pk}"),  # a second payment: refund_required, never counted
                  ("cancel", order, None)]
    tasks += [("pay", order, f"L{order.pk}") for order in stale]  # money after the deadline: refund_required
    tasks += [("timeouts", None, None)] * 3
    random.Random(18).shuffle(tasks)

    def work(task):
        kind, order, transaction_id = task
        try:
            if kind == "pay":
                return _pay(order, transaction_id)
            if kind == "cancel":
                return _cancel(order)
            return orders_cancel_timed_out(chunk_size=4).orders
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(work, tasks))

    paid = Order.objects.filter(order_status=OrderStatus.PAID).count()
    assert paid == PaymentCallback.objects.filter(outcome=CallbackOutcome.APPLIED).count()
    assert PaymentCallback.objects.filter(outcome=CallbackOutcome.REFUND_REQUIRED).count() >= len(stale)
    assert _kept() == _recount()
    check = totals_verify()
    assert check.ok, check.differences
    tallies = dict(OrderTally.objects.values_list("name", "value"))
    assert tallies.get("cancelled_user", 0) == Order.objects.filter(order_status=OrderStatus.CANCELLED).count()
    assert tallies["cancelled_timeout"] == Order.objects.filter(order_status=OrderStatus.TIMEOUT_CANCELLED).count() == 12
    if connection.vendor == "mysql":
        # The race really happened: both payments and cancellations won some orders.
        assert 0 < paid < len(orders)
    shown = {p["id"]: (p["sold"], p["buyers"]) for p in home_page_build()["products"]}
    assert {p: v for p, v in shown.items() if v != (0, 0)} == _recount()


@pytest.mark.django_db(transaction=True)
def test_verify_command_finds_a_total_that_drifted_and_rebuild_repairs_it():
    user, product = make_user(), make_product(stock=None)
    order = order_place(user=user, lines=[LineRequest(product.pk, 2)])
    assert _pay(order, "T-1") == CallbackOutcome.APPLIED
    call_command("order_totals", "--verify")

    ProductSales.objects.filter(product=product).update(units_sold=7)
    with pytest.raises(CommandError, match="1 totals differ from a recount"):
        call_command("order_totals", "--verify")

    call_command("order_totals", "--rebuild")
    call_command("order_totals", "--verify")
    assert _kept() == {product.pk: (2, 1)}


@pytest.mark.django_db(transaction=True)
def test_rebuild_in_chunks_counts_a_buyer_once_across_chunks():
    """The same buyer's paid orders of one product fall into different chunks: one buyer, units added up."""
    users, product, other = [make_user(), make_user()], make_product(stock=None), make_product(stock=None)
    for i in range(7):
        order = order_place(user=users[i % 2], lines=[LineRequest(product.pk, 1 + i), LineRequest(other.pk, 1)])
        if i != 3:
            _pay(order, f"T-{i}")
    expected = _recount()
    ProductSales.objects.all().delete()
    OrderTally.objects.all().delete()

    totals_rebuild(chunk=2)

    assert _kept() == expected == {product.pk: (1 + 2 + 3 + 5 + 6 + 7, 2), other.pk: (6, 2)}
    assert totals_verify().ok


@pytest.mark.mysql_only
@pytest.mark.django_db(transaction=True)
def test_migration_fill_is_right_on_the_benchmark_generators_data():
    """The migration's fill, in chunks, over data made by benchmarks/bench_data.py (MariaDB's sequence tables)."""
    import importlib

    from django.apps import apps

    from benchmarks import bench_data

    now = timezone.now().replace(microsecond=0)
    layout = bench_data.Layout(orders=5_000, expired=300, fresh=50, users=400, products=40, finance_orders=1_000,
                               now=now, timeout=3600, last_month_start=now - timedelta(days=40),
                               this_month_start=now - timedelta(days=10))
    with connection.cursor() as cursor:
        bench_data.generate(cursor, layout, bench_data.django_tables(), say=lambda *a: None)
    fill = importlib.import_module("order.migrations.0007_maintained_totals").fill_totals

    fill(apps, None)

    expected = _recount()
    assert len(expected) == 40 and sum(units for units, _ in expected.values()) > 5_000
    assert _kept() == expected
    totals_rebuild(chunk=700)  # a chunk boundary falls inside every buyer's history
    assert _kept() == expected
    check = totals_verify()
    assert check.ok and check.products == 40, check.differences
