"""Helpers for the job tests: orders placed at a chosen time, the books that must balance, a recording SMTP server."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import datetime
from zoneinfo import ZoneInfo

import time_machine
from django.db import connections, transaction
from django.db.models import Sum

from basic.models import Coupon, CouponStatus, PointsEntry, Product, Profile
from order.models import Order, OrderItem, OrderStatus
from order.services.placement import LineRequest, order_place

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(*args) -> datetime:
    """An aware datetime in the business timezone (Asia/Shanghai)."""
    return datetime(*args, tzinfo=SHANGHAI)


def place_at(when, user, product, quantity=1, *, coupon=None, points=0) -> Order:
    with time_machine.travel(when, tick=False):
        return order_place(
            user=user, lines=[LineRequest(product.pk, quantity)], coupon_id=coupon.pk if coupon else None, points=points
        )


HOLDING = (OrderStatus.UNPAID, OrderStatus.PAID)  # statuses that keep stock, coupon and points


def assert_books_balance(*, initial_stock: dict[int, int], initial_points: dict[int, int]) -> None:
    """Stock, coupons and points agree exactly with the orders that still hold them."""
    for product in Product.objects.filter(pk__in=initial_stock):
        held = (
            OrderItem.objects.filter(product=product, order__order_status__in=HOLDING).aggregate(s=Sum("quantity"))["s"]
            or 0
        )
        assert product.stock == initial_stock[product.pk] - held, f"stock of product {product.pk}"
    for coupon in Coupon.objects.filter(orders__isnull=False).distinct():
        in_use = Order.objects.filter(coupon=coupon, order_status__in=HOLDING).count()
        assert in_use <= 1
        assert (coupon.status == CouponStatus.USED) == bool(in_use), f"coupon {coupon.pk} is {coupon.status}"
    for user_id, points in initial_points.items():
        held = Order.objects.filter(user_id=user_id, order_status__in=HOLDING).aggregate(s=Sum("points_used"))["s"] or 0
        ledger = PointsEntry.objects.filter(user_id=user_id).aggregate(s=Sum("delta"))["s"] or 0
        balance = Profile.objects.get(user_id=user_id).points
        assert balance == ledger == points - held, f"points of user {user_id}: {balance}, ledger {ledger}"


def run_in_threads(*targets, timeout=120):
    """Start the callables at the same moment, each in a thread with its own DB connection.

    Returns their results in order; re-raises the first exception a thread raised.
    """
    barrier = threading.Barrier(len(targets))
    results: list = [None] * len(targets)
    errors: list = []

    def run(i, target):
        try:
            barrier.wait()
            results[i] = target()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, t)) for i, t in enumerate(targets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), "a thread did not finish (deadlock?)"
    if errors:
        raise errors[0]
    return results


class RowLock:
    """An order's row lock held by another connection, as a payment callback or a user's
    cancel holds it in the middle of its transaction."""

    def __init__(self, order: Order):
        self._locked, self._release = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._hold, args=(order.pk,))

    def _hold(self, pk: int) -> None:
        try:
            with transaction.atomic():
                list(Order.objects.select_for_update().filter(pk=pk))
                self._locked.set()
                self._release.wait(30)
        finally:
            connections.close_all()

    def acquire(self) -> None:
        self._thread.start()
        assert self._locked.wait(10), "could not lock the order row"

    @property
    def released(self) -> bool:
        return self._release.is_set()

    def release(self) -> None:
        """Let the other transaction finish (commit, lock gone) and wait for it."""
        self._release.set()
        self._thread.join(30)


@contextmanager
def order_row_locked(order: Order):
    lock = RowLock(order)
    lock.acquire()
    try:
        yield lock
    finally:
        lock.release()
