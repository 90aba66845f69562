"""The unpaid-order reminder: mailed once (real SMTP on loopback) before the deadline, never
after payment or cancellation, never for an order that is no longer unpaid when it runs."""
from __future__ import annotations

import email
import email.header
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from basic.cron_runtime import conf
from basic.cron_runtime.timed_tasks.dispatcher import timed_tasks_dispatch
from basic.cron_runtime.models import TimedTask, TimedTaskStatus
from order.models import Order, OrderStatus
from order.services.cancellation import order_cancel_by_user
from order.services.payment import payment_simulate
from order.services.timeouts import orders_cancel_timed_out
from tests.factories import make_product, make_user
from tests.jobs.helpers import place_at

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.ORDER_TIMEOUT = 3600
    settings.ORDER_REMINDER_BEFORE = 600


@pytest.fixture
def placed():
    """An order placed at a fixed moment by a user with an email address."""
    start = timezone.now().replace(microsecond=0) - timedelta(hours=2)
    user = make_user(email="buyer@example.com")
    order = place_at(start, user, make_product(stock=None))
    return start, order


def dispatch_at(when):
    with time_machine.travel(when, tick=False):
        return timed_tasks_dispatch()


def reminder(order: Order) -> TimedTask:
    return TimedTask.objects.get(key=f"order-reminder:{order.order_number}")


def subject_and_text(raw: bytes) -> tuple[str, str]:
    message = email.message_from_bytes(raw)
    subject = str(email.header.make_header(email.header.decode_header(message["Subject"])))
    return subject, message.get_payload(decode=True).decode()


def test_placing_an_order_schedules_its_reminder_before_the_deadline(placed):
    start, order = placed
    task = reminder(order)
    assert task.status == TimedTaskStatus.PENDING
    assert task.run_at == start + timedelta(seconds=3600 - 600)
    assert task.late_window == timedelta(seconds=600) and task.args == [order.order_number]


def test_the_reminder_is_mailed_once(placed, smtp_server):
    start, order = placed
    assert dispatch_at(start + timedelta(seconds=2999)).tasks == 0  # not yet
    assert dispatch_at(start + timedelta(seconds=3000)).done == 1
    assert dispatch_at(start + timedelta(seconds=3060)).tasks == 0
    assert smtp_server.recipients() == ["buyer@example.com"]
    subject, text = subject_and_text(smtp_server.received[0][1])
    assert subject == f"订单 {order.order_number} 将在 10 分钟后取消"
    assert order.order_number in text and "10 分钟后" in text


def test_a_late_dispatch_says_how_many_minutes_are_really_left(placed, smtp_server):
    start, order = placed
    assert dispatch_at(start + timedelta(seconds=3300)).done == 1  # the dispatcher was 5 minutes behind
    assert subject_and_text(smtp_server.received[0][1])[0].endswith("将在 5 分钟后取消")


def test_a_reminder_that_could_only_arrive_after_the_deadline_is_missed_not_sent(placed, smtp_server):
    start, order = placed
    report = dispatch_at(start + timedelta(seconds=3601))
    assert report.missed == 1 and smtp_server.received == []
    assert reminder(order).status == TimedTaskStatus.MISSED


def test_paying_cancels_the_reminder_and_nothing_is_mailed(placed, smtp_server):
    start, order = placed
    with time_machine.travel(start + timedelta(seconds=100), tick=False):
        payment_simulate(order=order)
    assert reminder(order).status == TimedTaskStatus.CANCELLED
    assert dispatch_at(start + timedelta(seconds=3000)).tasks == 0
    assert smtp_server.received == []


def test_cancelling_by_the_user_cancels_the_reminder(placed):
    start, order = placed
    with time_machine.travel(start + timedelta(seconds=100), tick=False):
        order_cancel_by_user(user=order.user, order_number=order.order_number)
    assert reminder(order).status == TimedTaskStatus.CANCELLED


def test_the_timeout_job_cancels_the_pending_reminders_of_the_orders_it_cancels(settings):
    start = timezone.now().replace(microsecond=0) - timedelta(hours=3)
    user, product = make_user(), make_product(stock=None)
    expired = [place_at(start, user, product) for _ in range(3)]
    fresh = place_at(timezone.now(), user, product)
    restored = orders_cancel_timed_out(chunk_size=2)  # the dispatcher never ran: the reminders are still pending
    assert restored.orders == 3
    assert [reminder(o).status for o in expired] == [TimedTaskStatus.CANCELLED] * 3
    assert reminder(fresh).status == TimedTaskStatus.PENDING


def test_an_order_no_longer_unpaid_when_the_task_runs_gets_no_mail(placed, smtp_server):
    start, order = placed
    # paid behind the reminder's back (e.g. by staff in the admin): the task is still pending
    Order.objects.filter(pk=order.pk).update(order_status=OrderStatus.PAID, paid_time=start + timedelta(seconds=60))
    assert dispatch_at(start + timedelta(seconds=3000)).done == 1
    assert smtp_server.received == []


def test_a_mail_server_failure_is_retried(placed, smtp_server, settings):
    start, order = placed
    smtp_server.refuse["buyer@example.com"] = "451 4.3.0 try again later"
    report = dispatch_at(start + timedelta(seconds=3000))
    assert report.retrying == 1 and "451" in reminder(order).last_error
    del smtp_server.refuse["buyer@example.com"]
    assert dispatch_at(start + timedelta(seconds=3000 + conf.TIMED_TASK_RETRY_DELAY)).done == 1
    assert smtp_server.recipients() == ["buyer@example.com"]


def test_order_reminder_before_0_schedules_nothing(settings):
    settings.ORDER_REMINDER_BEFORE = 0
    order = place_at(timezone.now(), make_user(), make_product(stock=None))
    assert not TimedTask.objects.filter(key=f"order-reminder:{order.order_number}").exists()
