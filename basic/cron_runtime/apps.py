from django.apps import AppConfig


class CronRuntimeConfig(AppConfig):
    name = "basic.cron_runtime"
    label = "cron_runtime"
    verbose_name = "定时任务 (cron runtime)"

    def ready(self):
        # System checks for settings.CRONJOBS and the job logs (`manage.py check`).
        from basic.cron_runtime import checks  # noqa: F401
        # The rate-limited queues' backlogs on /metrics.
        from basic.cron_runtime.observability.metrics import register_collector
        from basic.cron_runtime.timed_tasks.queue_backlog import QueueBacklogCollector

        register_collector(QueueBacklogCollector())
