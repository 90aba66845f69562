"""What the runtime's guarantees need of Celery, as defaults of the project's Celery app
(``app.add_defaults(celery_defaults)``): a project's own ``CELERY_…`` settings still win.

Beat only ticks and workers run the slots (docs/celery.md); these make a dead worker's run come back
once, to be recorded as skipped, instead of being lost or run twice.
"""
from __future__ import annotations

from django.conf import settings

from basic.cron_runtime import conf


def celery_defaults() -> dict:
    """Celery settings (lowercase names), read when the app first needs its configuration."""
    return {
        "broker_url": conf.CELERY_BROKER_URL,
        # Redis hands an unacknowledged message to another worker after CELERY_VISIBILITY_TIMEOUT.
        "broker_transport_options": conf.CELERY_BROKER_TRANSPORT_OPTIONS,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,  # a worker waits for Redis as long as it takes
        "accept_content": ["json"],
        "task_serializer": "json",
        "result_serializer": "json",
        "timezone": settings.TIME_ZONE,
        "enable_utc": True,
        # No result backend: a run's record (JobRun) is its result, and a failed run's task is in
        # state FAILURE for the worker's log and its task events (`celery -A oms_test events`).
        "result_backend": None,
        "task_ignore_result": True,
        "worker_send_task_events": True,
        # One message at a time per process, acknowledged when the run is over: a worker that dies
        # mid-run leaves its message to be delivered again, and the slot guarantee turns that second
        # delivery into a skipped record instead of a second run.
        "worker_prefetch_multiplier": 1,
        "task_acks_late": True,
        # When the broker goes away, a running job finishes (its message comes back once Redis does).
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        # Queue names say what waits in them (jobs), not an engine (engine.RENAMED_QUEUES).
        "task_default_queue": conf.CELERY_TASK_DEFAULT_QUEUE,
        # Beat sends one tick a minute and nothing else; in memory, it keeps no schedule file.
        "beat_scheduler": "celery.beat:Scheduler",
        # Celery's own log lines go through loguru (the project's setup_logging receiver).
        "worker_hijack_root_logger": False,
    }
