"""The cancel_timeouts job: unpaid orders past their deadline become 超时取消, exactly once.

Bounded chunks, each in its own transaction: lock expired unpaid orders with SKIP LOCKED, hand
them to ``orders_cancel_and_restore``, commit. docs/jobs.md ("cancel_timeouts") has the whole
story: the scan order, the final sweep, concurrent runs, stops and crashes, memory.
"""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone
from loguru import logger

from basic.cron_runtime.running.chunked_scan import chunks_with_final_sweep
from basic.cron_runtime.running.progress import report_progress
from basic.cron_runtime.running.stopping import uninterrupted
from basic.cron_runtime.running.transactions import atomic_with_retry
from order.models import Order, OrderStatus, expired_cutoff, expired_q
from order.services.gateway_query import gateway_query_hold_q, gateway_query_hold_sql
from order.services.cancellation import (
    CANCEL_COLUMNS,
    ConcurrentChange,
    LockedOrders,
    Restored,
    orders_cancel_and_restore,
)

# Attempts of one chunk (after a concurrent change, a deadlock or a lock wait timeout) before the run fails.
CHUNK_ATTEMPTS = 5


def orders_expired_q(*, now):
    """Unpaid orders whose deadline has passed (the same rule as ``Order.is_expired``)."""
    return Order.objects.filter(expired_q(now))


def orders_to_cancel_q(*, now):
    """Expired unpaid orders, but those whose gateway query is pending and within its grace."""
    return orders_expired_q(now=now).exclude(gateway_query_hold_q(now))


def _ints(text) -> list[int]:
    if not text:
        return []
    if isinstance(text, bytes):
        text = text.decode()
    return [int(i) for i in text.split(",") if i]


def _lock_chunk(*, now, chunk_size: int, start=None) -> tuple[LockedOrders, object]:
    """Lock up to ``chunk_size`` expired unpaid orders (oldest first, skipping locked rows).

    ``start``: only orders created at or after it (the newest ``created_time`` of the
    previous chunk, as returned here). Returns the orders and the new ``start``.
    """
    if connection.vendor != "mysql":
        expired = orders_to_cancel_q(now=now)
        if start is not None:
            expired = expired.filter(created_time__gte=start)
        rows = list(
            expired.select_for_update(skip_locked=True)
            .order_by("created_time", "id")
            .values_list(*CANCEL_COLUMNS, "created_time")[:chunk_size]
        )
        return LockedOrders.from_rows(rows), (rows[-1][-1] if rows else start)
    # MySQL/MariaDB: one row back, the chunk summarised by the server (ids as GROUP_CONCAT
    # strings), instead of one row per order: PyMySQL parses each row in Python, which costs
    # more than the server spends locking it (benchmarks/RESULTS.md). The FOR UPDATE SKIP
    # LOCKED of the derived table locks exactly the rows it returns (a test checks this).
    qn = connection.ops.quote_name
    cutoff = expired_cutoff(now)
    hold_sql, hold_params = gateway_query_hold_sql(order_alias="o", qn=qn)
    grace_cutoff = cutoff - timedelta(seconds=settings.GATEWAY_QUERY_GRACE)
    params = [int(OrderStatus.UNPAID), connection.ops.adapt_datetimefield_value(cutoff)]
    if start is not None:
        params.append(start)
    params += [connection.ops.adapt_datetimefield_value(grace_cutoff), *hold_params]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*), GROUP_CONCAT(id), COUNT(coupon_id), GROUP_CONCAT(coupon_id), "
            "SUM(points_used > 0), GROUP_CONCAT(IF(points_used > 0, id, NULL)), COALESCE(SUM(points_used), 0), "
            "SUM(id), SUM(coupon_id), SUM(IF(points_used > 0, id, 0)), "
            f"MAX(created_time) FROM (SELECT id, coupon_id, points_used, created_time FROM {qn(Order._meta.db_table)} o "
            f"WHERE order_status = %s AND created_time <= %s {'AND created_time >= %s' if start is not None else ''} "
            f"{hold_sql} ORDER BY created_time, id LIMIT {int(chunk_size)} FOR UPDATE SKIP LOCKED) AS chunk",
            params,
        )
        n, ids, n_coupons, coupon_ids, n_points, points_ids, points, sum_ids, sum_coupons, sum_points_ids, newest = (
            cursor.fetchone()
        )
    locked = LockedOrders(ids=_ints(ids), coupon_ids=_ints(coupon_ids), points_ids=_ints(points_ids), points=int(points))
    got = [len(locked.ids), sum(locked.ids), len(locked.coupon_ids), sum(locked.coupon_ids), len(locked.points_ids),
           sum(locked.points_ids)]
    expected = [n, sum_ids, n_coupons, sum_coupons, n_points, sum_points_ids]
    if got != [int(x or 0) for x in expected]:
        # group_concat_max_len too small (a list cut short, maybe in the middle of an id): never act on it
        raise RuntimeError("GROUP_CONCAT truncated a chunk's ids; raise group_concat_max_len")
    return locked, (newest if n else start)


