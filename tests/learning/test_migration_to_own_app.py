"""A database migrated before courses became an app of their own keeps its lessons, live classes,
enrolments, reminders and their scheduled tasks, and the points ledger keeps its orders without
the foreign key to them."""
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection
from django.utils import timezone

from basic.cron_runtime.models import TimedTask, TimedTaskStatus
from basic.cron_runtime.scheduling.registry import import_callable
from basic.models import PointsEntry, PointsReason
from order.learning import timed as learning_timed
from order.learning.models import Enrollment, Lesson, LiveClass, LiveClassReminder
from order.services.placement import LineRequest, order_place
from tests.factories import make_user
from tests.helpers import migrate_to
from tests.learning.helpers import make_course

BEFORE_THE_MOVE = [("basic", "0004_cron_models_moved_to_cron_runtime"), ("order", "0007_maintained_totals"),
                   ("learning", None)]
MOVED = ["lesson", "liveclass", "enrollment", "liveclassreminder"]
OLD_REMINDER_PATH = "order.timed.live_class_reminder"


def _foreign_keys(table: str) -> dict:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return {tuple(c["columns"]): c["foreign_key"] for c in constraints.values() if c["foreign_key"]}


def _insert(table: str, row: dict) -> None:
    columns = ", ".join(connection.ops.quote_name(column) for column in row)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(row))})", list(row.values()))


@pytest.mark.django_db(transaction=True)
def test_courses_and_points_survive_the_move(client):
    staff = make_user(staff=True)
    student = make_user(points=500, password="pw-123456")
    now = timezone.now().replace(microsecond=0)
    try:
        migrate_to(BEFORE_THE_MOVE)
        # As today's main leaves it: the points ledger's order is a foreign key, the content types
        # (and the permissions granted on them) are the order app's.
        assert _foreign_keys("basic_pointsentry")[("order_id",)] == ("order_order", "id")
        ContentType.objects.filter(app_label="learning", model__in=MOVED).update(app_label="order")
        ContentType.objects.clear_cache()
        staff.user_permissions.add(Permission.objects.get(content_type__app_label="order", codename="change_liveclass"))

        course = make_course(name="Python 入门课程")
        order = order_place(user=student, lines=[LineRequest(course.pk, 1)], points=200)
        start = now + timedelta(hours=2)
        _insert("order_lesson", {"id": 7, "position": 1, "title": "数据类型", "body": "列表与字典", "course_id": course.pk})
        _insert("order_liveclass", {"id": 8, "title": "直播答疑", "start_time": start, "created_time": now,
                                    "course_id": course.pk})
        _insert("order_enrollment", {"id": 9, "created_time": now, "course_id": course.pk, "order_id": order.pk,
                                     "user_id": student.pk})
        _insert("order_liveclassreminder", {
            "id": 10, "sent_time": now, "last_error": "", "attempts": 1, "claim_token": "", "claimed_at": None,
            "created_time": now, "live_class_id": 8, "user_id": student.pk})
        # Stored as today's code scheduled it (today's code base could still call it), plus a failed
        # one that staff may retry.
        task = TimedTask.objects.create(func_path=OLD_REMINDER_PATH, run_at=start - timedelta(minutes=30),
                                        next_attempt_at=start - timedelta(minutes=30), key="live-class:8",
                                        kwargs={"live_class_id": 8}, name="live class reminder 8")
        failed = TimedTask.objects.create(func_path=OLD_REMINDER_PATH, run_at=now, next_attempt_at=now,
                                          status=TimedTaskStatus.FAILED, finish_time=now, attempts=3,
                                          kwargs={"live_class_id": 8})

        migrate_to()

        assert list(Lesson.objects.values_list("id", "course", "title")) == [(7, course.pk, "数据类型")]
        assert list(LiveClass.objects.values_list("id", "start_time")) == [(8, start)]
        enrolment = Enrollment.objects.select_related("order").get()
        assert (enrolment.pk, enrolment.user, enrolment.course, enrolment.order) == (9, student, course, order)
        assert list(Enrollment.objects.filter(order=order)) == [enrolment]  # the foreign key to order still joins
        reminder = LiveClassReminder.objects.get()
        assert (reminder.pk, reminder.live_class_id, reminder.user, reminder.sent_time) == (10, 8, student, now)
        # The scheduled reminder names the function where it lives now, and that resolves.
        assert {t.func_path for t in TimedTask.objects.filter(pk__in=[task.pk, failed.pk])} == {
            "order.learning.timed.live_class_reminder"}
        task.refresh_from_db()
        assert import_callable(task.func_path) is learning_timed.live_class_reminder
        assert not TimedTask.objects.filter(func_path=OLD_REMINDER_PATH).exists()
        # The student's course page shows what was there before.
        client.force_login(student)
        page = client.get(f"/courses/{course.pk}/").content.decode()
        assert "数据类型" in page and "直播答疑" in page
        # Permissions granted on the old content types still hold.
        ContentType.objects.clear_cache()
        assert staff.__class__.objects.get(pk=staff.pk).has_perm("learning.change_liveclass")
        # The ledger keeps its order ids; only the foreign key constraint is gone.
        deduction = PointsEntry.objects.get(reason=PointsReason.ORDER_DEDUCT)
        assert (deduction.order_id, deduction.delta) == (order.pk, -200)
        assert ("order_id",) not in _foreign_keys("basic_pointsentry")
        with pytest.raises(IntegrityError):  # the unique (order_id, reason) index is still there
            PointsEntry.objects.create(user=student, delta=-1, reason=PointsReason.ORDER_DEDUCT, order_id=order.pk)
    finally:
        ContentType.objects.clear_cache()
        migrate_to()
