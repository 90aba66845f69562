"""Points: every change is a ledger row, and the balance moves in the same transaction."""
from __future__ import annotations

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from basic.models import PointsEntry, PointsReason, Profile
from basic.services.sql import foreign_key_checks_skipped, sql_by_pk, sql_id_list


class InsufficientPoints(Exception):
    @classmethod
    def needing(cls, points: int) -> InsufficientPoints:
        return cls(f"积分不足：需要 {points} 积分")


def points_change(*, user, delta: int, reason: str, order=None) -> PointsEntry:
    """Add (or with a negative delta, take) points; refuses to go below zero."""
    with transaction.atomic():
        balance = Profile.objects.filter(user=user)
        if delta < 0:
            balance = balance.filter(points__gte=-delta)
        if balance.update(points=F("points") + delta) != 1:
            raise InsufficientPoints.needing(-delta)
        return PointsEntry.objects.create(user=user, delta=delta, reason=reason, order=order)


def points_refund_for_orders(*, order_ids: list[int]) -> None:
    """Give back the points of these orders, set-based: one ``INSERT … SELECT`` and one ``UPDATE``.

    For orders this transaction has just cancelled (and still holds locked): the
    refunds are read from the orders themselves (``points_used``), inside the
    database, so nothing per order travels through Python. One ledger row per order
    with points (the ledger's unique (order, reason) makes a second refund of the same
    order impossible) and each user's balance moves by the sum of their rows, so the
    balance stays equal to the ledger sum. The insert skips the foreign key checks: its
    order and user ids are copied from the locked orders, whose own foreign keys already
    guarantee them (``foreign_key_checks_skipped``).
    """
    if not order_ids:
        return
    from order.models import Order  # basic must not import order at module level

    qn = connection.ops.quote_name
    orders, ledger, profiles = qn(Order._meta.db_table), qn(PointsEntry._meta.db_table), qn(Profile._meta.db_table)
    ids = sql_id_list(order_ids)
    created = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        with foreign_key_checks_skipped(cursor) as unchecked:
            cursor.execute(
                f"{unchecked}INSERT INTO {ledger} (order_id, user_id, delta, reason, created_time) "
                f"SELECT id, user_id, points_used, %s, %s FROM {sql_by_pk(orders)} "
                f"WHERE id IN ({ids}) AND points_used > 0 ORDER BY id",
                [PointsReason.ORDER_REFUND.value, created],
            )
            refunds = cursor.rowcount
        if not refunds:
            return
        if connection.vendor == "mysql":
            # Per-user sums first (STRAIGHT_JOIN), then one unique-index lookup per user, in the
            # grouped (user_id) order; never a scan that would lock other users' profiles.
            cursor.execute(
                f"UPDATE (SELECT user_id, SUM(points_used) AS refund FROM {sql_by_pk(orders)} "
                f"WHERE id IN ({ids}) AND points_used > 0 GROUP BY user_id) AS r "
                f"STRAIGHT_JOIN {profiles} AS p ON p.user_id = r.user_id SET p.points = p.points + r.refund"
            )
        else:
            cursor.execute(
                f"UPDATE {profiles} SET points = points + (SELECT SUM(o.points_used) FROM {orders} AS o "
                f"WHERE o.user_id = {profiles}.user_id AND o.id IN ({ids})) "
                f"WHERE user_id IN (SELECT user_id FROM {orders} WHERE id IN ({ids}) AND points_used > 0)"
            )
