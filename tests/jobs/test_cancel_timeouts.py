"""cancel_timeouts: expired unpaid orders → 超时取消, everything given back exactly once."""
from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from basic.cron_runtime.running.result import JobReport
from basic.models import Coupon, CouponStatus, PointsEntry, PointsReason, Product, Profile
from basic.cron_runtime.running.transactions import TransactionRetriesExhausted
from order import cron
from order.models import CallbackOutcome, Order, OrderStatus
from order.services import timeouts
from order.services.cancellation import order_cancel_by_user
from order.services.payment import payment_callback_handle, payment_sign
from order.services.timeouts import orders_cancel_timed_out
from tests.factories import make_coupon, make_product, make_user
from tests.jobs.helpers import assert_books_balance, local, order_row_locked, place_at, run_in_threads

T0 = local(2026, 3, 10, 9, 0)
TIMEOUT = timedelta(seconds=3600)


@pytest.fixture(autouse=True)
def _timeout(settings):
    settings.ORDER_TIMEOUT = 3600


def _shop(n_users=3, *, points=10_000, stock=1_000):
    users = [make_user(points=points) for _ in range(n_users)]
    products = [make_product(stock=stock), make_product(stock=stock), make_product(stock=None, is_course=True)]
    return users, products


def _initial(users, products):
    return (
        {p.pk: p.stock for p in products if p.stock is not None},
        {u.pk: Profile.objects.get(user=u).points for u in users},
    )


def _pay(order, txn):
    body = json.dumps({"order_number": order.order_number, "transaction_id": txn, "amount": str(order.pay_amount)}).encode()
    return payment_callback_handle(body=body, signature=payment_sign(body))


@pytest.mark.django_db
def test_expired_orders_are_cancelled_and_everything_is_given_back():
    users, products = _shop()
    initial_stock, initial_points = _initial(users, products)
    alice, bob, _ = users
    coupon = make_coupon(alice)
    expired = place_at(T0, alice, products[0], 3, coupon=coupon, points=500)
    expired_course = place_at(T0, bob, products[2], 1, points=200)
    not_yet = place_at(T0 + timedelta(minutes=30), bob, products[1], 2)

    with time_machine.travel(T0 + TIMEOUT + timedelta(minutes=1), tick=False):
        restored = orders_cancel_timed_out()

    assert (restored.orders, restored.stock_units, restored.coupons, restored.points) == (2, 3, 1, 700)
    assert restored.stock_by_product == {products[0].pk: 3}  # the course has unlimited stock: nothing to return
    for order in (expired, expired_course):
        order.refresh_from_db()
        assert order.order_status == OrderStatus.TIMEOUT_CANCELLED
        assert order.cancelled_time == T0 + TIMEOUT + timedelta(minutes=1)
    assert Order.objects.get(pk=not_yet.pk).order_status == OrderStatus.UNPAID
    assert Coupon.objects.get(pk=coupon.pk).status == CouponStatus.UNUSED
    assert PointsEntry.objects.filter(reason=PointsReason.ORDER_REFUND).count() == 2
    assert_books_balance(initial_stock=initial_stock, initial_points=initial_points)


@pytest.mark.django_db
def test_deadline_is_the_same_instant_the_site_and_payment_use():
    (user, *_), products = _shop()
    order = place_at(T0, user, products[0])
    deadline = T0 + TIMEOUT

    assert orders_cancel_timed_out(now=deadline - timedelta(seconds=1)).orders == 0
    order.refresh_from_db()
    assert not order.is_expired(deadline - timedelta(seconds=1)) and order.order_status == OrderStatus.UNPAID

    assert order.is_expired(deadline)
    assert orders_cancel_timed_out(now=deadline).orders == 1


