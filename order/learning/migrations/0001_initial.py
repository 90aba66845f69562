"""Lessons, live classes, enrolments and live-class reminders, moved here from the ``order`` app.

State only: the tables were created by ``order``'s migrations (0004) and keep their names
(``db_table``), so a database migrated before the move keeps every row. A fresh database gets
them from ``order.0004`` in the same way; ``order.0008`` then takes them out of order's state.
"""
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

MOVED_MODELS = ["lesson", "liveclass", "enrollment", "liveclassreminder"]


def content_types_follow_the_models(apps, schema_editor):
    """Keep the content types (and the permissions granted on them): order.lesson → learning.lesson."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    for model in MOVED_MODELS:
        if not ContentType.objects.using(db).filter(app_label="learning", model=model).exists():
            ContentType.objects.using(db).filter(app_label="order", model=model).update(app_label="learning")


def content_types_back_to_order(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    for model in MOVED_MODELS:
        if not ContentType.objects.using(db).filter(app_label="order", model=model).exists():
            ContentType.objects.using(db).filter(app_label="learning", model=model).update(app_label="order")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("basic", "0003_jobs_birthday_claim"),
        ("order", "0007_maintained_totals"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="Lesson",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("position", models.PositiveSmallIntegerField(default=1, verbose_name="顺序")),
                        ("title", models.CharField(max_length=200, verbose_name="标题")),
                        ("body", models.TextField(blank=True, verbose_name="内容")),
                        ("course", models.ForeignKey(limit_choices_to={"is_course": True}, on_delete=django.db.models.deletion.CASCADE, related_name="lessons", to="basic.product")),
                    ],
                    options={"db_table": "order_lesson", "ordering": ["course", "position", "id"]},
                ),
                migrations.CreateModel(
                    name="LiveClass",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("title", models.CharField(max_length=200, verbose_name="标题")),
                        ("start_time", models.DateTimeField(verbose_name="开始时间")),
                        ("created_time", models.DateTimeField(auto_now_add=True)),
                        ("course", models.ForeignKey(limit_choices_to={"is_course": True}, on_delete=django.db.models.deletion.CASCADE, related_name="live_classes", to="basic.product")),
                    ],
                    options={
                        "db_table": "order_liveclass",
                        "ordering": ["start_time", "id"],
                        "indexes": [models.Index(fields=["course", "start_time"], name="live_class_course_start")],
                    },
                ),
                migrations.CreateModel(
                    name="LiveClassReminder",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("sent_time", models.DateTimeField(blank=True, null=True)),
                        ("last_error", models.TextField(blank=True)),
                        ("attempts", models.PositiveSmallIntegerField(default=0)),
                        ("claim_token", models.CharField(blank=True, default="", max_length=32)),
                        ("claimed_at", models.DateTimeField(blank=True, null=True)),
                        ("created_time", models.DateTimeField(auto_now_add=True)),
                        ("live_class", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="reminders", to="learning.liveclass")),
                        ("user", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="live_class_reminders", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "db_table": "order_liveclassreminder",
                        "constraints": [models.UniqueConstraint(fields=("live_class", "user"), name="one_live_reminder_per_student")],
                    },
                ),
                migrations.CreateModel(
                    name="Enrollment",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("created_time", models.DateTimeField(default=django.utils.timezone.now)),
                        ("course", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="enrollments", to="basic.product")),
                        ("order", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="enrollments", to="order.order")),
                        ("user", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="enrollments", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "db_table": "order_enrollment",
                        "ordering": ["-created_time", "-id"],
                        "constraints": [models.UniqueConstraint(fields=("user", "course"), name="one_enrollment_per_user_course")],
                    },
                ),
            ],
        ),
        migrations.RunPython(content_types_follow_the_models, content_types_back_to_order),
    ]
