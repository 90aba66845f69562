"""The gateway query in one process against the simulator on a real HTTP server: a lost callback is
found and applied once; the gateway down or saying 429 means retries, not failures, and nothing is
lost; cancel_timeouts holds an order while its query is pending, within the grace; the customer's
button and its JSON are the owner's alone."""
import socket
import time
import urllib.request
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from basic.cron_runtime.timed_tasks.dispatcher import timed_tasks_dispatch
from basic.cron_runtime.models import TimedTask, TimedTaskStatus
from oms_test.gateway.services import gateway_payment_take, gateway_sign
from order.models import CallbackOutcome, Order, OrderStatus, PaymentCallback
from order.services.cancellation import order_cancel_by_user
from order.services.gateway_query import gateway_query_key
from order.services.payment import payment_simulate
from order.services.placement import LineRequest, order_place
from order.services.timeouts import orders_cancel_timed_out
from tests.factories import make_product, make_user
from tests.gateway_queue.helpers import fresh_gateway_window

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def gateway(live_server, settings, monkeypatch):
    fresh_gateway_window(monkeypatch)
    settings.GATEWAY_URL = live_server.url + "/gateway/"
    settings.GATEWAY_QUERY_BEFORE = 120
    return live_server


def place(user=None):
    product = make_product(stock=None)
    return order_place(user=user or make_user(), lines=[LineRequest(product_id=product.pk, quantity=1)])


def query_task(order) -> TimedTask:
    return TimedTask.objects.get(key=gateway_query_key(order.order_number))


def lose_callback(order):
    return gateway_payment_take(order_number=order.order_number, amount=order.pay_amount, deliver_callback=None)[0]


def dispatch_now(order):
    TimedTask.objects.filter(key=gateway_query_key(order.order_number)).update(next_attempt_at=timezone.now())
    return timed_tasks_dispatch(rate_limited_seconds=5)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_placing_schedules_the_query_on_the_gateway_queue_before_the_deadline(gateway):
    order = place()
    task = query_task(order)
    assert task.queue == "gateway" and task.status == TimedTaskStatus.PENDING
    assert task.run_at == order.pay_deadline - timedelta(seconds=120)


def test_a_paid_answer_applies_the_payment_once_and_stores_the_answer(gateway):
    order = place()
    payment = lose_callback(order)
    report = dispatch_now(order)
    assert report.done == 1
    order.refresh_from_db()
    assert order.order_status == OrderStatus.PAID
    record = PaymentCallback.objects.get(order=order)
    assert (record.transaction_id, record.outcome) == (payment.transaction_id, CallbackOutcome.APPLIED)
    assert query_task(order).result == {"answer": "paid", "transaction_id": payment.transaction_id,
                                        "outcome": "applied", "reason": ""}


def test_an_unpaid_answer_changes_nothing(gateway):
    order = place()
    dispatch_now(order)
    order.refresh_from_db()
    assert order.order_status == OrderStatus.UNPAID and query_task(order).result == {"answer": "unpaid"}


def test_gateway_down_is_retried_and_nothing_is_lost(gateway, settings):
    order = place()
    lose_callback(order)
    settings.GATEWAY_URL = f"http://127.0.0.1:{free_port()}/gateway/"  # nothing listens there
    report = dispatch_now(order)
    task = query_task(order)
    assert (report.retrying, report.failed) == (1, 0)
    assert task.status == TimedTaskStatus.PENDING and task.attempts == 1 and "unreachable" in task.last_error
    settings.GATEWAY_URL = gateway.url + "/gateway/"  # back up
    assert dispatch_now(order).done == 1
    assert Order.objects.get(pk=order.pk).order_status == OrderStatus.PAID


def test_a_429_is_retried_after_the_gateways_retry_after_and_nothing_is_lost(gateway, settings):
    settings.GATEWAY_QPS = 1
    order = place()
    lose_callback(order)
    body = b'{"order_number": "SOMEONE-ELSE"}'  # another client uses up this second's one query
    urllib.request.urlopen(urllib.request.Request(gateway.url + "/gateway/query/", data=body,
                                                  headers={"X-Signature": gateway_sign(body)}), timeout=10)
    report = dispatch_now(order)
    task = query_task(order)
    assert (report.retrying, report.failed) == (1, 0)
    assert "HTTP 429" in task.last_error
    assert task.next_attempt_at - task.executed_time < timedelta(seconds=3)  # Retry-After: 1, not the 60 s backoff
    time.sleep(1.1)
    assert dispatch_now(order).done == 1
    assert Order.objects.get(pk=order.pk).order_status == OrderStatus.PAID


