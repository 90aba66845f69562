"""Staff console under /staff/: cron dashboard and job pages; finance from order.staff_urls."""
from django.urls import include, path

from basic import staff_views

app_name = "staff"
urlpatterns = [
    path("", staff_views.cron_dashboard_view, name="dashboard"),
    path("cron/<str:job_name>/", staff_views.job_detail, name="job"),
    path("cron/<str:job_name>/run/", staff_views.job_run_now, name="job-run"),
    path("finance/", include("order.staff_urls")),
]
