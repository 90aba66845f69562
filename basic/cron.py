"""Scheduled jobs of the basic app (settings.CRONJOBS). Thin: each calls one service.

The heartbeat is the runtime's own job: it stays a cheap proof of life and hands the
runtime's own upkeep (catch-up of missed runs, pruning run records) to
``cron_housekeeping``. The business jobs each call one service.
"""
from __future__ import annotations

from loguru import logger

from basic.cron_runtime.dispatcher import timed_tasks_dispatch
from basic.cron_runtime.housekeeping import cron_housekeeping
from basic.cron_runtime.result import JobFailed, JobReport
from basic.services.birthday import birthday_mail_send


def heartbeat() -> JobReport:
    """Proof that the cron daemon is alive; also catches up missed runs and prunes old run records."""
    return cron_housekeeping()


def send_birthday_mail() -> JobReport:
    """A greeting email to each user whose birthday is today in TIME_ZONE, once per user per year."""
    result = birthday_mail_send()
    logger.info(result.summary())
    if not result.ok:
        raise JobFailed(f"{result.failure_summary()}; {result.summary()}", items_processed=len(result.sent))
    return JobReport(items_processed=len(result.sent), message=result.summary())


def run_timed_tasks() -> JobReport:
    """Run the one-off timed tasks that are due (basic.cron_runtime.dispatcher)."""
    return timed_tasks_dispatch().job_report()
