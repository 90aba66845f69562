"""Callbacks that meet lock contention: never a 500, every transaction recorded once.

Real concurrent requests (a Django test client per thread, each thread with its own database
connection), on SQLite and MariaDB; MariaDB is where row locks, deadlocks and lock waits happen.
"""
import time
from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.utils import timezone

from order.models import CallbackOutcome, Order, OrderStatus, PaymentCallback
from order.services import payment
from order.services.placement import LineRequest, order_place
from order.services.timeouts import orders_cancel_timed_out
from tests.factories import make_coupon, make_product, make_user
from tests.jobs.helpers import assert_books_balance, order_row_locked, run_in_threads
from tests.orders.helpers import SiteLog, callback

ROUNDS = 50
ORDERS_PER_ROUND = 3


@pytest.mark.django_db(transaction=True)
def test_duplicate_callbacks_racing_cancel_timeouts_never_get_a_500_and_the_books_balance(settings):
    users = [make_user(points=100_000) for _ in range(ORDERS_PER_ROUND)]
    products = [make_product(price="30.00", stock=100_000) for _ in range(ORDERS_PER_ROUND)]
    initial_stock = {p.pk: p.stock for p in products}
    initial_points = {u.pk: 100_000 for u in users}
    answers: dict[str, list] = {}  # transaction id -> the responses its two copies got
    started = time.monotonic()

    for round_no in range(ROUNDS):
        orders = []
        for i in range(ORDERS_PER_ROUND):
            # The first order of a round is past its deadline in real time (the job cancels it, the
            # callbacks must record it for refund); the others are payable for the callbacks while
            # the job, run as if a little later, sees them as past theirs: both go for the same rows.
            placed_at = timezone.now() - (timedelta(seconds=settings.ORDER_TIMEOUT + 5) if i == 0 else timedelta(0))
            with time_machine.travel(placed_at, tick=False):
                orders.append(order_place(
                    user=users[i],
                    lines=[LineRequest(products[i].pk, 1 + i), LineRequest(products[(i + 1) % ORDERS_PER_ROUND].pk, 1)],
                    coupon_id=make_coupon(users[i], amount="5.00").pk if i != 1 else None,
                    points=100 * i,
                ))
        job_now = timezone.now() + timedelta(seconds=settings.ORDER_TIMEOUT + 1)

        def gateway(order, transaction_id):
            return lambda: callback(Client(raise_request_exception=False), order, transaction_id=transaction_id)

        targets = [gateway(o, f"R{round_no}-{o.pk}") for o in orders for _copy in range(2)]
        results = run_in_threads(*targets, lambda: orders_cancel_timed_out(now=job_now))
        for (order, transaction_id), response in zip(
            [(o, f"R{round_no}-{o.pk}") for o in orders for _copy in range(2)], results[:-1], strict=True
        ):
            answers.setdefault(transaction_id, []).append((order, response))

    elapsed = time.monotonic() - started
    statuses = Counter(r.status_code for pair in answers.values() for _, r in pair)
    assert set(statuses) <= {200, 409}, statuses  # never a 500
    # A 409 tells the gateway to send it again: it does, and gets the answer.
    for transaction_id, pair in answers.items():
        for i, (order, response) in enumerate(pair):
            if response.status_code == 409:
                assert response.json()["retry"] is True
                pair[i] = (order, callback(Client(), order, transaction_id=transaction_id))
    orders_cancel_timed_out(now=timezone.now() + timedelta(seconds=settings.ORDER_TIMEOUT + 1))  # a later run

    assert PaymentCallback.objects.count() == len(answers) == ROUNDS * ORDERS_PER_ROUND
    outcomes = Counter()
    for transaction_id, [(order, first), (_, second)] in answers.items():
        assert first.status_code == second.status_code == 200
        assert first.json() == second.json(), transaction_id  # the duplicate got the first answer
        record = PaymentCallback.objects.get(transaction_id=transaction_id)
        assert record.order_id == order.pk
        status = Order.objects.values_list("order_status", flat=True).get(pk=order.pk)
        if record.outcome == CallbackOutcome.APPLIED:
            assert status == OrderStatus.PAID
        else:
            assert (status, record.reason) == (OrderStatus.TIMEOUT_CANCELLED, "order timed out before payment")
        outcomes[record.outcome] += 1
    assert_books_balance(initial_stock=initial_stock, initial_points=initial_points)
    assert not Order.objects.filter(order_status=OrderStatus.UNPAID).exists()
    if connection.vendor == "mysql":
        # The race really happened on the server: payments and the job each won some orders.
        assert outcomes[CallbackOutcome.APPLIED] and outcomes[CallbackOutcome.REFUND_REQUIRED], outcomes
    print(f"{ROUNDS} rounds in {elapsed:.1f} s: {dict(statuses)} HTTP statuses, {dict(outcomes)}")


@pytest.mark.mysql_only  # lock wait timeouts are InnoDB's
@pytest.mark.django_db(transaction=True)
def test_a_callback_that_cannot_get_its_order_row_is_a_409_saying_retry(monkeypatch):
    """Exhaustion with the server's own error: every attempt times out waiting for the row lock
    (1205) that another transaction holds. Nothing is recorded; the resent callback is applied."""
    order = order_place(user=make_user(), lines=[LineRequest(make_product(stock=3).pk, 1)])
    monkeypatch.setattr(payment, "CALLBACK_ATTEMPTS", 2)
    client = Client(REMOTE_ADDR="198.51.100.7")
    with connection.cursor() as cursor:  # the connection the test client's requests use (this thread's)
        cursor.execute("SET SESSION innodb_lock_wait_timeout = 1")
    try:
        log = SiteLog()
        with order_row_locked(order):
            response = callback(client, order, transaction_id="T-wait")
        lines = log.new_lines()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET SESSION innodb_lock_wait_timeout = DEFAULT")

    assert response.status_code == 409 and response["Retry-After"] == "1"
    body = response.json()
    assert body["ok"] is False and body["retry"] is True
    assert "gave up after 2 attempts (lock wait timeout" in body["error"] and "send the callback again" in body["error"]
    assert not PaymentCallback.objects.exists()
    assert Order.objects.get(pk=order.pk).order_status == OrderStatus.UNPAID
    assert not any("Traceback" in line for line in lines), lines
    assert len([line for line in lines if "rolled back (lock wait timeout), attempt 1/2" in line]) == 1, lines
    assert len([line for line in lines if "| WARNING  |" in line and "refused 409 POST /payment/callback/ from 198.51.100.7" in line]) == 1

    again = callback(client, order, transaction_id="T-wait")
    assert again.status_code == 200 and again.json()["outcome"] == CallbackOutcome.APPLIED
