from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured


class CronRuntimeConfig(AppConfig):
    name = "basic.cron_runtime"
    label = "cron_runtime"
    verbose_name = "定时任务 (cron runtime)"

    def ready(self):
        from basic.cron_runtime import conf
        from basic.cron_runtime.scheduling.registry import add_runtime_jobs
        from basic.cron_runtime.timed_tasks.queue_rates import queue_rates_problem

        # A value that cannot work (a lock TTL of 0 lets two runs overlap) stops every command and
        # process at start-up, one line naming the setting, instead of a job that "succeeds" wrongly.
        problems = [*conf.setting_problems(), *filter(None, [queue_rates_problem()])]
        if problems:
            raise ImproperlyConfigured(problems[0])
        # The heartbeat and the timed-task dispatcher join the project's jobs.
        add_runtime_jobs()
        # System checks for settings.CRONJOBS and the job logs (`manage.py check`).
        from basic.cron_runtime import checks  # noqa: F401
        # The rate-limited queues' backlogs on /metrics.
        from basic.cron_runtime.observability.metrics import register_collector
        from basic.cron_runtime.timed_tasks.queue_backlog import QueueBacklogCollector

        register_collector(QueueBacklogCollector())
