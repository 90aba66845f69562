"""200 orders, 20 paid at the gateway whose callbacks were lost: the gateway query, drained by three
dispatcher processes while cancel_timeouts runs every second, saves all 20 (paid exactly once, never
cancelled, some of them held past their deadline) and the 180 others are cancelled."""
import time
from datetime import timedelta

import pytest

from basic.cron_runtime.models import TimedTask, TimedTaskStatus
from oms_test.gateway.services import gateway_payment_take
from order.models import CallbackOutcome, Order, OrderStatus, PaymentCallback
from order.services.payment import payment_callback_handle, payment_sign
from order.services.placement import LineRequest, order_place
from order.services.timeouts import orders_cancel_timed_out
from tests.factories import make_product, make_user
from tests.gateway_queue.helpers import (
    busiest_sliding_second,
    dispatcher_env,
    gateway_arrivals,
    start_dispatcher,
    too_many,
    fresh_gateway_window,
    warm_gateway,
)
from tests.orders.helpers import callback_body

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_gateway_query_saves_every_order_whose_callback_was_lost(
        live_server, settings, subprocess_env, manage_py, monkeypatch):
    rate, timeout, before = 10, 20, 15
    settings.GATEWAY_QPS = rate
    settings.ORDER_TIMEOUT, settings.GATEWAY_QUERY_BEFORE, settings.GATEWAY_QUERY_GRACE = timeout, before, 600
    warm_gateway(live_server)
    fresh_gateway_window(monkeypatch)
    product = make_product(stock=None, price="9.90")
    users = [make_user() for _ in range(10)]
    orders = [order_place(user=users[n % 10], lines=[LineRequest(product_id=product.pk, quantity=1)])
              for n in range(200)]
    lost = orders[::10]  # paid at the gateway, callback never sent
    for order in lost:
        gateway_payment_take(order_number=order.order_number, amount=order.pay_amount, deliver_callback=None)
    assert TimedTask.objects.filter(queue="gateway", status=TimedTaskStatus.PENDING).count() == 200
    # The queries come due `before` seconds ahead of the deadlines; at 10/s the 200 take 20 s, so the
    # last ones are asked after their orders' deadlines, while cancel_timeouts runs every second.
    envs = [dispatcher_env(subprocess_env, live_server, rate=rate, host=host, ORDER_TIMEOUT=timeout)
            for host in ("host-a", "host-a", "host-b")]
    pending = TimedTask.objects.filter(queue="gateway", status=TimedTaskStatus.PENDING)
    for _round in range(4):  # 200 queries at 10/s take 20 s; a loaded machine may need another round
        procs = [start_dispatcher(manage_py, env, "--for", "30") for env in envs]
        while any(proc.poll() is None for proc in procs):
            orders_cancel_timed_out()  # as the every-minute job would, but every second
            time.sleep(1)
        for proc in procs:
            assert proc.returncode == 0, proc.stderr.read()[-3000:]
        if not pending.exists():
            break
    assert not pending.exists()
    orders_cancel_timed_out()

    lost_numbers = {order.order_number for order in lost}
    statuses = dict(Order.objects.values_list("order_number", "order_status"))
    assert {statuses[number] for number in lost_numbers} == {OrderStatus.PAID}
    assert [n for n, s in statuses.items() if n not in lost_numbers and s != OrderStatus.TIMEOUT_CANCELLED] == []
    applied = PaymentCallback.objects.filter(outcome=CallbackOutcome.APPLIED)
    assert sorted(applied.values_list("order__order_number", flat=True)) == sorted(lost_numbers)  # once each
    assert not PaymentCallback.objects.exclude(outcome=CallbackOutcome.APPLIED).exists()
    # The grace mattered: some of the 20 were answered after their deadline, held from cancellation meanwhile.
    answered = dict(TimedTask.objects.filter(key__in=[f"gateway-query:{n}" for n in lost_numbers])
                    .values_list("key", "finish_time"))
    late = [o for o in lost if answered[f"gateway-query:{o.order_number}"] > o.pay_deadline + timedelta(seconds=1)]
    assert late, "no query ran after its deadline: the test did not exercise the hold"
    arrivals = gateway_arrivals()
    assert too_many(arrivals) == 0 and busiest_sliding_second(arrivals) <= rate

    # A real callback arriving later for a saved order is a replay: nothing changes.
    order = lost[0]
    first = PaymentCallback.objects.get(order__order_number=order.order_number)
    body = callback_body(order.order_number, first.transaction_id, order.pay_amount)
    again = payment_callback_handle(body=body, signature=payment_sign(body))
    assert again.pk == first.pk and PaymentCallback.objects.filter(order__order_number=order.order_number).count() == 1
