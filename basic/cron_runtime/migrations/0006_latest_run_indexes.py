"""Indexes that answer "the latest run of a job" (overall, or with an outcome) without sorting its history, and
the first run on record (the install time every health view reads)."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('cron_runtime', '0005_job_run_tally_watermark'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name='jobrun',
            index=models.Index(fields=['job', '-started_at', '-id'], name='jobrun_job_latest'),
        ),
        migrations.AddIndex(
            model_name='jobrun',
            index=models.Index(fields=['job', 'outcome', '-started_at', '-id'], name='jobrun_job_outcome_latest'),
        ),
        migrations.AddIndex(
            model_name='jobrun',
            index=models.Index(fields=['started_at'], name='jobrun_started'),
        ),
        # After the new ones exist: a live site always has an index for its lookups.
        migrations.RemoveIndex(
            model_name='jobrun',
            name='jobrun_job_started',
        ),
    ]