@pytest.mark.django_db
def test_paid_and_user_cancelled_orders_are_left_alone():
    users, products = _shop()
    initial_stock, initial_points = _initial(users, products)
    paid = place_at(T0, users[0], products[0], 2, points=100)
    with time_machine.travel(T0 + timedelta(minutes=5), tick=False):
        assert _pay(paid, "T-paid").outcome == CallbackOutcome.APPLIED
    cancelled = place_at(T0, users[1], products[0], 1, points=100)
    with time_machine.travel(T0 + timedelta(minutes=5), tick=False):
        order_cancel_by_user(user=users[1], order_number=cancelled.order_number)

    assert orders_cancel_timed_out(now=T0 + 10 * TIMEOUT).orders == 0
    assert Order.objects.get(pk=paid.pk).order_status == OrderStatus.PAID
    assert Order.objects.get(pk=cancelled.pk).order_status == OrderStatus.CANCELLED
    assert_books_balance(initial_stock=initial_stock, initial_points=initial_points)


@pytest.mark.django_db
def test_running_again_changes_nothing():
    users, products = _shop()
    initial_stock, initial_points = _initial(users, products)
    for i in range(5):
        place_at(T0, users[i % 3], products[i % 2], 1 + i % 3, points=50)
    later = T0 + 2 * TIMEOUT
    assert orders_cancel_timed_out(now=later).orders == 5
    stock_after = dict(Product.objects.values_list("id", "stock"))

    again = orders_cancel_timed_out(now=later + timedelta(minutes=1))

    assert (again.orders, again.stock_units, again.coupons, again.points) == (0, 0, 0, 0)
    assert dict(Product.objects.values_list("id", "stock")) == stock_after
    assert_books_balance(initial_stock=initial_stock, initial_points=initial_points)


@pytest.mark.django_db
def test_coupon_expired_meanwhile_is_not_made_usable_again():
    (user, *_), products = _shop()
    coupon = make_coupon(user, valid_days=1)
    order = place_at(T0, user, products[0], coupon=coupon)
    Coupon.objects.filter(pk=coupon.pk).update(valid_until=T0 + timedelta(minutes=30))
    orders_cancel_timed_out(now=T0 + 2 * TIMEOUT)
    assert Order.objects.get(pk=order.pk).order_status == OrderStatus.TIMEOUT_CANCELLED
    assert Coupon.objects.get(pk=coupon.pk).status == CouponStatus.EXPIRED


@pytest.mark.django_db
def test_chunks_take_the_same_handful_of_statements_whatever_their_size():
    users, products = _shop(n_users=6)
    for i in range(60):
        place_at(T0, users[i % 6], products[i % 3], 1 + i % 3, coupon=make_coupon(users[i % 6]) if i % 5 == 0 else None,
                 points=10 if i % 3 == 0 else 0)

    def statements(n_orders):
        with CaptureQueriesContext(connection) as ctx:
            restored = orders_cancel_timed_out(now=T0 + 2 * TIMEOUT, chunk_size=n_orders)
        return restored.orders, len(ctx.captured_queries)

    # 30 orders in one chunk, then 30 in another, each followed by the empty chunk that ends the run.
    Order.objects.filter(pk__in=list(Order.objects.order_by("id").values_list("id", flat=True)[30:])).update(
        created_time=T0 + timedelta(days=1)
    )
    small = statements(30)
    Order.objects.filter(created_time=T0 + timedelta(days=1)).update(created_time=T0)
    big = statements(1000)
    assert small[0] == big[0] == 30
    # 18: the 16 of the cancellation itself, the UPDATE that cancels the orders' reminders, and the
    # upsert of the cancelled-orders tally
    assert big[1] == small[1] <= 18, "statements per chunk must not grow with the number of orders"


