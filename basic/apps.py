from django.apps import AppConfig


class BasicConfig(AppConfig):
    name = "basic"
    verbose_name = "基础 (users, catalog, points)"
