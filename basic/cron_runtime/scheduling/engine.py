"""Which engine ticks the jobs (``settings.SCHEDULER``) and whether it can: cron or Celery.

- ``cron`` (default): the crontab lines of `crontab add` (or the embedded `cronjobs serve`);
- ``celery``: Celery beat sends one tick a minute through the broker, workers run the jobs.

Either way the runtime decides what is due (ticks.py) and every run goes through the runner;
this module only names the engine for the health views and checks that Celery's broker answers.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from basic.cron_runtime import conf
from basic.cron_runtime.scheduling.registry import CronjobsConfigError, Job, all_jobs

CRON, CELERY = "cron", "celery"
# The Celery task names: beat's entry (oms_test/celery.py) and the tasks (tasks.py) use them.
TICK_TASK = "cron_runtime.tick"
RUN_TASK = "cron_runtime.run_slot"
BROKER_TIMEOUT_SECONDS = 2
# The queues were called cron and cron_long before this release (the names read as the cron engine).
# A worker still consumes them, so messages sent by an older beat run; drop this after one release.
RENAMED_QUEUES = {"cron": "jobs", "cron_long": "jobs_long"}


def engine() -> str:
    return conf.SCHEDULER


def uses_celery() -> bool:
    return engine() == CELERY


def job_queue(job: Job) -> str:
    """The job's queue: CRONJOB_CELERY_QUEUES names it, else an interval job's own (its run keeps a
    worker process busy for the whole minute), else the default one."""
    named = conf.CRONJOB_CELERY_QUEUES.get(job.name)
    if named:
        return named
    return conf.CRONJOB_INTERVAL_QUEUE if job.interval is not None else conf.CELERY_TASK_DEFAULT_QUEUE


def queues() -> list[str]:
    """Every queue a worker should consume, the default one first (the interval queue when a job needs it)."""
    default = conf.CELERY_TASK_DEFAULT_QUEUE
    try:
        used = {job_queue(job) for job in all_jobs()}
    except CronjobsConfigError:  # `manage.py check` names the entry; the named queues are still served
        used = set()
    return [default, *sorted((set(conf.CRONJOB_CELERY_QUEUES.values()) | used) - {default})]


def worker_queues() -> list[str]:
    """What a worker consumes: every queue, then the old names of renamed ones (see RENAMED_QUEUES)."""
    current = queues()
    return [*current, *(old for old, new in RENAMED_QUEUES.items() if new in current and old not in current)]


def broker_url_for_display() -> str:
    from kombu.utils.url import maybe_sanitize_url

    return maybe_sanitize_url(conf.CELERY_BROKER_URL)


@dataclass(frozen=True)
class BrokerStatus:
    reachable: bool
    problem: str | None = None  # one line naming cause and fix, or None
    public_problem: str | None = None  # the same without the address and the error (anonymous /healthz/cron)
    waiting: dict[str, int] = field(default_factory=dict)  # messages waiting per queue


def broker_status() -> BrokerStatus | None:
    """Under Celery: can the broker be reached, and how many messages wait in each queue.

    None under cron. Never raises: an unreachable broker is one problem line (naming the URL
    without its password, the reason and the fix), not a traceback.
    """
    if not uses_celery():
        return None
    from kombu import Connection

    options = {**conf.CELERY_BROKER_TRANSPORT_OPTIONS,
               "socket_connect_timeout": BROKER_TIMEOUT_SECONDS, "socket_timeout": BROKER_TIMEOUT_SECONDS}
    try:
        with Connection(conf.CELERY_BROKER_URL, connect_timeout=BROKER_TIMEOUT_SECONDS,
                        transport_options=options) as connection:
            connection.ensure_connection(max_retries=0)
            client = getattr(connection.default_channel, "client", None)  # Redis: queues are lists
            waiting = {queue: client.llen(queue) for queue in queues()} if client is not None else {}
    except Exception as exc:  # noqa: BLE001 — any failure to talk to the broker is this one problem
        reason = " ".join(str(exc).split()) or type(exc).__name__
        fix = "start Redis or fix CELERY_BROKER_URL; jobs run again once it is back, and missed runs are caught up"
        return BrokerStatus(reachable=False,
                            problem=f"celery: the broker {broker_url_for_display()} is unreachable ({reason}) — {fix}",
                            public_problem=f"celery: the broker is unreachable — {fix}")
    return BrokerStatus(reachable=True, waiting=waiting)
