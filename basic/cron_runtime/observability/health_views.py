"""/healthz/cron: the cron jobs' health for monitoring systems (no login, no secrets)."""
from __future__ import annotations

from django.db import DatabaseError
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from loguru import logger

from basic.cron_runtime.observability.health import health_report, health_snapshot, heartbeat_alert_if_stale
from basic.cron_runtime.scheduling.registry import CronjobsConfigError


def _is_staff(request) -> bool:
    """Loading the user reads the session and user tables: a database error means anonymous."""
    try:
        return bool(request.user.is_staff)
    except DatabaseError:
        return False


def _unhealthy(problem: str, exc: Exception, request) -> dict:
    if _is_staff(request):
        problem += f" — {type(exc).__name__}: {exc}"
    return {"healthy": False, "problems": [problem], "heartbeat_age_seconds": None, "jobs": []}


@never_cache
@require_safe
def cron_health(request):
    """200 when healthy, 503 otherwise — the same report `manage.py cronjobs status` judges by.

    GET and HEAD. Anonymous callers (monitors) get job names, flags, ages and generic problem
    lines; the failed runs' messages (exception text) are for staff users only. A database
    error is a 503 with a reason, not a 500 page. The first poll that finds the heartbeat stale
    alerts staff, once per outage: a dead scheduler cannot.
    """
    try:
        snapshot = health_snapshot()
        report = health_report(details=_is_staff(request), snapshot=snapshot)
        heartbeat_alert_if_stale(snapshot)
    except DatabaseError as exc:
        logger.exception("/healthz/cron: the database could not be read")
        report = _unhealthy("database: the run records cannot be read (database unavailable)", exc, request)
    except CronjobsConfigError as exc:
        report = _unhealthy("settings.CRONJOBS is malformed (python manage.py check shows what to fix)", exc, request)
    return JsonResponse(report, status=200 if report["healthy"] else 503, json_dumps_params={"ensure_ascii": False})
