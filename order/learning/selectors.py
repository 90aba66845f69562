"""What the course pages read: my enrolments, a course I may see, its lessons and live classes."""
from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from basic.models import Product
from order.learning.models import Enrollment, Lesson, LiveClass


def courses_of_user(*, user) -> QuerySet[Enrollment]:
    """My courses: the enrolments of ``user``, newest first, with their course."""
    return Enrollment.objects.filter(user=user).select_related("course")


def course_of_student(*, user, course_id: int) -> Product | None:
    """The course, if ``user`` is enrolled in it; None for everyone else (they must not see it)."""
    if not user.is_authenticated:
        return None
    return Product.objects.filter(pk=course_id, enrollments__user=user).first()


def course_lessons(*, course: Product) -> QuerySet[Lesson]:
    return Lesson.objects.filter(course=course)


def course_upcoming_live_classes(*, course: Product, now=None) -> QuerySet[LiveClass]:
    return LiveClass.objects.filter(course=course, start_time__gt=now or timezone.now())
