"""Live-class reminders: each enrolled student mailed once (real SMTP on loopback), the reminder
follows the class when it moves, goes when it is deleted, and reaches students who enrol late."""
from __future__ import annotations

import email
import email.header
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from basic.cron_runtime.timed_tasks.dispatcher import timed_tasks_dispatch
from basic.cron_runtime.models import TimedTask, TimedTaskStatus
from order.learning.models import LiveClass, LiveClassReminder
from order.learning.services.live_classes import live_class_reminders_send, live_class_save, live_classes_delete
from tests.factories import make_user
from tests.learning.helpers import enrolled_student, make_course

pytestmark = pytest.mark.django_db

BEFORE = timedelta(minutes=30)


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.LIVE_REMINDER_BEFORE = 1800


@pytest.fixture
def course():
    return make_course(name="直播课程")


@pytest.fixture
def start():
    return timezone.now().replace(microsecond=0) + timedelta(hours=3)


def add_class(course, start, title="周三答疑") -> LiveClass:
    return live_class_save(live_class=LiveClass(course=course, title=title, start_time=start))


def reminder_task(live_class) -> TimedTask:
    return TimedTask.objects.get(key=f"live-class:{live_class.pk}")


def dispatch_at(when):
    with time_machine.travel(when, tick=False):
        return timed_tasks_dispatch()


def subject_of(raw: bytes) -> str:
    return str(email.header.make_header(email.header.decode_header(email.message_from_bytes(raw)["Subject"])))


def test_every_enrolled_student_is_mailed_once_before_the_class(smtp_server, course, start):
    students = [enrolled_student(course, email=f"s{i}@example.com") for i in range(3)]
    enrolled_student(make_course(), email="other-course@example.com")
    make_user(email="never-bought@example.com")
    live = add_class(course, start)

    task = reminder_task(live)
    assert (task.status, task.run_at, task.late_window) == (TimedTaskStatus.PENDING, start - BEFORE, BEFORE)
    dispatch_at(start - BEFORE - timedelta(minutes=1))
    assert smtp_server.recipients() == []

    dispatch_at(start - BEFORE + timedelta(seconds=30))
    assert smtp_server.recipients() == ["s0@example.com", "s1@example.com", "s2@example.com"]
    assert all("周三答疑" in subject_of(raw) for _, raw in smtp_server.received)
    assert reminder_task(live).status == TimedTaskStatus.DONE

    dispatch_at(start - timedelta(minutes=10))
    live_class_reminders_send(live_class_id=live.pk)  # even called again by hand: nobody twice
    assert smtp_server.recipients() == ["s0@example.com", "s1@example.com", "s2@example.com"]
    assert set(LiveClassReminder.objects.filter(sent_time__isnull=False).values_list("user_id", flat=True)) == {
        s.pk for s in students
    }


def test_a_moved_class_moves_its_reminder(smtp_server, course, start):
    enrolled_student(course, email="student@example.com")
    live = add_class(course, start)
    first = reminder_task(live)

    live.start_time = start + timedelta(days=1)
    live_class_save(live_class=live)

    moved = reminder_task(live)
    assert moved.pk == first.pk and moved.run_at == start + timedelta(days=1) - BEFORE
    dispatch_at(start - BEFORE + timedelta(minutes=1))
    assert smtp_server.recipients() == []
    dispatch_at(start + timedelta(days=1) - BEFORE + timedelta(minutes=1))
    assert smtp_server.recipients() == ["student@example.com"]


def test_a_deleted_class_cancels_its_reminder(smtp_server, course, start):
    enrolled_student(course, email="student@example.com")
    live = add_class(course, start)
    key = f"live-class:{live.pk}"

    live_classes_delete(live_classes=LiveClass.objects.filter(pk=live.pk))

    assert TimedTask.objects.get(key=key).status == TimedTaskStatus.CANCELLED
    dispatch_at(start - BEFORE + timedelta(minutes=1))
    assert smtp_server.recipients() == []


