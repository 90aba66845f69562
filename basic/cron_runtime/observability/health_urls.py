from django.urls import path

from basic.cron_runtime.observability import health_views

urlpatterns = [
    path("cron", health_views.cron_health, name="healthz-cron"),
]
