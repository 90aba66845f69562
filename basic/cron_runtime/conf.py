"""The runtime's settings, each with its one default: ``conf.NAME`` is ``settings.NAME`` when the project
sets it, else the default below (django-celery-beat's ``getattr(settings, NAME, default)``).

Read at each use, never cached, so a test's ``settings`` fixture or ``override_settings`` is seen.
A project sets only what it chooses; its settings may take a value from the environment (see
oms_test/settings.py and .env.example). ``setting_problems()`` names a value out of range; the app
refuses to start with the first one (apps.py), as one line naming the setting.

This module imports nothing of the runtime, so that every room may import it.
"""
from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings


@dataclass(frozen=True)
class Default:
    value: Any = None
    derive: Callable[[], Any] | None = None  # a default computed from other settings, when it is read
    minimum: int | None = None  # a whole number of at least this much
    why: str = ""  # what the number means, for the error that refuses it

    def get(self) -> Any:
        return self.derive() if self.derive is not None else self.value


def _job_log_dir() -> Path:
    return Path(getattr(settings, "LOG_DIR", Path(settings.BASE_DIR) / "logs")) / "crontab"


def _broker_transport_options() -> dict:
    return {"visibility_timeout": __getattr__("CELERY_VISIBILITY_TIMEOUT")}


DEFAULTS: dict[str, Default] = {
    # The jobs (registry.py): django-crontab's list, a name per function, options per name.
    "CRONJOBS": Default([]),
    "CRONJOB_NAMES": Default({}),
    "CRONJOB_OPTIONS": Default({}),
    # Which of the runtime's own jobs (heartbeat, timed_tasks) join CRONJOBS: None = all of them.
    "CRON_RUNTIME_JOBS": Default(None),
    # A run past its time limit is stopped like SIGTERM; one that has not stopped this many seconds
    # later (stuck where a signal cannot reach it) is recorded as terminated and its process killed.
    "CRON_TIME_LIMIT_GRACE": Default(30, minimum=1, why="seconds a stopped run gets before it is killed"),
    # A lock lease: a run renews it while alive; a crashed (kill -9) run's lock is free again
    # after at most this many seconds (at once on the same host: its pid is gone).
    "CRON_LOCK_TTL": Default(60, minimum=3, why="seconds a lock lease lasts; a run renews it every third of that"),
    "CRON_HEARTBEAT_STALE_AFTER": Default(180, minimum=60, why="the heartbeat runs once a minute"),
    "CRON_RUN_RETENTION_DAYS": Default(30, minimum=1, why="days of run history kept"),
    # The cron daemon's timezone; empty = read /etc/localtime (schedule.py).
    "CRON_HOST_TIME_ZONE": Default(""),
    # The installation's name in the crontab markers; empty = the project folder (installer).
    "CRON_CHECKOUT_ID": Default(""),
    # Variables `crontab add` copies into .cron.env beyond those .env.example documents.
    "CRON_ENV_EXTRA_VARIABLES": Default([]),
    "CRON_LOG_DIR": Default(derive=_job_log_dir),  # the job logs: LOG_DIR/crontab
    # This host's name in run records, leases and claims.
    "HOSTNAME": Default(derive=socket.gethostname),
    # One-off timed tasks (the timed_tasks job): tasks claimed per transaction, how long a claim
    # lasts (a killed dispatcher's tasks run again after it), first retry delay (doubled each time).
    "TIMED_TASKS_CHUNK_SIZE": Default(500, minimum=1, why="timed tasks claimed per transaction"),
    "TIMED_TASK_LEASE": Default(300, minimum=10,
                                why="seconds a dispatcher holds a claimed task; one task must finish within it"),
    "TIMED_TASK_RETRY_DELAY": Default(60, minimum=1, why="seconds before a failed timed task's first retry"),
    "TIMED_TASK_RETENTION_DAYS": Default(30, minimum=1, why="days a finished timed task is kept"),
    # Rate-limited queues, {"queue": "2/s"} or "queue=2/s,other=600/m" (checked when the app loads).
    "TIMED_TASK_QUEUES": Default({}),
    # Where the queues' shared limiter lives: empty = the database, or redis://host:6379/N.
    "TIMED_TASK_RATE_LIMITER_URL": Default(""),
    # Who ticks the jobs: cron (crontab lines, or `cronjobs serve`) or celery (beat and workers).
    "SCHEDULER": Default("cron"),
    # Celery (SCHEDULER=celery): the broker, the queue of the runs and ticks, and a queue per job for
    # those that must not hold up the every-minute ones (engine.py, engines/celery_config.py).
    "CELERY_BROKER_URL": Default("redis://127.0.0.1:6379/2"),
    "CELERY_TASK_DEFAULT_QUEUE": Default("jobs"),
    "CRONJOB_CELERY_QUEUES": Default({}),
    # An interval job ("every 10s") keeps a worker process busy for its whole minute: such jobs go to a
    # queue of their own unless CRONJOB_CELERY_QUEUES names one (docs/systemd/oms-celery-worker-interval.service).
    "CRONJOB_INTERVAL_QUEUE": Default("jobs_interval"),
    # Redis hands an unacknowledged message to another worker after this many seconds: above the
    # longest job, or a job still running is delivered (and skipped) again.
    "CELERY_VISIBILITY_TIMEOUT": Default(6 * 3600, minimum=60,
                                         why="seconds before Redis re-delivers an unacknowledged job; "
                                             "above the longest job"),
    "CELERY_BROKER_TRANSPORT_OPTIONS": Default(derive=_broker_transport_options),
    # Job alerts also go to these Apprise URLs (running/alert_channels.py).
    "ALERT_URLS": Default([]),
    # /metrics answers loopback clients, and others that send "Authorization: Bearer <METRICS_TOKEN>".
    "METRICS_TOKEN": Default(""),
}

ENGINES = ("cron", "celery")
METRICS_TOKEN_MIN_LENGTH = 16


def __getattr__(name: str) -> Any:
    try:
        default = DEFAULTS[name]
    except KeyError:
        raise AttributeError(f"the cron runtime has no setting {name}") from None
    if hasattr(settings, name):
        return getattr(settings, name)
    return default.get()


def _number_problem(name: str, default: Default) -> str | None:
    value = __getattr__(name)
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{name}={value!r} is not a whole number ({default.why})"
    if value < default.minimum:
        return f"{name}={value} is too small: it must be at least {default.minimum} ({default.why})"
    return None


def setting_problems() -> list[str]:
    """One line per runtime setting whose value cannot work, naming it and what it must be."""
    problems = [problem for name, default in DEFAULTS.items()
                if default.minimum is not None and (problem := _number_problem(name, default))]
    scheduler = __getattr__("SCHEDULER")
    if scheduler not in ENGINES:
        problems.append(f"SCHEDULER={scheduler!r} is not an engine: use 'cron' (the default) or 'celery'")
    limiter = __getattr__("TIMED_TASK_RATE_LIMITER_URL")
    if limiter and not limiter.startswith(("redis://", "rediss://")):
        problems.append(f"TIMED_TASK_RATE_LIMITER_URL={limiter!r} is not valid: leave it empty (the database holds "
                        "the limiter) or use redis://host:6379/N")
    token = __getattr__("METRICS_TOKEN")
    if token and len(token) < METRICS_TOKEN_MIN_LENGTH:
        # A short token could be guessed: refused like a weak secret.
        problems.append(f"METRICS_TOKEN is too short: use at least {METRICS_TOKEN_MIN_LENGTH} random characters, "
                        "or leave it empty (then /metrics answers loopback clients only)")
    return problems
