"""Asking the gateway before cancelling: a lost callback must not cancel an order that was paid.

Placing an order schedules ``gateway-query:<number>`` on the rate-limited ``gateway`` queue,
GATEWAY_QUERY_BEFORE seconds before its deadline (in the placement's transaction); paying or
cancelling cancels it in theirs. A "paid" answer goes through ``payment_apply``, the callback's
own path (once per transaction id). While a query is pending, ``cancel_timeouts`` leaves the
order alone for at most GATEWAY_QUERY_GRACE seconds past its deadline
(``gateway_query_hold_*``). The customer's 我已支付，查询结果 button queues the same task now.
docs/payments.md ("The gateway query").
"""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Exists, OuterRef, Q, Value
from django.db.models.functions import Concat
from django.utils import timezone
from loguru import logger

from basic.cron_runtime.models import TimedTask, TimedTaskStatus
from basic.cron_runtime.timed_tasks.services import timed_task_cancel, timed_task_schedule, timed_tasks_cancel_joined
from basic.services.sql import sql_id_list
from order.models import Order, OrderStatus, expired_cutoff
from order.services.reminders import REMINDER_KEY_PREFIX

QUERY_KEY_PREFIX = "gateway-query:"
QUERY_TASK = "order.timed.gateway_query"
QUERY_QUEUE = "gateway"
# A 429 or a timeout is retried after a second or two: 12 attempts ride out a short outage or burst.
QUERY_ATTEMPTS = 12


def gateway_query_key(order_number: str) -> str:
    return f"{QUERY_KEY_PREFIX}{order_number}"


def _schedule(order_number: str, run_at, *, again_if_done: bool = False) -> TimedTask:
    return timed_task_schedule(QUERY_TASK, run_at, key=gateway_query_key(order_number), args=[order_number],
                               queue=QUERY_QUEUE, max_attempts=QUERY_ATTEMPTS, again_if_done=again_if_done,
                               name=f"gateway query {order_number}")


def gateway_query_schedule(*, order: Order) -> TimedTask | None:
    """Schedule the order's query before its deadline (inside the placement's transaction); None when disabled."""
    before = settings.GATEWAY_QUERY_BEFORE
    if not before:
        return None
    return _schedule(order.order_number, order.pay_deadline - timedelta(seconds=before))


def gateway_query_cancel(*, order_number: str) -> bool:
    """The order was paid or cancelled: no need to ask (inside that transaction)."""
    return timed_task_cancel(gateway_query_key(order_number))


def order_tasks_cancel(*, order_ids: list[int], now=None) -> int:
    """A chunk of orders the caller holds locked was cancelled: cancel their reminders and gateway
    queries in one UPDATE, the keys built by the database.

    The orders are read by primary key (forced on MySQL, as ``sql_by_pk`` does) and are this
    transaction's own locked rows, so the statement never waits on a row a payment callback holds.
    Reading the order numbers into Python to send them back as thousands of quoted keys cost the
    timeout job about a quarter of its time (benchmarks/RESULTS.md, "Jobs").
    """
    if not order_ids:
        return 0
    mysql = connection.vendor == "mysql"
    orders = f"{connection.ops.quote_name(Order._meta.db_table)} AS o" + (" FORCE INDEX (PRIMARY)" if mysql else "")
    prefixes = "(SELECT %s AS prefix UNION ALL SELECT %s) AS k"  # each order's two task keys
    return timed_tasks_cancel_joined(
        source=f"{orders} CROSS JOIN {prefixes}",
        key="CONCAT(k.prefix, o.order_number)" if mysql else "(k.prefix || o.order_number)",
        where=f"o.id IN ({sql_id_list(order_ids)})", key_params=[REMINDER_KEY_PREFIX, QUERY_KEY_PREFIX], now=now)


# --- cancel_timeouts: hold an expired order while its query is pending, within the grace ---------

def _pending_query():
    return TimedTask.objects.filter(key=Concat(Value(QUERY_KEY_PREFIX), OuterRef("order_number")),
                                    status=TimedTaskStatus.PENDING)


