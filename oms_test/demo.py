"""Demo data for `manage.py load_demo`: a shop a newcomer can click through at once.

The project's top layer puts together each app's own part, in one transaction: the shop's
users, products and orders (order/services/demo.py), the payment the simulated gateway took
whose callback was lost (the gateway's own code: the shop reaches it only over HTTP), and the
courses' lessons and live classes (order/learning/services/demo.py). Idempotent.
"""
from __future__ import annotations

from datetime import date, timedelta

from django.db import transaction
from django.utils import timezone

from oms_test.gateway.services import gateway_payment_take
from order.learning.services.demo import demo_courses_load, demo_enrollments_backdate
from order.services.demo import demo_shop_load


def demo_load(*, today: date | None = None) -> dict:
    now = timezone.now()
    with transaction.atomic():
        shop = demo_shop_load(now=now, today=today)
        lost = shop.lost_callback_order
        if lost is not None:
            gateway_payment_take(order_number=lost.order_number, amount=lost.pay_amount, deliver_callback=None,
                                 paid_at=now - timedelta(minutes=10))
        demo_enrollments_backdate(users=shop.customers)
        live_classes_made = demo_courses_load(products=shop.products, now=now)
    return {"users": 1 + len(shop.customers), "products": len(shop.products), "orders_made": shop.orders_made,
            "timed_tasks_made": shop.timed_tasks_made, "live_classes_made": live_classes_made}