def test_a_student_who_enrols_after_scheduling_still_gets_the_reminder(smtp_server, course, start):
    enrolled_student(course, email="early@example.com")
    add_class(course, start)

    enrolled_student(course, email="late@example.com")

    dispatch_at(start - BEFORE + timedelta(minutes=1))
    assert smtp_server.recipients() == ["early@example.com", "late@example.com"]


def test_a_refused_mail_is_retried_for_that_student_only(smtp_server, course, start, settings):
    for name in ("ok", "full"):
        enrolled_student(course, email=f"{name}@example.com")
    live = add_class(course, start)
    smtp_server.refuse = {"full@example.com": "452 4.2.2 mailbox full"}

    dispatch_at(start - BEFORE + timedelta(seconds=10))

    task = reminder_task(live)
    assert smtp_server.recipients() == ["ok@example.com"]
    assert task.status == TimedTaskStatus.PENDING and task.attempts == 1 and "full@example.com" in task.last_error
    smtp_server.refuse = {}
    dispatch_at(task.next_attempt_at + timedelta(seconds=1))
    assert smtp_server.recipients() == ["full@example.com", "ok@example.com"]  # each exactly once
    assert reminder_task(live).status == TimedTaskStatus.DONE


def test_no_reminder_for_a_class_that_has_started_or_when_disabled(course, settings):
    enrolled_student(course, email="student@example.com")
    past = add_class(course, timezone.now() - timedelta(minutes=5))
    assert not TimedTask.objects.filter(key=f"live-class:{past.pk}").exists()

    settings.LIVE_REMINDER_BEFORE = 0
    off = add_class(course, timezone.now() + timedelta(hours=3))
    assert not TimedTask.objects.filter(key=f"live-class:{off.pk}").exists()


def test_staff_add_move_and_delete_live_classes_in_the_admin(admin_client, course, start):
    local = timezone.localtime(start)

    def post(url, when):
        return admin_client.post(url, {
            "course": course.pk, "title": "后台添加的直播",
            "start_time_0": f"{when:%Y-%m-%d}", "start_time_1": f"{when:%H:%M:%S}",
        })

    assert post("/admin/learning/liveclass/add/", local).status_code == 302
    live = LiveClass.objects.get(title="后台添加的直播")
    assert reminder_task(live).run_at == start - BEFORE

    assert post(f"/admin/learning/liveclass/{live.pk}/change/", local + timedelta(hours=2)).status_code == 302
    assert reminder_task(live).run_at == start + timedelta(hours=2) - BEFORE

    assert admin_client.post(f"/admin/learning/liveclass/{live.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not LiveClass.objects.exists()
    assert TimedTask.objects.get(key=f"live-class:{live.pk}").status == TimedTaskStatus.CANCELLED


def test_deleting_several_classes_in_the_admin_cancels_their_reminders(admin_client, course, start):
    classes = [add_class(course, start + timedelta(days=n), title=f"直播 {n}") for n in range(2)]

    response = admin_client.post("/admin/learning/liveclass/", {
        "action": "delete_selected", "_selected_action": [c.pk for c in classes], "post": "yes",
    })

    assert response.status_code == 302 and not LiveClass.objects.exists()
    assert set(TimedTask.objects.values_list("status", flat=True)) == {TimedTaskStatus.CANCELLED}


def test_the_admin_pages_of_courses_keep_their_old_addresses(admin_client, course, start):
    live = add_class(course, start)
    response = admin_client.get(f"/admin/order/liveclass/{live.pk}/change/?_changelist_filters=x")
    assert (response.status_code, response["Location"]) == (
        302, f"/admin/learning/liveclass/{live.pk}/change/?_changelist_filters=x")
    assert admin_client.get("/admin/order/enrollment/", follow=True).redirect_chain == [("/admin/learning/enrollment/", 302)]