def gateway_query_hold_q(now) -> Q:
    """Orders cancel_timeouts must leave alone: a query pending and the grace not over."""
    grace_cutoff = expired_cutoff(now) - timedelta(seconds=settings.GATEWAY_QUERY_GRACE)
    return Q(Exists(_pending_query()), created_time__gt=grace_cutoff)


def gateway_query_hold_sql(*, order_alias: str, qn) -> tuple[str, list]:
    """The same rule as SQL for the MySQL scan: ``AND NOT (…)`` with its parameters (grace cutoff)."""
    table, key = qn(TimedTask._meta.db_table), qn("key")
    sql = (f"AND NOT ({order_alias}.created_time > %s AND EXISTS (SELECT 1 FROM {table} q WHERE q.{key} = "
           f"CONCAT(%s, {order_alias}.order_number) AND q.status = %s))")
    return sql, [QUERY_KEY_PREFIX, int(TimedTaskStatus.PENDING)]


# --- running the query -----------------------------------------------------------------------

def gateway_query_run(*, order_number: str) -> dict:
    """Ask the gateway; apply a "paid" answer like a callback. Returns what the page shows (stored as the result)."""
    from order.services.gateway_client import gateway_status
    from order.services.payment import payment_apply

    order = Order.objects.filter(order_number=order_number).first()
    if order is None:
        return {"answer": "gone"}
    if order.order_status != OrderStatus.UNPAID:
        return {"answer": "not-needed", "order_status": int(order.order_status)}
    status = gateway_status(order_number)  # RetryLater on 429/timeouts: the dispatcher retries with backoff
    if not status.paid:
        logger.info(f"order {order_number}: the gateway has no payment for it")
        return {"answer": "unpaid"}
    record = payment_apply(order_number=order_number, transaction_id=status.transaction_id, amount=status.amount,
                           paid_at=status.paid_at, payload=status.raw, cancel_query=False)
    logger.info(f"order {order_number}: the gateway says paid ({status.transaction_id}); payment {record.outcome}")
    return {"answer": "paid", "transaction_id": status.transaction_id, "outcome": record.outcome,
            "reason": record.reason}


# --- the customer's button and the page's poll -----------------------------------------------

def gateway_query_request(*, order: Order) -> TimedTask | None:
    """Queue an immediate query of the order (its owner asked). Nothing is added while one is due or running.

    None when the order no longer needs one (paid, cancelled, timed out).
    """
    now = timezone.now()
    if order.effective_status(now) != OrderStatus.UNPAID:
        return None
    task = TimedTask.objects.filter(key=gateway_query_key(order.order_number)).first()
    if task is not None and task.status == TimedTaskStatus.PENDING and task.next_attempt_at <= now:
        return task  # already queued or being asked: pressing again adds nothing
    if task is not None and task.status == TimedTaskStatus.PENDING and task.claimed_by:
        return task
    return _schedule(order.order_number, now, again_if_done=True)


def gateway_query_state(*, order: Order) -> dict:
    """What the order page shows about the order's query: state, message, and whether it is still asking."""
    now = timezone.now()
    status = order.effective_status(now)
    if status == OrderStatus.PAID:
        return {"state": "paid", "pending": False, "message": "支付成功，订单已支付"}
    task = TimedTask.objects.filter(key=gateway_query_key(order.order_number)).first()
    if task is None:
        return {"state": "none", "pending": False, "message": ""}
    if task.status == TimedTaskStatus.PENDING:
        if task.next_attempt_at > now and not task.attempts and not task.claimed_by:
            return {"state": "scheduled", "pending": False, "message": ""}
        return {"state": "querying", "pending": True, "message": "正在向支付平台查询…"}
    if task.status == TimedTaskStatus.DONE and (task.result or {}).get("answer") == "unpaid":
        return {"state": "unpaid", "pending": False,
                "message": "支付平台尚未收到这笔订单的付款。如已扣款，请稍后再查询或联系客服。"}
    if task.status == TimedTaskStatus.FAILED:
        return {"state": "failed", "pending": False, "message": "暂时无法连接支付平台，请稍后再试。"}
    return {"state": "none", "pending": False, "message": ""}
