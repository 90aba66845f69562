"""The staff cron pages and the timed-task page, mounted under /staff/ (namespace ``staff``) by the project's urls.py."""
from django.urls import path

from basic.cron_runtime.console import views as staff_views

app_name = "staff"
urlpatterns = [
    path("", staff_views.cron_dashboard_view, name="dashboard"),
    path("cron/<str:job_name>/", staff_views.job_detail, name="job"),
    path("cron/<str:job_name>/run/", staff_views.job_run_now, name="job-run"),
    path("cron/<str:job_name>/pause/", staff_views.job_pause_view, name="job-pause"),
    path("cron/<str:job_name>/resume/", staff_views.job_resume_view, name="job-resume"),
    path("timed-tasks/", staff_views.timed_tasks_view, name="timed-tasks"),
    path("timed-tasks/<int:task_id>/retry/", staff_views.timed_task_retry_view, name="timed-task-retry"),
    path("timed-tasks/<int:task_id>/cancel/", staff_views.timed_task_cancel_view, name="timed-task-cancel"),
    path("timed-tasks/run-job/", staff_views.timed_task_run_job_view, name="timed-task-run-job"),
]
