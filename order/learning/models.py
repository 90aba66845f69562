"""Lessons, live classes, enrolments and live-class reminders: a product with is_course is a course.

The tables keep the names they had when these models lived in the order app (``db_table``), so a
database from before the move keeps its rows (migration ``learning.0001``).
"""
from django.conf import settings
from django.db import models
from django.utils import timezone

from basic.models.mail import ClaimedMail
from order.models import Order


class Lesson(models.Model):
    """One lesson of a course, shown to its students in order."""

    course = models.ForeignKey("basic.Product", on_delete=models.CASCADE, related_name="lessons",
                               limit_choices_to={"is_course": True})
    position = models.PositiveSmallIntegerField("顺序", default=1)
    title = models.CharField("标题", max_length=200)
    body = models.TextField("内容", blank=True)

    class Meta:
        db_table = "order_lesson"
        ordering = ["course", "position", "id"]

    def __str__(self) -> str:
        return self.title


class LiveClass(models.Model):
    """A live session of a course; its enrolled students are mailed a reminder before it starts."""

    course = models.ForeignKey("basic.Product", on_delete=models.CASCADE, related_name="live_classes",
                               limit_choices_to={"is_course": True})
    title = models.CharField("标题", max_length=200)
    start_time = models.DateTimeField("开始时间")
    created_time = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "order_liveclass"
        ordering = ["start_time", "id"]
        indexes = [models.Index(fields=["course", "start_time"], name="live_class_course_start")]

    def __str__(self) -> str:
        return self.title


class Enrollment(models.Model):
    """A student's access to a course, created in the transaction that marks their order paid."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="enrollments")
    course = models.ForeignKey("basic.Product", on_delete=models.PROTECT, related_name="enrollments")
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="enrollments")
    created_time = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "order_enrollment"
        ordering = ["-created_time", "-id"]
        constraints = [models.UniqueConstraint(fields=["user", "course"], name="one_enrollment_per_user_course")]

    def __str__(self) -> str:
        return f"{self.user} → {self.course}"


class LiveClassReminder(ClaimedMail):
    """The reminder mail of one live class to one student: at most one, whoever sends it."""

    live_class = models.ForeignKey(LiveClass, on_delete=models.CASCADE, related_name="reminders")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="live_class_reminders")

    class Meta:
        db_table = "order_liveclassreminder"
        constraints = [models.UniqueConstraint(fields=["live_class", "user"], name="one_live_reminder_per_student")]

    def __str__(self) -> str:
        return f"reminder of {self.live_class} to {self.user}"