def test_cancel_timeouts_holds_an_order_while_its_query_is_pending_then_cancels_it_after_the_grace(gateway, settings):
    settings.GATEWAY_QUERY_GRACE = 600
    held, answered, plain = place(), place(), place()
    dispatch_now(answered)  # answered "unpaid": nothing to wait for
    TimedTask.objects.filter(key=gateway_query_key(plain.order_number)).delete()  # no query at all
    with time_machine.travel(held.pay_deadline + timedelta(seconds=30), tick=False):
        orders_cancel_timed_out()
    statuses = dict(Order.objects.values_list("pk", "order_status"))
    assert statuses[held.pk] == OrderStatus.UNPAID
    assert statuses[answered.pk] == statuses[plain.pk] == OrderStatus.TIMEOUT_CANCELLED
    with time_machine.travel(held.pay_deadline + timedelta(seconds=601), tick=False):
        orders_cancel_timed_out()
    assert Order.objects.get(pk=held.pk).order_status == OrderStatus.TIMEOUT_CANCELLED
    assert query_task(held).status == TimedTaskStatus.CANCELLED  # cancelling cancels the query


def test_paying_and_cancelling_cancel_the_query(gateway):
    paid, cancelled = place(), place()
    payment_simulate(order=paid)
    order_cancel_by_user(user=cancelled.user, order_number=cancelled.order_number)
    assert query_task(paid).status == query_task(cancelled).status == TimedTaskStatus.CANCELLED


def test_the_button_queues_one_immediate_query_and_the_json_says_how_it_stands(gateway, client):
    order = place()
    client.force_login(order.user)
    scheduled_for = query_task(order).run_at
    assert client.get(f"/orders/{order.order_number}/").content.decode().count("我已支付，查询结果") == 1
    assert client.post(f"/orders/{order.order_number}/gateway-query/").status_code == 302
    task = query_task(order)
    assert task.next_attempt_at < scheduled_for and task.next_attempt_at <= timezone.now()
    due_at = task.next_attempt_at
    client.post(f"/orders/{order.order_number}/gateway-query/")  # pressed again while pending: nothing added
    assert TimedTask.objects.filter(key=gateway_query_key(order.order_number)).count() == 1
    assert query_task(order).next_attempt_at == due_at
    poll = client.get(f"/orders/{order.order_number}/gateway-query.json").json()
    assert poll == {"state": "querying", "pending": True, "message": "正在向支付平台查询…"}
    assert "正在向支付平台查询…" in client.get(f"/orders/{order.order_number}/").content.decode()  # without JS: reload
    lose_callback(order)
    timed_tasks_dispatch(rate_limited_seconds=5)
    assert client.get(f"/orders/{order.order_number}/gateway-query.json").json()["state"] == "paid"
    page = client.get(f"/orders/{order.order_number}/").content.decode()
    assert "已支付" in page and "去学习" not in page  # paid; not a course, so nothing to learn


def test_an_unpaid_answer_is_shown_and_the_button_can_ask_again(gateway, client):
    order = place()
    client.force_login(order.user)
    client.post(f"/orders/{order.order_number}/gateway-query/")
    timed_tasks_dispatch(rate_limited_seconds=5)
    poll = client.get(f"/orders/{order.order_number}/gateway-query.json").json()
    assert poll["state"] == "unpaid" and not poll["pending"] and "尚未收到" in poll["message"]
    page = client.get(f"/orders/{order.order_number}/").content.decode()
    assert "尚未收到" in page and "我已支付，查询结果" in page
    client.post(f"/orders/{order.order_number}/gateway-query/")
    assert query_task(order).status == TimedTaskStatus.PENDING and query_task(order).result is None


def test_only_the_owner_can_press_or_read(gateway, client):
    order = place()
    client.force_login(make_user())
    assert client.post(f"/orders/{order.order_number}/gateway-query/").status_code == 404
    assert client.get(f"/orders/{order.order_number}/gateway-query.json").status_code == 404
    assert query_task(order).next_attempt_at == query_task(order).run_at  # nothing was queued


def test_the_pay_page_can_lose_the_callback(gateway, client):
    order = place()
    client.force_login(order.user)
    response = client.post(f"/orders/{order.order_number}/pay/", {"lose_callback": "1"}, follow=True)
    assert response.redirect_chain[-1][0] == f"/orders/{order.order_number}/"
    assert "回调未送达商户" in response.content.decode()
    assert Order.objects.get(pk=order.pk).order_status == OrderStatus.UNPAID
    assert not PaymentCallback.objects.filter(order=order).exists()
    from oms_test.gateway.models import GatewayPayment

    assert GatewayPayment.objects.get(order_number=order.order_number).callback_sent is False


def test_the_demo_has_an_order_whose_callback_was_lost_and_the_query_saves_it(gateway):
    from oms_test.gateway.models import GatewayPayment
    from oms_test.demo import demo_load

    demo_load()
    [payment] = GatewayPayment.objects.filter(callback_sent=False)
    order = Order.objects.get(order_number=payment.order_number)
    assert order.effective_status() == OrderStatus.UNPAID and not PaymentCallback.objects.filter(order=order).exists()
    task = query_task(order)
    assert timedelta(minutes=2) <= task.run_at - timezone.now() <= timedelta(minutes=3)  # due before its deadline
    dispatch_now(order)
    order.refresh_from_db()
    assert order.order_status == OrderStatus.PAID and order.paid_time == payment.paid_at