@pytest.mark.django_db
def test_backlog_bigger_than_a_chunk_is_done_in_several_transactions():
    users, products = _shop()
    initial_stock, initial_points = _initial(users, products)
    for i in range(23):
        place_at(T0 + timedelta(seconds=i), users[i % 3], products[i % 3], 1, points=10)
    with CaptureQueriesContext(connection) as ctx:
        restored = orders_cancel_timed_out(now=T0 + 2 * TIMEOUT, chunk_size=5)
    assert restored.orders == 23 and restored.points == 230
    locking_selects = [q for q in ctx.captured_queries if "FOR UPDATE" in q["sql"].upper()]
    if connection.vendor == "mysql":
        # 5 chunks of ≤5 orders, the empty one that ends the forward scan, the empty final sweep
        assert len(locking_selects) == 7
        assert all("SKIP LOCKED" in q["sql"].upper() for q in locking_selects)
    assert_books_balance(initial_stock=initial_stock, initial_points=initial_points)


@pytest.mark.django_db(transaction=True)
def test_crash_between_chunks_loses_nothing_and_next_run_finishes(monkeypatch):
    users, products = _shop()
    initial_stock, initial_points = _initial(users, products)
    for i in range(12):
        place_at(T0 + timedelta(seconds=i), users[i % 3], products[i % 3], 2, coupon=make_coupon(users[i % 3]),
                 points=100)
    real = timeouts.orders_cancel_and_restore
    calls = {"n": 0}

    def crash_on_second_chunk(**kwargs):
        calls["n"] += 1
        result = real(**kwargs)  # the chunk's work is done… and then the process dies before commit
        if calls["n"] == 2:
            raise RuntimeError("killed between chunks")
        return result

    monkeypatch.setattr(timeouts, "orders_cancel_and_restore", crash_on_second_chunk)
    with pytest.raises(RuntimeError, match="killed"):
        orders_cancel_timed_out(now=T0 + 2 * TIMEOUT, chunk_size=5)
    # The first chunk is committed, the second rolled back entirely.
    assert Order.objects.filter(order_status=OrderStatus.TIMEOUT_CANCELLED).count() == 5
    assert_books_balance(initial_stock=initial_stock, initial_points=initial_points)

    monkeypatch.setattr(timeouts, "orders_cancel_and_restore", real)
    restored = orders_cancel_timed_out(now=T0 + 2 * TIMEOUT + timedelta(minutes=1), chunk_size=5)
    assert restored.orders == 7
    assert Order.objects.filter(order_status=OrderStatus.TIMEOUT_CANCELLED).count() == 12
    assert PointsEntry.objects.filter(reason=PointsReason.ORDER_REFUND).count() == 12
    assert_books_balance(initial_stock=initial_stock, initial_points=initial_points)


@pytest.mark.django_db
def test_a_chunk_that_meets_a_concurrent_change_is_tried_again_up_to_five_times(monkeypatch):
    """A chunk rolled back by ConcurrentChange (or a MySQL deadlock) is tried again; after five
    failed attempts the run fails loudly instead of looping."""
    users, products = _shop()
    initial_stock, initial_points = _initial(users, products)
    for i in range(4):
        place_at(T0, users[i % 3], products[i % 3], 1, points=10)
    real = timeouts.orders_cancel_and_restore
    failures = {"left": 2}

    attempts = {"n": 0}

    def counted(**kwargs):
        attempts["n"] += 1
        if failures["left"]:
            failures["left"] -= 1
            raise timeouts.ConcurrentChange("1 of 4 orders changed status meanwhile")
        return real(**kwargs)

    monkeypatch.setattr(timeouts, "orders_cancel_and_restore", counted)
    assert orders_cancel_timed_out(now=T0 + 2 * TIMEOUT).orders == 4
    assert attempts["n"] >= 3  # two rolled back, then the one that committed
    assert_books_balance(initial_stock=initial_stock, initial_points=initial_points)

    place_at(T0, users[0], products[0], 1)
    failures["left"], attempts["n"] = 99, 0
    with pytest.raises(TransactionRetriesExhausted, match="cancel_timeouts chunk: gave up after 5 attempts") as failed:
        orders_cancel_timed_out(now=T0 + 2 * TIMEOUT)
    assert isinstance(failed.value.__cause__, timeouts.ConcurrentChange)
    assert attempts["n"] == timeouts.CHUNK_ATTEMPTS == 5
    assert Order.objects.filter(order_status=OrderStatus.UNPAID).count() == 1


