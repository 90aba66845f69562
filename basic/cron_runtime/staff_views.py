"""Staff cron console: dashboard, one job's page, Run now."""
from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from basic.cron_runtime.models import RunOutcome, RunTrigger
from basic.cron_runtime.registry import Job, UnknownJob, job_by_name
from basic.cron_runtime.runner import run_job
from basic.cron_runtime.staff_forms import LogFilterForm, RunHistoryFilterForm
from basic.cron_runtime.staff_selectors import (
    cron_dashboard,
    job_last_failed_run,
    job_log_tail,
    job_run_charts,
    job_run_history,
    job_state,
)
from basic.staff_access import staff_required


def _job_or_404(job_name: str) -> Job:
    """Only names known to settings.CRONJOBS get through: the log path is built from the registry's name."""
    try:
        return job_by_name(job_name)
    except UnknownJob:
        raise Http404("no such job") from None


@staff_required
@require_GET
def cron_dashboard_view(request):
    return render(request, "cron_runtime/staff/dashboard.html", {"dashboard": cron_dashboard()})


@staff_required
@require_GET
def job_detail(request, job_name: str):
    job = _job_or_404(job_name)
    # Each filter on its own: a bad ?page= keeps the outcome, a bad ?level= keeps q, and so on.
    history, history_ignored = RunHistoryFilterForm(request.GET).filters()
    log, log_ignored = LogFilterForm(request.GET).filters()
    raw_page = request.GET.get("page")
    runs = job_run_history(job=job, outcome=history.get("outcome"), page=raw_page)  # Paginator.get_page
    ignored = history_ignored + log_ignored
    if raw_page not in (None, "") and raw_page.strip().lstrip("0") != str(runs.number):
        ignored.insert(0, ("page", raw_page))
    duration_chart, items_chart = job_run_charts(job=job)
    return render(request, "cron_runtime/staff/job.html", {
        "job": job,
        "state": job_state(job=job),
        "runs": runs,
        # Shown with the values in force, not the rejected ones.
        "history_filter": RunHistoryFilterForm(initial=history),
        "filter_query": urlencode({**history, **log}),
        "ignored_filters": ignored,
        "last_failed_run": job_last_failed_run(job=job),
        "duration_chart": duration_chart,
        "items_chart": items_chart,
        "log_filter": LogFilterForm(initial=log),
        "log_lines": job_log_tail(job=job, level=log.get("level"), contains=log.get("q")),
    })


@staff_required
@require_POST
def job_run_now(request, job_name: str):
    job = _job_or_404(job_name)
    run = run_job(job, trigger=RunTrigger.MANUAL, triggered_by=request.user)
    level = {RunOutcome.SUCCEEDED: messages.SUCCESS, RunOutcome.FAILED: messages.ERROR}.get(run.outcome, messages.INFO)
    messages.add_message(request, level, f"{job.name}: run #{run.pk} {run.outcome}" + (f" — {run.message}" if run.message else ""))
    return redirect(reverse("staff:job", args=[job.name]) + f"#run-{run.pk}")
