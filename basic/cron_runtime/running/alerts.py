"""Tell ADMINS (mail) and every ALERT_URLS channel (alert_channels.py) when a job starts failing and
when it recovers — once per change.

A job that fails every minute must not send a mail every minute: the last alerted
state of each job is kept in ``JobAlertState`` and a mail goes out only when a run's
outcome flips it. The flip is a conditional UPDATE (``WHERE failing = <old state>``),
so when two hosts finish runs of the same job at the same moment only the one whose
UPDATE changed the row sends the mail.

The scheduler itself is watched too: a dead scheduler cannot tell on itself, so whoever reads the
health (``/healthz/cron``, which monitors poll, and ``cronjobs status``) calls
``scheduler_alert_if_stale`` and the first reader of a stale heartbeat sends the one alert of the
outage; the heartbeat's next beat sends the recovery (``scheduler_alert_recovered``).

The runner calls ``job_alert_after_run(run)`` after recording each run. A failed run whose slot
has retries left says nothing yet (its last attempt will); a run stopped by its time limit counts
as a failure, told as such. A paused job's engines start nothing, so nothing alerts for it.
"""
from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from django.core.mail import mail_admins
from django.db import connection
from django.utils import timezone
from loguru import logger

from basic.cron_runtime.running.alert_channels import notify_channels
from basic.cron_runtime.running.joblog import job_log_path
from basic.cron_runtime.models import JobAlertState, JobRun, RunOutcome
from basic.cron_runtime.scheduling.registry import UnknownJob, job_by_name
from basic.cron_runtime.sql_names import column, table

TRACEBACK_MAIL_CHARS = 8000  # the end of a long traceback is the part that explains it
# The alert state of the scheduler's heartbeat (a name no job can have: job names are identifiers).
SCHEDULER_ALERT_STATE = "scheduler:heartbeat"


def job_alert_after_run(run: JobRun) -> bool:
    """Mail ADMINS if this run changed its job between failing and ok; True if a mail was sent.

    Skipped and still-running runs say nothing about the job's health and are ignored.
    A job with no alert state yet counts as ok, so its first success is silent and its
    first failure alerts.
    """
    if run.outcome not in (RunOutcome.SUCCEEDED, RunOutcome.FAILED) and not _time_limit_reached(run):
        return False
    failing = run.outcome != RunOutcome.SUCCEEDED
    if failing and _retry_follows(run):
        return False
    if not _alert_state_flip(job=run.job, failing=failing):
        return False
    subject, body = _alert_message(run=run, failing=failing)
    told = notify_channels(subject, body, failing=failing)
    if not settings.ADMINS:
        logger.warning("job {} is now {}; no ADMINS to tell", run.job, "failing" if failing else "ok")
        return False
    try:
        mail_admins(subject, body, fail_silently=False)
    except Exception:  # noqa: BLE001 — SMTP down, bad address...: any mail failure, the job's run is already recorded
        if told:  # a chat channel took it: staff know, and must not get it twice
            logger.exception("could not mail ADMINS about job {} (an ALERT_URLS channel has it)", run.job)
            return False
        logger.exception("could not mail ADMINS about job {}; will retry after its next run", run.job)
        # Put the old state back so the next run of the job tries the alert again.
        _alert_state_flip(job=run.job, failing=not failing)
        return False
    return True


def _time_limit_reached(run: JobRun) -> bool:
    return run.outcome == RunOutcome.TERMINATED and run.message.startswith("time limit of ")


def _retry_follows(run: JobRun) -> bool:
    """A failed run of a slot with attempts left: its retry (retries.py) is the one to tell of."""
    if run.slot is None or run.outcome != RunOutcome.FAILED:
        return False
    try:
        attempts = job_by_name(run.job).options.attempts
    except UnknownJob:
        return False
    return run.attempt < attempts


