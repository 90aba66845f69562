"""The staff cron pages, mounted under /staff/ (namespace ``staff``) by the project's urls.py."""
from django.urls import path

from basic.cron_runtime import staff_views

app_name = "staff"
urlpatterns = [
    path("", staff_views.cron_dashboard_view, name="dashboard"),
    path("cron/<str:job_name>/", staff_views.job_detail, name="job"),
    path("cron/<str:job_name>/run/", staff_views.job_run_now, name="job-run"),
]
