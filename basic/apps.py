from django.apps import AppConfig


class BasicConfig(AppConfig):
    name = "basic"
    verbose_name = "基础 (users, catalog, cron runtime)"

    def ready(self):
        # System checks for settings.CRONJOBS (`manage.py check`).
        from basic.cron_runtime import checks  # noqa: F401
