"""The run records, leases and alert states, moved here from the ``basic`` app.

State only: the tables were created by ``basic``'s migrations and keep their names
(``db_table``), so a database migrated before the move keeps every row. A fresh
database gets them from ``basic.0001``/``0002`` in the same way.
"""
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

MOVED_MODELS = ["jobrun", "joblock", "jobalertstate"]


def content_types_follow_the_models(apps, schema_editor):
    """Keep the content types (and the permissions granted on them): basic.jobrun → cron_runtime.jobrun."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    for model in MOVED_MODELS:
        if not ContentType.objects.using(db).filter(app_label="cron_runtime", model=model).exists():
            ContentType.objects.using(db).filter(app_label="basic", model=model).update(app_label="cron_runtime")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("basic", "0003_jobs_birthday_claim"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="JobRun",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("job", models.CharField(max_length=100)),
                        ("trigger", models.CharField(choices=[("cron", "cron"), ("manual", "manual"), ("catch-up", "catch-up"), ("ticker", "ticker"), ("celery", "celery"), ("timed", "timed")], max_length=10)),
                        ("host", models.CharField(max_length=255)),
                        ("pid", models.PositiveIntegerField()),
                        ("started_at", models.DateTimeField()),
                        ("finished_at", models.DateTimeField(blank=True, null=True)),
                        ("outcome", models.CharField(choices=[("running", "running"), ("succeeded", "succeeded"), ("failed", "failed"), ("skipped", "skipped"), ("terminated", "terminated")], default="running", max_length=10)),
                        ("items_processed", models.PositiveIntegerField(default=0)),
                        ("message", models.TextField(blank=True)),
                        ("traceback", models.TextField(blank=True)),
                        ("triggered_by", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "db_table": "basic_jobrun",
                        "ordering": ["-started_at", "-id"],
                        "indexes": [models.Index(fields=["job", "-started_at"], name="jobrun_job_started")],
                    },
                ),
                migrations.CreateModel(
                    name="JobLock",
                    fields=[
                        ("job", models.CharField(max_length=100, primary_key=True, serialize=False)),
                        ("token", models.CharField(blank=True, max_length=64)),
                        ("host", models.CharField(blank=True, max_length=255)),
                        ("pid", models.PositiveIntegerField(blank=True, null=True)),
                        ("acquired_at", models.DateTimeField(blank=True, null=True)),
                        ("expires_at", models.DateTimeField(blank=True, null=True)),
                        ("run", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to="cron_runtime.jobrun")),
                    ],
                    options={"db_table": "basic_joblock"},
                ),
                migrations.CreateModel(
                    name="JobAlertState",
                    fields=[
                        ("job", models.CharField(max_length=100, primary_key=True, serialize=False)),
                        ("failing", models.BooleanField(default=False)),
                        ("changed_at", models.DateTimeField(auto_now=True)),
                    ],
                    options={"db_table": "basic_jobalertstate"},
                ),
            ],
        ),
        migrations.RunPython(content_types_follow_the_models, migrations.RunPython.noop),
    ]
