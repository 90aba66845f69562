"""Live-class reminders already scheduled name the function where it lives now.

A timed task stores its function's dotted path; the reminder moved from ``order.timed`` to
``order.learning.timed`` with the courses, and the order app cannot keep an alias there (it never
imports the courses). Every stored task of the old path, whatever its status (a failed one may
be retried), is rewritten, and back on reverse. Stop the dispatchers (cron, ``cronjobs serve``,
Celery workers) while migrating, as for any release: an old one would fail the new path.
"""
from django.db import migrations

OLD_PATH = "order.timed.live_class_reminder"
NEW_PATH = "order.learning.timed.live_class_reminder"


def rename(old: str, new: str):
    def forwards(apps, schema_editor):
        TimedTask = apps.get_model("cron_runtime", "TimedTask")
        TimedTask.objects.using(schema_editor.connection.alias).filter(func_path=old).update(func_path=new)
    return forwards


class Migration(migrations.Migration):

    dependencies = [
        ("learning", "0001_initial"),
        ("cron_runtime", "0003_timed_task"),
    ]

    operations = [migrations.RunPython(rename(OLD_PATH, NEW_PATH), rename(NEW_PATH, OLD_PATH))]
