"""The unpaid-order reminder: a mail ``ORDER_REMINDER_BEFORE`` seconds before the payment deadline.

Placing an order schedules it as a timed task (key ``order-reminder:<order number>``) in the
same transaction; paying or cancelling cancels it in theirs. When it runs, it mails only an
order that is still unpaid and within its deadline, saying how many minutes are really left
(a late dispatch does not promise ten minutes that have gone). Its late window is the
reminder period itself: a reminder that could only arrive after the deadline is recorded as
missed, never sent. A mail server failure raises, so the task is retried with backoff.
"""
from __future__ import annotations

import math
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.utils import timezone
from loguru import logger

from basic.cron_runtime.timed_tasks.services import timed_task_cancel, timed_task_schedule
from order.models import Order, OrderStatus

REMINDER_KEY_PREFIX = "order-reminder:"
REMINDER_TASK = "order.timed.unpaid_order_reminder"


def order_reminder_key(order_number: str) -> str:
    return f"{REMINDER_KEY_PREFIX}{order_number}"


def order_reminder_schedule(*, order: Order):
    """Schedule the order's reminder (inside the placement's transaction); None when disabled."""
    before = settings.ORDER_REMINDER_BEFORE
    if not before:
        return None
    return timed_task_schedule(
        REMINDER_TASK, order.pay_deadline - timedelta(seconds=before), key=order_reminder_key(order.order_number),
        args=[order.order_number], late_window=timedelta(seconds=before), name=f"unpaid reminder {order.order_number}",
    )


def order_reminder_cancel(*, order_number: str) -> bool:
    """The order was paid or cancelled: its reminder is not needed (inside that transaction)."""
    return timed_task_cancel(order_reminder_key(order_number))


def order_reminder_send(*, order_number: str, now=None) -> bool:
    """Mail the reminder if the order is still unpaid and payable; True when a mail went out."""
    now = now or timezone.now()
    order = Order.objects.select_related("user").filter(order_number=order_number).first()
    if order is None or order.order_status != OrderStatus.UNPAID or order.is_expired(now):
        state = "gone" if order is None else OrderStatus(order.effective_status(now)).label
        logger.info(f"order {order_number}: no reminder, the order is {state}")
        return False
    email = (order.user.email or "").strip()
    if not email:
        logger.info(f"order {order_number}: no reminder, {order.user.username} has no email address")
        return False
    minutes = max(1, math.ceil(order.seconds_left_to_pay(now) / 60))
    name = f"{order.user.last_name}{order.user.first_name}".strip() or order.user.username
    body = render_to_string("order/email/unpaid_reminder.txt", {
        "name": name, "order": order, "minutes": minutes, "deadline": timezone.localtime(order.pay_deadline),
        "site_name": "oms_test",
    })
    EmailMessage(subject=f"订单 {order_number} 将在 {minutes} 分钟后取消", body=body, to=[email]).send()
    logger.info(f"order {order_number}: reminder mailed to {email} ({minutes} min left)")
    return True
