"""Staff cron console: dashboard, one job's page, Run now; the 一次性任务 (timed tasks) page.

Run now starts the job in a detached process of its own (launcher.py) and answers at once: a
job may take minutes, longer than a web worker may hold a request. The child records the run
(as ``running`` from its start), so the job page shows it on the next load.

On the timed-task page an action on a task that has changed state meanwhile ends in a
message naming its state now, never a 500.
"""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from basic.cron_runtime.engines import launcher
from basic.cron_runtime.models import TimedTaskStatus
from basic.cron_runtime.scheduling.pausing import PauseRefused, job_pause, job_pause_state, job_resume, pausable
from basic.cron_runtime.timed_tasks.queue_backlog import queue_backlogs
from basic.cron_runtime.scheduling.registry import Job, UnknownJob, job_by_name
from basic.cron_runtime.console.forms import LogFilterForm, RunHistoryFilterForm, RunJobOnceForm, TimedTaskFilterForm
from basic.cron_runtime.console.selectors import (
    cron_dashboard,
    job_last_failed_run,
    job_log_tail,
    job_run_charts,
    job_run_history,
    job_state,
    timed_task_counts,
    timed_task_page,
)
from basic.cron_runtime.scheduling.ticks import parse_minute
from basic.cron_runtime.timed_tasks.services import (
    TimedTaskStateChanged,
    timed_task_cancel_pending,
    timed_task_retry,
    timed_task_run_job_once,
)
from basic.cron_runtime.console.access import staff_required


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
    runs = job_run_history(job=job, outcome=history.get("outcome"), trigger=history.get("trigger"),
                           page=raw_page)  # Paginator.get_page
    ignored = history_ignored + log_ignored
    if raw_page not in (None, "") and raw_page.strip().lstrip("0") != str(runs.number):
        ignored.insert(0, ("page", raw_page))
    duration_chart, items_chart = job_run_charts(job=job)
    return render(request, "cron_runtime/staff/job.html", {
        "job": job,
        "state": job_state(job=job),
        "pausable": pausable(job),
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
        "time_zone": settings.TIME_ZONE,
    })


@staff_required
@require_POST
def job_run_now(request, job_name: str):
    job = _job_or_404(job_name)
    started = launcher.launch_manual(job, triggered_by=request.user.pk)
    if started.process is None:
        messages.error(request, f"{job.name}：无法在后台启动（{started.error}）")
    else:
        messages.success(request, f"{job.name}：已在后台启动（pid {started.pid}），完成后刷新本页查看结果")
        if job_pause_state(job.name) is not None:
            messages.warning(request, f"{job.name} 已暂停：这次是手动运行，仍会执行；计划时刻仍不会启动它")
    return redirect(reverse("staff:job", args=[job.name]) + "#runs")


@staff_required
@require_POST
def job_pause_view(request, job_name: str):
    job = _job_or_404(job_name)
    until = None
    raw_until = request.POST.get("until", "").strip()
    try:
        if raw_until:
            until = parse_minute(raw_until)
        state = job_pause(job=job, by=request.user.get_username(), reason=request.POST.get("reason", ""), until=until)
    except (ValueError, PauseRefused) as exc:  # PauseRefused is a ValueError too
        messages.error(request, f"没有暂停：{exc}")
    else:
        messages.success(request, f"{job.name} 已暂停" + (f"，至 {timezone.localtime(state.until):%Y-%m-%d %H:%M}"
                                                         if state.until else "，直到恢复"))
    return redirect("staff:job", job.name)


@staff_required
@require_POST
def job_resume_view(request, job_name: str):
    job = _job_or_404(job_name)
    try:
        job_resume(job=job, by=request.user.get_username())
    except PauseRefused as exc:
        messages.warning(request, str(exc))
    else:
        messages.success(request, f"{job.name} 已恢复：从下一个计划时刻起运行，暂停期间的时刻不补跑")
    return redirect("staff:job", job.name)


def _back(request):
    """Back to the list with the filters the staff member had."""
    query = request.POST.get("back", "")
    return redirect(reverse("staff:timed-tasks") + (f"?{query}" if query.isprintable() and query else ""))


@staff_required
@require_GET
def timed_tasks_view(request):
    filters, ignored = TimedTaskFilterForm(request.GET).filters()
    tasks = timed_task_page(status=filters.get("status"), overdue=bool(filters.get("overdue")),
                            name=filters.get("name", ""), page=request.GET.get("page"))
    default_time = timezone.localtime() + timedelta(minutes=5)
    return render(request, "cron_runtime/staff/timed_tasks.html", {
        "tasks": tasks,
        "counts": timed_task_counts(),
        "queue_backlogs": queue_backlogs(),
        "filter_form": TimedTaskFilterForm(initial=filters),
        "filter_query": urlencode({k: v for k, v in filters.items() if v not in (None, False, "")}),
        "ignored_filters": ignored,
        "run_job_form": RunJobOnceForm(initial={"run_at": default_time.replace(second=0, microsecond=0)}),
        "now": timezone.now(),
        "statuses": TimedTaskStatus,
        "time_zone": settings.TIME_ZONE,
    })


def _task_action(request, action, task_id: int, done: str):
    try:
        task = action(task_id=task_id)
    except TimedTaskStateChanged as exc:
        messages.warning(request, f"{exc}（页面刷新后再试）")
    else:
        messages.success(request, f"一次性任务 #{task.pk} {task.name}：{done}")
    return _back(request)


@staff_required
@require_POST
def timed_task_retry_view(request, task_id: int):
    return _task_action(request, timed_task_retry, task_id, "已重新排队，立即执行")


@staff_required
@require_POST
def timed_task_cancel_view(request, task_id: int):
    return _task_action(request, timed_task_cancel_pending, task_id, "已取消")


@staff_required
@require_POST
def timed_task_run_job_view(request):
    form = RunJobOnceForm(request.POST)
    if not form.is_valid():
        messages.error(request, "没有安排：" + "；".join(f"{form.fields[f].label if f in form.fields else f}：{' '.join(e)}"
                                                      for f, e in form.errors.items()))
        return _back(request)
    try:
        task = timed_task_run_job_once(job_name=form.cleaned_data["job"], run_at=form.cleaned_data["run_at"],
                                       requested_by=request.user.get_username())
    except UnknownJob as exc:  # CRONJOBS changed between the form and the click
        messages.error(request, str(exc))
    else:
        messages.success(request, f"已安排：{form.cleaned_data['job']} 将在 "
                                  f"{timezone.localtime(task.run_at):%Y-%m-%d %H:%M} 运行一次（一次性任务 #{task.pk}）")
    return _back(request)