@pytest.mark.django_db
def test_job_function_reports_what_was_returned():
    users, products = _shop()
    place_at(T0, users[0], products[0], 2, coupon=make_coupon(users[0]), points=300)
    place_at(T0, users[1], products[1], 1)
    with time_machine.travel(T0 + 2 * TIMEOUT, tick=False):
        report = cron.cancel_timeouts()
    assert isinstance(report, JobReport)
    assert report.items_processed == 2
    assert report.message.startswith("cancelled 2 orders; returned 3 stock units (")
    assert f"#{products[0].pk}: 2" in report.message and f"#{products[1].pk}: 1" in report.message
    assert report.message.endswith("1 coupons, 300 points")
    with time_machine.travel(T0 + 2 * TIMEOUT + timedelta(minutes=1), tick=False):
        assert cron.cancel_timeouts() == JobReport(0, "cancelled 0 orders; returned 0 stock units, 0 coupons, 0 points")


# --- payment callback vs the job -------------------------------------------------------------


@pytest.mark.django_db
def test_payment_before_the_deadline_wins_over_a_later_job_run():
    users, products = _shop()
    initial_stock, initial_points = _initial(users, products)
    order = place_at(T0, users[0], products[0], 1, points=100)
    with time_machine.travel(T0 + TIMEOUT - timedelta(seconds=1), tick=False):
        assert _pay(order, "T-early").outcome == CallbackOutcome.APPLIED
    assert orders_cancel_timed_out(now=T0 + TIMEOUT + timedelta(minutes=1)).orders == 0
    assert Order.objects.get(pk=order.pk).order_status == OrderStatus.PAID
    assert_books_balance(initial_stock=initial_stock, initial_points=initial_points)


@pytest.mark.parametrize("job_first", [True, False], ids=["job-then-payment", "payment-then-job"])
@pytest.mark.django_db
def test_payment_after_the_deadline_is_refused_whether_or_not_the_job_ran(job_first):
    users, products = _shop()
    initial_stock, initial_points = _initial(users, products)
    order = place_at(T0, users[0], products[0], 1, points=100)
    late = T0 + TIMEOUT + timedelta(seconds=1)
    with time_machine.travel(late, tick=False):
        if job_first:
            assert orders_cancel_timed_out().orders == 1
        callback = _pay(order, "T-late")
        if not job_first:
            assert orders_cancel_timed_out().orders == 1
    assert callback.outcome == CallbackOutcome.REFUND_REQUIRED
    assert callback.reason == "order timed out before payment"
    assert Order.objects.get(pk=order.pk).order_status == OrderStatus.TIMEOUT_CANCELLED
    assert_books_balance(initial_stock=initial_stock, initial_points=initial_points)


# --- two at once (MariaDB: row locks, SKIP LOCKED) -----------------------------------------------


@pytest.mark.mysql_only
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_cancel_and_restore_each_order_exactly_once():
    users, products = _shop(n_users=8)
    initial_stock, initial_points = _initial(users, products)
    for i in range(240):
        place_at(T0 + timedelta(seconds=i), users[i % 8], products[i % 3], 1 + i % 3,
                 coupon=make_coupon(users[i % 8]) if i % 5 == 0 else None, points=10 if i % 3 == 0 else 0)
    now = T0 + 2 * TIMEOUT

    first, second = run_in_threads(
        lambda: orders_cancel_timed_out(now=now, chunk_size=7),
        lambda: orders_cancel_timed_out(now=now, chunk_size=7),
    )

    assert first.orders + second.orders == 240
    assert first.orders > 0 and second.orders > 0, "SKIP LOCKED lets both runs share the work"
    assert first.points + second.points == 80 * 10
    assert first.coupons + second.coupons == 48
    assert Order.objects.filter(order_status=OrderStatus.TIMEOUT_CANCELLED).count() == 240
    assert PointsEntry.objects.filter(reason=PointsReason.ORDER_REFUND).count() == 80
    assert_books_balance(initial_stock=initial_stock, initial_points=initial_points)


