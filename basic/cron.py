"""Scheduled jobs of the basic app (settings.CRONJOBS). Thin: each calls one service.

The runtime's own jobs (the heartbeat, the timed-task dispatcher) are the runtime's: it adds them itself.
"""
from __future__ import annotations

from loguru import logger

from basic.cron_runtime.running.result import JobFailed, JobReport
from basic.services.birthday import birthday_mail_send


def send_birthday_mail() -> JobReport:
    """A greeting email to each user whose birthday is today in TIME_ZONE, once per user per year."""
    result = birthday_mail_send()
    logger.info(result.summary())
    if not result.ok:
        raise JobFailed(f"{result.failure_summary()}; {result.summary()}", items_processed=len(result.sent))
    return JobReport(items_processed=len(result.sent), message=result.summary())