def _alert_state_flip(*, job: str, failing: bool) -> bool:
    """Set the job's alerted state to ``failing``; True only for the caller that changed it.

    A job with no state row counts as ok: a success needs no row (one UPDATE, nothing to change after
    every successful run), a failure creates it first."""
    if failing:
        JobAlertState.objects.get_or_create(job=job, defaults={"failing": False})  # handles the create race itself
    with connection.cursor() as cursor:  # after every successful run: written once, not built by the ORM each time
        cursor.execute(_flip_sql(connection.vendor),
                       [failing, connection.ops.adapt_datetimefield_value(timezone.now()), job, not failing])
        return cursor.rowcount == 1


@lru_cache
def _flip_sql(vendor: str) -> str:
    """``UPDATE … SET failing, changed_at WHERE job AND failing = the old state``, quoted for ``vendor``."""
    failing = column(JobAlertState, "failing")
    return (f"UPDATE {table(JobAlertState)} SET {failing} = %s, {column(JobAlertState, 'changed_at')} = %s "
            f"WHERE {column(JobAlertState, 'job')} = %s AND {failing} = %s")


def _alert_message(*, run: JobRun, failing: bool) -> tuple[str, str]:
    when = timezone.localtime(run.started_at).strftime("%Y-%m-%d %H:%M:%S %Z")
    if _time_limit_reached(run):
        subject = f"cron job {run.job} stopped at its time limit on {run.host}"
        lead = f"The job {run.job} was stopped: {run.message}. You will get one more message when it succeeds again."
    elif failing:
        subject = f"cron job {run.job} FAILED on {run.host}"
        lead = f"The job {run.job} failed. You will get one more message when it succeeds again."
    else:
        subject = f"cron job {run.job} recovered"
        lead = f"The job {run.job} succeeded again after failing."
    lines = [
        lead,
        "",
        f"run:      #{run.pk} ({run.trigger}{f', attempt {run.attempt}' if run.attempt > 1 else ''})",
        f"host:     {run.host} pid {run.pid}",
        f"started:  {when}",
        f"items:    {run.items_processed}",
        f"message:  {run.message or '-'}",
        f"details:  /staff/cron/{run.job}/ (staff console), {job_log_path(run.job)}",
    ]
    if failing and run.traceback:
        lines += ["", "traceback (end):", run.traceback[-TRACEBACK_MAIL_CHARS:]]
    return subject, "\n".join(lines)


def scheduler_alert_if_stale(*, age, stale_after: int, hint: str) -> bool:
    """Tell ADMINS and the channels, once per outage, that the heartbeat is stale; True if told.

    ``age`` is the heartbeat's age (None: it never beat, e.g. a fresh install: nothing to alert).
    """
    if age is None or age.total_seconds() <= stale_after or not _alert_state_flip(job=SCHEDULER_ALERT_STATE,
                                                                                    failing=True):
        return False
    subject = "cron scheduler stopped: no heartbeat"
    body = (f"The scheduler's heartbeat last beat {int(age.total_seconds())} s ago (stale after {stale_after} s): "
            f"no job is being started on schedule. {hint}\n\nYou will get one more message when it beats again.")
    return _send(subject, body, failing=True)


def scheduler_alert_recovered(*, host: str) -> bool:
    """The heartbeat beat again after an alerted outage: say so once; True if told."""
    if not _alert_state_flip(job=SCHEDULER_ALERT_STATE, failing=False):  # one UPDATE a beat; a change only after an outage
        return False
    return _send("cron scheduler beats again", f"The scheduler's heartbeat beat again on {host}: jobs are being "
                 "started on schedule; missed runs are caught up by each job's catch_up policy.", failing=False)


def _send(subject: str, body: str, *, failing: bool) -> bool:
    """One message to every channel and ADMINS; a failure to deliver is logged, never raised."""
    told = notify_channels(subject, body, failing=failing)
    if settings.ADMINS:
        try:
            mail_admins(subject, body, fail_silently=False)
            return True
        except Exception:  # noqa: BLE001 — SMTP down, bad address…: logged; the channels may have it
            logger.exception("could not mail ADMINS: {}", subject)
    return bool(told)