@pytest.mark.mysql_only
@pytest.mark.django_db(transaction=True)
def test_an_order_locked_elsewhere_is_skipped_not_waited_for_and_taken_next_run():
    users, products = _shop()
    initial_stock, initial_points = _initial(users, products)
    orders = [place_at(T0 + timedelta(seconds=i), users[i % 3], products[0], 1, points=10) for i in range(6)]
    held = orders[2]

    with order_row_locked(held):  # held for the whole run, final sweep included
        started = time.monotonic()
        restored = orders_cancel_timed_out(now=T0 + 2 * TIMEOUT, chunk_size=4)
        seconds = time.monotonic() - started
    assert restored.orders == 5 and seconds < 5
    assert Order.objects.get(pk=held.pk).order_status == OrderStatus.UNPAID
    assert orders_cancel_timed_out(now=T0 + 2 * TIMEOUT + timedelta(minutes=1)).orders == 1
    assert_books_balance(initial_stock=initial_stock, initial_points=initial_points)


@pytest.mark.mysql_only
@pytest.mark.django_db(transaction=True)
def test_payment_callbacks_racing_the_job_each_order_ends_paid_or_cancelled_never_both():
    users, products = _shop(n_users=4)
    initial_stock, initial_points = _initial(users, products)
    # Half of the orders are past their deadline when the race happens, half are not.
    expired = [place_at(T0 + timedelta(seconds=i), users[i % 4], products[i % 3], 1, points=10) for i in range(40)]
    fresh = [place_at(T0 + TIMEOUT + timedelta(seconds=i), users[i % 4], products[i % 3], 1, points=10)
             for i in range(40)]
    race_time = T0 + TIMEOUT + timedelta(minutes=5)

    def pay_all():
        return [_pay(o, f"T-race-{o.pk}") for o in expired + fresh]

    with time_machine.travel(race_time, tick=False):
        callbacks, restored = run_in_threads(pay_all, lambda: orders_cancel_timed_out(chunk_size=3))

    assert restored.orders == 40
    assert all(c.outcome == CallbackOutcome.REFUND_REQUIRED for c in callbacks[:40])
    assert all(c.outcome == CallbackOutcome.APPLIED for c in callbacks[40:])
    assert set(Order.objects.filter(pk__in=[o.pk for o in expired]).values_list("order_status", flat=True)) == {3}
    assert set(Order.objects.filter(pk__in=[o.pk for o in fresh]).values_list("order_status", flat=True)) == {1}
    assert_books_balance(initial_stock=initial_stock, initial_points=initial_points)


@pytest.mark.mysql_only
@pytest.mark.django_db(transaction=True)
def test_a_row_locked_during_the_scan_is_taken_by_the_final_sweep(monkeypatch):
    """A payment callback holding an expired order for a moment must not leave it for the next run."""
    users, products = _shop()
    initial_stock, initial_points = _initial(users, products)
    orders = [place_at(T0 + timedelta(seconds=i), users[i % 3], products[i % 3], 1, points=10) for i in range(6)]
    real_chunk = timeouts._cancel_chunk

    with order_row_locked(orders[2]) as lock:

        def chunk_then_let_the_payment_finish(**kwargs):
            restored, newest = real_chunk(**kwargs)
            if not restored.orders and not lock.released:  # the forward scan is over
                lock.release()
            return restored, newest

        monkeypatch.setattr(timeouts, "_cancel_chunk", chunk_then_let_the_payment_finish)
        restored = orders_cancel_timed_out(now=T0 + 2 * TIMEOUT, chunk_size=2)
        assert lock.released  # the order really was locked while the forward scan passed it

    assert restored.orders == 6
    assert set(Order.objects.filter(pk__in=[o.pk for o in orders]).values_list("order_status", flat=True)) == {3}
    assert_books_balance(initial_stock=initial_stock, initial_points=initial_points)
