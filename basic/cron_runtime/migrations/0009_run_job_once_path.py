"""The runtime's modules moved into rooms: "run this job once" tasks stored before the move name the
function by its old path. One UPDATE points them at the new one (and back on reverse)."""
from django.db import migrations

OLD_PATH = "basic.cron_runtime.timed_tasks.run_job_once"
NEW_PATH = "basic.cron_runtime.timed_tasks.services.run_job_once"


def _repoint(old, new):
    def forwards(apps, schema_editor):
        TimedTask = apps.get_model("cron_runtime", "TimedTask")
        TimedTask.objects.using(schema_editor.connection.alias).filter(func_path=old).update(func_path=new)
    return forwards


class Migration(migrations.Migration):
    dependencies = [("cron_runtime", "0008_timed_task_queue")]

    operations = [migrations.RunPython(_repoint(OLD_PATH, NEW_PATH), _repoint(NEW_PATH, OLD_PATH))]
