"""The shop's part of the demo data (`manage.py load_demo`, oms_test/demo.py): users, products, orders.

Idempotent, and made through the real services (then back-dated), so stock, coupons and points
stay consistent with the orders. What it contains: docs/learning.md ("Demo data").
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from basic.cron_runtime.models import TimedTask, TimedTaskStatus
from basic.cron_runtime.timed_tasks.services import timed_task_run_job_once, timed_task_schedule
from basic.models import Coupon, CouponStatus, PointsReason, Product, Profile
from basic.services.points import points_change
from order.models import Order, OrderStatus, order_timeout
from order.services.cancellation import CANCEL_COLUMNS, orders_cancel_and_restore
from order.services.gateway_query import gateway_query_schedule
from order.services.placement import LineRequest, order_place
from order.services.reminders import REMINDER_TASK, order_reminder_cancel
from order.services.totals import product_sales_count_paid
from order.signals import order_paid


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    note: str


STAFF = DemoLogin("admin", "admin-demo-123", "staff: cron dashboard, finance, admin")
CUSTOMERS = [
    DemoLogin("alice", "alice-demo-123", "customer, birthday today"),
    DemoLogin("bob", "bob-demo-123", "customer, born 29 February"),
    DemoLogin("carol", "carol-demo-123", "customer"),
]
PRODUCTS = [
    ("Python 入门课程", Decimal("199.00"), None, True),
    ("Django 实战课程", Decimal("299.00"), None, True),
    ("数据库性能课程", Decimal("259.00"), None, True),
    ("机械键盘", Decimal("399.00"), 50, False),
    ("编程马克杯", Decimal("39.90"), 200, False),
    ("限量 T 恤", Decimal("89.00"), 30, False),
]


def _user(login: DemoLogin, *, staff: bool, birthday: date | None, email: str):
    user, created = get_user_model().objects.get_or_create(
        username=login.username, defaults={"email": email, "is_staff": staff, "is_superuser": staff}
    )
    if created:
        user.set_password(login.password)
        user.save(update_fields=["password"])
    profile, _ = Profile.objects.get_or_create(user=user, defaults={"mobile": "13800000000"})
    if profile.birthday != birthday:  # "birthday today" stays true whenever the demo is loaded again
        profile.birthday = birthday
        profile.save(update_fields=["birthday"])
    return user, profile


def _backdate(order: Order, created) -> None:
    Order.objects.filter(pk=order.pk).update(created_time=created)
    order.created_time = created


def _cancel_rows(order: Order) -> list[tuple]:
    return list(Order.objects.filter(pk=order.pk).values_list(*CANCEL_COLUMNS))


# Six months of a growing shop: each month's lines differ, so the finance page's months differ
# too. A line is (product index, quantity, outcome, points used, coupon amount).
MONTH_PLANS = {
    5: [(0, 1, "paid", 0, None), (4, 2, "cancelled", 0, None)],
    4: [(5, 1, "paid", 250, None), (4, 1, "paid", 0, None), (3, 1, "timeout", 0, None)],
    3: [(3, 1, "paid", 0, Decimal("15.00")), (5, 2, "paid", 0, None), (4, 3, "paid", 0, None), (3, 1, "cancelled", 0, None)],
    2: [(4, 2, "paid", 0, None), (3, 1, "paid", 0, None), (4, 2, "timeout", 0, None), (5, 1, "cancelled", 0, None)],
    1: [(3, 2, "paid", 100, Decimal("30.00")), (5, 1, "paid", 0, None), (4, 4, "paid", 0, None),
        (5, 3, "paid", 0, None), (3, 1, "timeout", 0, None)],
    0: [(4, 1, "paid", 0, None), (4, 1, "cancelled", 0, None), (3, 1, "timeout", 0, None)],
}


def _month_moment(now, months_ago: int, customer_index: int, line: int):
    """A moment in the month ``months_ago`` before now (TIME_ZONE), spread over days and hours, in the past."""
    local = timezone.localtime(now)
    year, month = divmod(local.year * 12 + local.month - 1 - months_ago, 12)
    day = 2 + (customer_index * 7 + months_ago * 3 + line * 4) % 24
    moment = local.replace(year=year, month=month + 1, day=day, hour=9 + (line * 3 + customer_index) % 12,
                           minute=(customer_index * 17 + line * 11) % 60, second=0, microsecond=0)
    return min(moment, now - timedelta(hours=2 + line))


def _pay_backdated(order: Order, paid_time) -> None:
    """Paid the way a callback pays (reminder cancelled, courses opened), at a past moment."""
    Order.objects.filter(pk=order.pk).update(order_status=OrderStatus.PAID, paid_time=paid_time)
    product_sales_count_paid(order_id=order.pk, user_id=order.user_id)
    order_reminder_cancel(order_number=order.order_number)
    order_paid.send(sender=Order, order=order)


def _demo_orders(customer_index: int, user, products, now) -> tuple[int, Order | None]:
    """Six months of orders in every status for one customer, then today's unpaid ones; how many were
    made, and the order whose payment the gateway took but whose callback was lost (customer 0's)."""
    made = 0
    for months_ago, plan in sorted(MONTH_PLANS.items(), reverse=True):
        for line, (product, quantity, outcome, points, coupon_amount) in enumerate(plan):
            if customer_index and line % 3 == customer_index:
                continue  # the customers differ from each other as well
            coupon = None
            if coupon_amount:
                coupon = Coupon.objects.create(user=user, amount=coupon_amount, valid_until=now + timedelta(days=30))
            order = order_place(user=user, lines=[LineRequest(products[product].pk, quantity)],
                                coupon_id=coupon.pk if coupon else None, points=points)
            _backdate(order, _month_moment(now, months_ago, customer_index, line))
            if outcome == "paid":
                _pay_backdated(order, order.created_time + timedelta(minutes=5))
            else:
                cancelled = outcome == "cancelled"
                orders_cancel_and_restore(
                    rows=_cancel_rows(order),
                    new_status=OrderStatus.CANCELLED if cancelled else OrderStatus.TIMEOUT_CANCELLED,
                    now=order.created_time + (timedelta(minutes=3) if cancelled else order_timeout()),
                )
            made += 1
    mug = products[4]
    # Unpaid and already past the deadline: the site shows 超时取消 before any job runs.
    expired = order_place(user=user, lines=[LineRequest(mug.pk, 1)])
    _backdate(expired, now - order_timeout() - timedelta(minutes=20))
    # Unpaid with time left, using a coupon and points: 去支付.
    coupon = Coupon.objects.filter(user=user, status=CouponStatus.UNUSED).first()
    order_place(
        user=user,
        lines=[LineRequest(products[1].pk, 1)],
        coupon_id=coupon.pk if coupon else None,
        points=500,
    )
    order_place(user=user, lines=[LineRequest(products[2].pk, 1)])
    if customer_index == 0:
        return made + 4, _demo_lost_callback_order(user, products, now)
    return made + 3, None


def _demo_lost_callback_order(user, products, now) -> Order:
    """An order 5 minutes from its deadline, which the gateway is to have been paid for 10 minutes ago
    with its callback lost (oms_test/demo.py takes that payment): the shop still shows 去支付. Its
    gateway query is due in 3 minutes (2 minutes before its deadline), and its paid answer saves the
    order; 我已支付，查询结果 asks at once."""
    order = order_place(user=user, lines=[LineRequest(products[0].pk, 1)])
    _backdate(order, now - order_timeout() + timedelta(minutes=5))
    order.refresh_from_db()
    gateway_query_schedule(order=order)  # again, for the backdated deadline
    return order


def _demo_timed_tasks(customer, now) -> int:
    """A done, a failed and a pending timed task beside the orders' own reminders (made once)."""
    if TimedTask.objects.filter(key__startswith="demo:").exists():
        return 0
    yesterday_3am = timezone.localtime(now).replace(hour=3, minute=0, second=0, microsecond=0) - timedelta(days=1)
    done = timed_task_run_job_once(job_name="monthly_finance", run_at=yesterday_3am, requested_by="admin")
    TimedTask.objects.filter(pk=done.pk).update(
        key="demo:finance-rerun", status=TimedTaskStatus.DONE, attempts=1, executed_time=yesterday_3am,
        finish_time=yesterday_3am + timedelta(seconds=2), host="web-1")
    expired = Order.objects.filter(user=customer, order_status=OrderStatus.UNPAID).order_by("created_time").first()
    failed = timed_task_schedule(
        REMINDER_TASK, now - timedelta(hours=1, minutes=30), key="demo:reminder-failed",
        args=[expired.order_number if expired else "0"], name="unpaid reminder (mail server down)")
    TimedTask.objects.filter(pk=failed.pk).update(
        status=TimedTaskStatus.FAILED, attempts=3, max_attempts=3, executed_time=now - timedelta(hours=1, minutes=23),
        finish_time=now - timedelta(hours=1, minutes=23), host="web-1",
        last_error="SMTPServerDisconnected: Connection unexpectedly closed")
    tomorrow_3am = yesterday_3am + timedelta(days=2)
    pending = timed_task_run_job_once(job_name="refresh_home_cache", run_at=tomorrow_3am, requested_by="admin")
    TimedTask.objects.filter(pk=pending.pk).update(key="demo:cache-warm")
    return 3


@dataclass
class DemoShop:
    """What ``demo_shop_load`` made or found, for the other apps' parts of the demo."""

    now: object
    customers: list
    products: list
    orders_made: int
    timed_tasks_made: int
    lost_callback_order: Order | None  # None when the demo was loaded before


def demo_shop_load(*, now, today: date | None = None) -> DemoShop:
    today = today or timezone.localdate()
    with transaction.atomic():
        _user(STAFF, staff=True, birthday=None, email="admin@example.com")
        leap_birthday = date(1996, 2, 29)
        # 1996 is a leap year, so "born today" works on 29 February too.
        birthdays = {"alice": today.replace(year=1996), "bob": leap_birthday, "carol": date(1990, 7, 15)}
        customers = [
            _user(c, staff=False, birthday=birthdays[c.username], email=f"{c.username}@example.com")[0] for c in CUSTOMERS
        ]
        products = [
            Product.objects.get_or_create(name=name, defaults={"price": price, "stock": stock, "is_course": is_course})[0]
            for name, price, stock, is_course in PRODUCTS
        ]
        orders_made, lost_callback_order = 0, None
        for index, user in enumerate(customers):
            if Order.objects.filter(user=user).exists():
                continue  # demo already loaded for this user: idempotent
            points_change(user=user, delta=2000, reason=PointsReason.GRANT)
            for amount, days in ((Decimal("20.00"), 30), (Decimal("50.00"), 60)):
                Coupon.objects.create(user=user, amount=amount, valid_until=now + timedelta(days=days))
            made, lost = _demo_orders(index, user, products, now)
            orders_made += made
            lost_callback_order = lost_callback_order or lost
        timed_tasks_made = _demo_timed_tasks(customers[0], now)
    return DemoShop(now=now, customers=customers, products=products, orders_made=orders_made,
                    timed_tasks_made=timed_tasks_made, lost_callback_order=lost_callback_order)
