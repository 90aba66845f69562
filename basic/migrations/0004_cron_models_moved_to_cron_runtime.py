"""JobRun, JobLock and JobAlertState now belong to the cron_runtime app.

State only: the tables stay (cron_runtime's models use them under the same names).
"""
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("basic", "0003_jobs_birthday_claim"),
        ("cron_runtime", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.DeleteModel(name="JobLock"),
                migrations.DeleteModel(name="JobAlertState"),
                migrations.DeleteModel(name="JobRun"),
            ],
        ),
    ]
