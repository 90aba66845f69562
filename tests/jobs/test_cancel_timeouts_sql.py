"""The set-based SQL of cancel_timeouts: locking, chunk boundaries, id lists (see order/services/timeouts.py)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import OperationalError, connection, connections, transaction

from basic.services.sql import sql_id_list
from order.models import Order, OrderStatus
from order.services import timeouts
from order.services.cancellation import LockedOrders, orders_cancel_and_restore, reserved_units_sql
from order.services.timeouts import orders_cancel_timed_out
from tests.factories import make_coupon, make_product, make_user
from tests.jobs.helpers import assert_books_balance, local, place_at

T0 = local(2026, 3, 10, 9, 0)
TIMEOUT = timedelta(seconds=3600)


@pytest.fixture(autouse=True)
def _timeout(settings):
    settings.ORDER_TIMEOUT = 3600


def test_id_lists_are_integer_literals_only():
    assert sql_id_list([3, 5, 8]) == "3,5,8"
    with pytest.raises(ValueError):
        sql_id_list([])
    with pytest.raises(ValueError):
        sql_id_list(["1) OR (1=1"])


@pytest.mark.django_db
def test_orders_with_the_same_created_time_across_chunk_boundaries_are_all_taken():
    user, product = make_user(points=1_000), make_product(stock=100)
    for _ in range(7):
        place_at(T0, user, product, 1, points=10)
    restored = orders_cancel_timed_out(now=T0 + 2 * TIMEOUT, chunk_size=3)
    assert (restored.orders, restored.stock_units, restored.points) == (7, 7, 70)
    assert not Order.objects.filter(order_status=OrderStatus.UNPAID).exists()


@pytest.mark.django_db
def test_locked_summary_and_rows_give_back_the_same():
    user, product = make_user(points=1_000), make_product(stock=100)
    initial_stock, initial_points = {product.pk: 100}, {user.pk: 1_000}
    a = place_at(T0, user, product, 2, coupon=make_coupon(user), points=30)
    b = place_at(T0, user, product, 1)
    with transaction.atomic():
        rows = list(Order.objects.filter(pk__in=[a.pk, b.pk]).values_list("id", "user_id", "coupon_id", "points_used"))
        locked = LockedOrders.from_rows(rows)
        assert (sorted(locked.ids), locked.coupon_ids, locked.points_ids, locked.points) == (
            sorted([a.pk, b.pk]), [a.coupon_id], [a.pk], 30)
        restored = orders_cancel_and_restore(locked=locked, new_status=OrderStatus.TIMEOUT_CANCELLED, now=T0 + 2 * TIMEOUT)
    assert (restored.orders, restored.stock_units, restored.coupons, restored.points) == (2, 3, 1, 30)
    assert_books_balance(initial_stock=initial_stock, initial_points=initial_points)


@pytest.mark.django_db
def test_a_row_no_longer_unpaid_rolls_the_whole_set_back():
    user, product = make_user(points=1_000), make_product(stock=100)
    a = place_at(T0, user, product, 1, points=10)
    b = place_at(T0, user, product, 1, points=10)
    Order.objects.filter(pk=b.pk).update(order_status=OrderStatus.CANCELLED, cancelled_time=T0)
    rows = [(a.pk, user.pk, None, 10), (b.pk, user.pk, None, 10)]
    with pytest.raises(timeouts.ConcurrentChange), transaction.atomic():
        orders_cancel_and_restore(rows=rows, new_status=OrderStatus.TIMEOUT_CANCELLED, now=T0 + 2 * TIMEOUT)
    assert Order.objects.get(pk=a.pk).order_status == OrderStatus.UNPAID


@pytest.mark.django_db(transaction=True)  # ANALYZE TABLE commits implicitly on MySQL/MariaDB
def test_the_stock_read_is_served_by_the_items_covering_index_alone():
    user, products = make_user(points=1_000), [make_product(stock=1_000) for _ in range(4)]
    orders = [place_at(T0, user, products[i % 4], 1 + i % 2) for i in range(40)]  # a chunk among other orders
    sql = reserved_units_sql(sql_id_list(o.pk for o in orders[:6]))
    with connection.cursor() as cursor:
        cursor.execute(sql)
        assert sorted((int(pid), int(units)) for pid, units in cursor.fetchall()) == [
            (products[0].pk, 2), (products[1].pk, 4), (products[2].pk, 1), (products[3].pk, 2)]
        if connection.vendor == "mysql":
            cursor.execute("ANALYZE TABLE order_orderitem")  # statistics as a real table has them
            cursor.fetchall()
            cursor.execute("EXPLAIN " + sql)
            columns = [c[0] for c in cursor.description]
            items = [dict(zip(columns, row)) for row in cursor.fetchall() if row[columns.index("table")] == "i"]
            assert [(r["key"], "Using index" in (r["Extra"] or "")) for r in items] == [("item_order_stock_read", True)]
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + sql)
            plan = " ".join(str(row[-1]) for row in cursor.fetchall())
            assert "COVERING INDEX item_order_stock_read" in plan, plan


@pytest.mark.mysql_only
@pytest.mark.django_db(transaction=True)
def test_the_locking_read_locks_exactly_the_rows_of_the_chunk():
    user, product = make_user(points=1_000), make_product(stock=100)
    orders = [place_at(T0 + timedelta(seconds=i), user, product, 1) for i in range(5)]
    other = connections.create_connection("default")
    try:
        with transaction.atomic():
            locked, _ = timeouts._lock_chunk(now=T0 + 2 * TIMEOUT, chunk_size=3)
            assert sorted(locked.ids) == [o.pk for o in orders[:3]]
            with other.cursor() as cursor:
                for order in orders:
                    try:
                        cursor.execute("SELECT id FROM order_order WHERE id = %s FOR UPDATE NOWAIT", [order.pk])
                        free = True
                    except OperationalError:
                        free = False
                    assert free == (order.pk not in locked.ids), f"order {order.pk}"
                other.rollback()
    finally:
        other.close()


@pytest.mark.mysql_only
@pytest.mark.django_db
def test_a_truncated_id_list_is_never_acted_on(monkeypatch):
    user, product = make_user(points=1_000), make_product(stock=100)
    for i in range(5):
        place_at(T0 + timedelta(seconds=i), user, product, 1)
    monkeypatch.setattr(timeouts, "_prepare_session", lambda chunk_size: None)
    with connection.cursor() as cursor:
        cursor.execute("SET SESSION group_concat_max_len = 4")
    try:
        with pytest.raises(RuntimeError, match="truncated"):
            orders_cancel_timed_out(now=T0 + 2 * TIMEOUT, chunk_size=5)
        assert Order.objects.filter(order_status=OrderStatus.UNPAID).count() == 5
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET SESSION group_concat_max_len = DEFAULT")


def session_foreign_key_checks() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT @@SESSION.foreign_key_checks")
        return int(cursor.fetchone()[0])


@pytest.mark.mysql_only
@pytest.mark.django_db
def test_the_points_refund_skips_redundant_foreign_key_checks_only_for_its_own_insert():
    """The refund copies order and user ids from the locked orders, so its insert skips the foreign
    key checks (a random read of auth_user per row); the session keeps them on."""
    from basic.models import PointsEntry, PointsReason
    from order.services.cancellation import points_refund_for_orders

    user, product = make_user(points=1_000), make_product(stock=100)
    order = place_at(T0, user, product, 1, points=40)
    inserts = []

    def spy(execute, sql, params, many, context):
        if "INSERT" in sql:
            inserts.append((sql, session_foreign_key_checks()))
        return execute(sql, params, many, context)

    with transaction.atomic(), connection.execute_wrapper(spy):
        points_refund_for_orders(order_ids=[order.pk])
    [(sql, checks_during)] = inserts
    if connection.mysql_is_mariadb:  # scoped to the one statement
        assert sql.startswith("SET STATEMENT foreign_key_checks = 0 FOR INSERT"), sql
    else:  # MySQL: the session variable, around the insert only
        assert checks_during == 0
    assert session_foreign_key_checks() == 1
    assert PointsEntry.objects.get(order_id=order.pk, reason=PointsReason.ORDER_REFUND).user_id == user.pk


@pytest.mark.mysql_only
@pytest.mark.django_db
def test_foreign_key_checks_are_back_on_when_the_refund_insert_fails():
    """A second refund of the same order breaks the ledger's unique (order, reason): the error
    reaches the caller, nothing is written, and the connection is not left unchecked."""
    from django.db import IntegrityError

    from basic.models import PointsEntry, PointsReason
    from order.services.cancellation import points_refund_for_orders

    user, product = make_user(points=1_000), make_product(stock=100)
    order = place_at(T0, user, product, 1, points=40)
    with transaction.atomic():
        points_refund_for_orders(order_ids=[order.pk])
    with pytest.raises(IntegrityError), transaction.atomic():
        points_refund_for_orders(order_ids=[order.pk])
    assert session_foreign_key_checks() == 1
    assert PointsEntry.objects.filter(order_id=order.pk, reason=PointsReason.ORDER_REFUND).count() == 1
