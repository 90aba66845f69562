"""Live classes and their reminder mail to every enrolled student.

The admin's ``live_class_save`` / ``live_classes_delete`` change a class and its reminder (a timed
task) in one transaction; ``live_class_reminders_send`` mails everyone enrolled when it runs, once
per student and class. docs/learning.md ("Live classes and their reminders") has the whole story.
"""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.utils import timezone
from loguru import logger

from basic.cron_runtime.timed_tasks.services import timed_task_cancel, timed_task_schedule, timed_tasks_cancel
from basic.services.mail_batch import MailBatchResult, PendingMail, claimed_mails_send, display_name
from order.learning.models import Enrollment, LiveClass, LiveClassReminder

REMINDER_TASK = "order.learning.timed.live_class_reminder"


class LiveClassRemindersFailed(Exception):
    """Some students' reminders could not be mailed; the task is retried for them."""


def live_class_reminder_key(live_class_id: int) -> str:
    return f"live-class:{live_class_id}"


def live_class_reminder_schedule(*, live_class: LiveClass, now=None):
    """(Re)schedule the class's reminder in the caller's transaction; None when there is none to send."""
    before = timedelta(seconds=settings.LIVE_REMINDER_BEFORE)
    key = live_class_reminder_key(live_class.pk)
    if not before or live_class.start_time <= (now or timezone.now()):
        timed_task_cancel(key)  # disabled, or the class has started: nothing to remind of
        return None
    return timed_task_schedule(
        REMINDER_TASK, live_class.start_time - before, key=key, kwargs={"live_class_id": live_class.pk},
        late_window=before, name=f"live class reminder {live_class.pk}",
    )


def live_class_save(*, live_class: LiveClass) -> LiveClass:
    """Add or change a live class; its reminder follows its start time."""
    with transaction.atomic():
        live_class.save()
        live_class_reminder_schedule(live_class=live_class)
    return live_class


def live_classes_delete(*, live_classes: QuerySet[LiveClass]) -> int:
    """Delete live classes and cancel their reminders, together."""
    with transaction.atomic():
        ids = list(live_classes.values_list("pk", flat=True))
        timed_tasks_cancel(live_class_reminder_key(pk) for pk in ids)
        LiveClass.objects.filter(pk__in=ids).delete()
    return len(ids)


def _reminder_message(live_class: LiveClass, *, email: str, name: str, now) -> EmailMessage:
    minutes = max(1, round((live_class.start_time - now).total_seconds() / 60))
    start = timezone.localtime(live_class.start_time)
    body = render_to_string("order/email/live_class_reminder.txt", {
        "name": name, "live_class": live_class, "course": live_class.course, "start": start, "minutes": minutes,
        "site_name": "oms_test",
    })
    return EmailMessage(subject=f"直播提醒：「{live_class.title}」{start:%H:%M} 开始", body=body, to=[email])


def live_class_reminders_send(*, live_class_id: int, now=None) -> MailBatchResult | None:
    """Mail every student enrolled now who has not had this class's reminder; None if there is no class to remind of."""
    now = now or timezone.now()
    live_class = LiveClass.objects.select_related("course").filter(pk=live_class_id).first()
    if live_class is None or live_class.start_time <= now:
        logger.info("live-class:{}: no reminder, the class is {}", live_class_id,
                    "gone" if live_class is None else "already under way")
        return None
    students = {
        user_id: (email.strip(), display_name(first_name, last_name, username))
        for user_id, email, username, first_name, last_name in Enrollment.objects.filter(
            course_id=live_class.course_id, user__is_active=True
        ).values_list("user_id", "user__email", "user__username", "user__first_name", "user__last_name")
        if email.strip()
    }
    LiveClassReminder.objects.bulk_create(
        (LiveClassReminder(live_class=live_class, user_id=user_id) for user_id in students),
        ignore_conflicts=True, batch_size=500,
    )
    unsent = LiveClassReminder.objects.filter(live_class=live_class, user_id__in=students, sent_time__isnull=True)
    pending = [
        PendingMail(record_id, students[user_id][0],
                    lambda e=students[user_id][0], n=students[user_id][1]: _reminder_message(
                        live_class, email=e, name=n, now=timezone.now()))
        for record_id, user_id in unsent.values_list("pk", "user_id")
    ]
    result = claimed_mails_send(model=LiveClassReminder, pending=pending, log_name=live_class_reminder_key(live_class_id))
    if not result.ok:
        raise LiveClassRemindersFailed(result.failure_summary("live-class reminders"))
    logger.info("live-class:{}: {} reminders mailed, {} students enrolled", live_class_id, len(result.sent), len(students))
    return result
