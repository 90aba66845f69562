"""Demo data for `manage.py load_demo`: a shop a newcomer can click through at once.

Idempotent: users, products and coupons are matched by natural keys; the demo orders
are made once (a second run finds them and leaves everything as it is). Orders are
placed and cancelled through the real services, then back-dated, so stock, coupons and
points stay consistent with them. Placing them schedules their unpaid-order reminders (still
pending for the unpaid ones, cancelled for the others); a done, a failed and a pending timed
task are added beside them for the staff page.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from basic.cron_runtime.models import TimedTask, TimedTaskStatus
from basic.cron_runtime.timed_tasks import timed_task_run_job_once, timed_task_schedule
from basic.models import Coupon, CouponStatus, PointsReason, Product, Profile
from basic.services.points import points_change
from order.models import Order, OrderStatus, order_timeout
from order.services.cancellation import CANCEL_COLUMNS, orders_cancel_and_restore
from order.services.placement import LineRequest, order_place
from order.services.reminders import REMINDER_TASK, order_reminder_cancel


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


def _demo_orders(user, products, now) -> int:
    """Orders over the last three months in every status for one customer."""
    course, keyboard, mug = products[0], products[3], products[4]
    made = 0
    for months_ago in (2, 1, 0):
        base = now - timedelta(days=30 * months_ago + 3)
        paid = order_place(user=user, lines=[LineRequest(course.pk, 1)])
        _backdate(paid, base)
        Order.objects.filter(pk=paid.pk).update(order_status=OrderStatus.PAID, paid_time=base + timedelta(minutes=5))
        order_reminder_cancel(order_number=paid.order_number)  # as the payment callback does
        cancelled = order_place(user=user, lines=[LineRequest(mug.pk, 2)])
        _backdate(cancelled, base + timedelta(hours=1))
        orders_cancel_and_restore(
            rows=_cancel_rows(cancelled), new_status=OrderStatus.CANCELLED, now=base + timedelta(hours=1, minutes=3)
        )
        timed_out = order_place(user=user, lines=[LineRequest(keyboard.pk, 1)])
        _backdate(timed_out, base + timedelta(hours=2))
        orders_cancel_and_restore(
            rows=_cancel_rows(timed_out),
            new_status=OrderStatus.TIMEOUT_CANCELLED,
            now=timed_out.created_time + order_timeout(),
        )
        made += 3
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
    return made + 3


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


def demo_load(*, today: date | None = None) -> dict:
    now = timezone.now()
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
        orders_made = 0
        for user in customers:
            if Order.objects.filter(user=user).exists():
                continue  # demo already loaded for this user: idempotent
            points_change(user=user, delta=2000, reason=PointsReason.GRANT)
            for amount, days in ((Decimal("20.00"), 30), (Decimal("50.00"), 60)):
                Coupon.objects.create(user=user, amount=amount, valid_until=now + timedelta(days=days))
            orders_made += _demo_orders(user, products, now)
        timed_tasks_made = _demo_timed_tasks(customers[0], now)
    return {"users": 1 + len(customers), "products": len(products), "orders_made": orders_made,
            "timed_tasks_made": timed_tasks_made}
