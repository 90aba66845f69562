"""The Celery app (SCHEDULER=celery): beat sends one tick a minute, workers run the jobs.

Standard Django layout: settings in the ``CELERY_`` namespace of oms_test/settings.py over the
runtime's defaults (basic/cron_runtime/engines/celery_config.py), tasks found by autodiscovery
(basic/cron_runtime/engines/celery_tasks.py). Beat's only entry is the tick; which
jobs are due, catch-up and TIME_ZONE are the runtime's business (docs/celery.md).
"""
import logging
import os
import time
from datetime import UTC, datetime, timedelta

from celery import Celery, signals
from celery.beat import BeatLazyFunc
from celery.schedules import crontab
from kombu import Exchange, Queue

from basic.cron_runtime import conf
from basic.cron_runtime.engines.celery_config import celery_defaults
from basic.cron_runtime.scheduling.engine import TICK_TASK, worker_queues
from basic.cron_runtime.scheduling.schedule import as_slot

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oms_test.settings")

app = Celery("oms_test")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.add_defaults(celery_defaults)  # a callable: read once the settings are
app.autodiscover_tasks()
# The runtime keeps its Celery tasks with the other engines, not in an app-level tasks.py. Found like
# the apps' tasks.py (not through ``imports``, which a CELERY_IMPORTS setting would replace).
app.autodiscover_tasks(["basic.cron_runtime.engines"], related_name="celery_tasks")


# A worker started without -Q consumes every queue the runs are sent to (and, for one release, their old names).
app.conf.task_queues = [Queue(name, Exchange(name), routing_key=name) for name in worker_queues()]

# A tick still waiting when its minute is nearly over is dropped: the next minute has its own.
TICK_EXPIRES_SECONDS = 55


def tick_minute() -> str:
    """The minute beat ticks for (UTC, ISO 8601), read when the tick is sent.

    Two seconds of slack: beat may wake a moment before the minute starts.
    """
    return as_slot(datetime.now(UTC), slack=timedelta(seconds=2)).isoformat()


app.conf.beat_schedule = {
    "tick": {
        "task": TICK_TASK,
        "schedule": crontab(),  # every minute: no timezone or DST arithmetic can go wrong here
        "args": (BeatLazyFunc(tick_minute),),
        "options": {"expires": TICK_EXPIRES_SECONDS},
    },
}


@signals.setup_logging.connect
def _celery_logs_through_loguru(loglevel=None, **_):
    """Celery's own lines go to the root logger, which oms_conf.logging routes into loguru.

    Having a receiver for this signal is what keeps Celery from installing handlers of its own.
    """
    from django.conf import settings

    settings.LOG_DIR  # noqa: B018 — importing the settings installs the loguru sinks
    logging.getLogger().setLevel(loglevel or logging.INFO)


@signals.beat_init.connect
@signals.worker_init.connect
def _refuse_unless_celery_is_the_engine(**_):
    """Beat or a worker under SCHEDULER=cron would tick the jobs a second way; say so and stop."""
    if conf.SCHEDULER != "celery":
        raise SystemExit(f"SCHEDULER={conf.SCHEDULER}: cron ticks the jobs here, not Celery. Set "
                         "SCHEDULER=celery (and run `python manage.py crontab remove`) to move them to beat and "
                         "workers; docs/celery.md.")


# A server closes a connection idle for wait_timeout, at least a second: one used less than that ago
# is not asked (a round trip before every run of a busy worker, a tenth of a short run's bookkeeping).
PING_AFTER_IDLE_SECONDS = 1.0
_last_task_end = [float("-inf")]  # time.monotonic() when this process's last task ended


@signals.task_prerun.connect
def _drop_broken_database_connections(**_):
    """A connection kept from the previous task (CELERY_DB_REUSE_MAX) may have died meanwhile (server
    restart, wait_timeout): close it, so that the task opens a new one instead of failing. A connection
    that reported an error is closed at once; an idle one is pinged first."""
    from django.db import connections

    idle = time.monotonic() - _last_task_end[0] >= PING_AFTER_IDLE_SECONDS
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None and (connection.errors_occurred or (idle and not connection.is_usable())):
            connection.close()


@signals.task_postrun.connect
def _note_the_task_end(**_):
    _last_task_end[0] = time.monotonic()
