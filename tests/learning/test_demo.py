"""The demo looks like a school with students: enrolments, a live class soon, months that differ."""
from datetime import timedelta

import pytest
from django.utils import timezone

from basic.cron_runtime.models import TimedTask, TimedTaskStatus
from oms_test.demo import demo_load
from order.learning.models import Enrollment, LiveClass
from order.models import OrderItem, OrderStatus
from order.services.demo import CUSTOMERS
from order.services.finance import current_month, finance_month_compute

pytestmark = pytest.mark.django_db


def test_paid_course_orders_in_the_demo_enrol_their_buyers():
    demo_load()
    bought = set(
        OrderItem.objects.filter(order__order_status=OrderStatus.PAID, product__is_course=True)
        .values_list("order__user__username", "product_id")
    )
    enrolled = set(Enrollment.objects.values_list("user__username", "course_id"))
    assert enrolled == bought
    assert {username for username, _ in enrolled} == {c.username for c in CUSTOMERS}


def test_the_demo_has_a_live_class_starting_soon_with_its_reminder():
    first = demo_load()
    now = timezone.now()
    soon = LiveClass.objects.filter(start_time__gt=now, start_time__lte=now + timedelta(hours=1)).get()
    task = TimedTask.objects.get(key=f"live-class:{soon.pk}")
    assert task.status == TimedTaskStatus.PENDING and task.run_at == soon.start_time - timedelta(minutes=30)
    assert soon.course.lessons.exists()

    again = demo_load()
    assert first["live_classes_made"] > 0 and again["live_classes_made"] == 0
    assert LiveClass.objects.count() == first["live_classes_made"]


def test_the_demo_months_differ_from_each_other():
    demo_load()
    month = current_month()
    figures = []
    for _ in range(6):
        month = (month - timedelta(days=1)).replace(day=1)  # the finished months before this one
        f = finance_month_compute(month)
        figures.append((f["orders_created"], f["orders_paid"], f["revenue"]))
    assert all(created for created, _, _ in figures[:5]), figures  # orders in each month shown
    assert len(set(figures)) == len(figures), figures