def _cancel_chunk(*, now, chunk_size: int, start=None) -> tuple[Restored, object]:
    """One chunk in its own transaction; a lost lock race costs a retry of this chunk, not the run."""

    def attempt():
        locked, newest = _lock_chunk(now=now, chunk_size=chunk_size, start=start)
        return orders_cancel_and_restore(locked=locked, new_status=OrderStatus.TIMEOUT_CANCELLED, now=now), newest

    with uninterrupted():  # a stop waits for the commit and its count: never a chunk done but not reported
        restored, newest = atomic_with_retry(
            attempt, what="cancel_timeouts chunk", attempts=CHUNK_ATTEMPTS, retry_on=(ConcurrentChange,)
        )
        if restored.orders:
            report_progress(chunks=1, items=restored.orders)
    return restored, newest


def _prepare_session(chunk_size: int) -> None:
    """MySQL only: make room for a chunk's ids in one GROUP_CONCAT (MySQL's default is 1,024 bytes)."""
    if connection.vendor == "mysql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SET SESSION group_concat_max_len = GREATEST(@@SESSION.group_concat_max_len, %s)",
                [21 * int(chunk_size) + 64],
            )


def orders_cancel_timed_out(*, now=None, chunk_size: int | None = None) -> Restored:
    """Cancel every unpaid order past ``created_time + ORDER_TIMEOUT`` and restore what it held.

    ``now`` is fixed for the whole run (orders that expire while it runs wait for
    the next run). Returns the totals of what was cancelled and given back.
    """
    now = now or timezone.now()
    chunk_size = chunk_size or settings.CANCEL_TIMEOUTS_CHUNK_SIZE
    total = Restored()
    report_progress(unit="orders")
    _prepare_session(chunk_size)

    def take(start):
        restored, newest = _cancel_chunk(now=now, chunk_size=chunk_size, start=start)
        return (restored, newest) if restored.orders else None

    for restored in chunks_with_final_sweep(take):
        total.add(restored)
        logger.debug("cancel_timeouts: chunk of {} orders committed ({} so far)", restored.orders, total.orders)
    return total


def restored_summary(restored: Restored, *, max_products: int = 10) -> str:
    """One line for the log and the run record: what was cancelled and given back."""
    per_product = sorted(restored.stock_by_product.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ", ".join(f"#{pid}: {units}" for pid, units in per_product[:max_products])
    if len(per_product) > max_products:
        shown += f", … {len(per_product) - max_products} more products"
    stock = f"{restored.stock_units} stock units" + (f" ({shown})" if shown else "")
    return (
        f"cancelled {restored.orders} orders; returned {stock}, "
        f"{restored.coupons} coupons, {restored.points} points"
    )
