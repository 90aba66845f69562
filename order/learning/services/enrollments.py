"""Enrolments: paying for a course opens it to the student.

``enrollments_create_for_order`` runs inside the transaction that marks the order paid (the
order app sends ``order_paid`` there), so the order is paid if and only if its courses are open.
One enrolment per student and course (a database constraint): buying a course twice, or a
replayed callback, adds nothing.
"""
from __future__ import annotations

from order.learning.models import Enrollment
from order.models import Order, OrderItem


def enrollments_create_for_order(*, order: Order) -> int:
    """Enrol the order's user in every course the order bought; returns how many enrolments are new."""
    course_ids = set(
        OrderItem.objects.filter(order=order, product__is_course=True).values_list("product_id", flat=True)
    )
    if not course_ids:
        return 0
    already = set(
        Enrollment.objects.filter(user_id=order.user_id, course_id__in=course_ids).values_list("course_id", flat=True)
    )
    # ignore_conflicts: a concurrent payment of another order for the same course may enrol first.
    Enrollment.objects.bulk_create(
        [Enrollment(user_id=order.user_id, course_id=course_id, order=order) for course_id in course_ids - already],
        ignore_conflicts=True,
    )
    return len(course_ids - already)


def enrollments_create_on_payment(sender, *, order: Order, **kwargs) -> None:
    """``order_paid`` receiver."""
    enrollments_create_for_order(order=order)
