"""Which engine ticks the jobs (``settings.SCHEDULER``) and whether it can: cron or Celery.

- ``cron`` (default): the crontab lines of `crontab add` (or the embedded `cronjobs serve`);
- ``celery``: Celery beat sends one tick a minute through the broker, workers run the jobs.

Either way the runtime decides what is due (ticks.py) and every run goes through the runner;
this module only names the engine for the health views and checks that Celery's broker answers.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

CRON, CELERY = "cron", "celery"
# The Celery task names: beat's entry (oms_test/celery.py) and the tasks (tasks.py) use them.
TICK_TASK = "cron_runtime.tick"
RUN_TASK = "cron_runtime.run_slot"
BROKER_TIMEOUT_SECONDS = 2


def engine() -> str:
    return settings.SCHEDULER


def uses_celery() -> bool:
    return engine() == CELERY


def job_queue(job_name: str) -> str:
    return settings.CRONJOB_CELERY_QUEUES.get(job_name, settings.CELERY_TASK_DEFAULT_QUEUE)


def queues() -> list[str]:
    """Every queue a worker should consume, the default one first."""
    default = settings.CELERY_TASK_DEFAULT_QUEUE
    return [default, *sorted(set(settings.CRONJOB_CELERY_QUEUES.values()) - {default})]


def broker_url_for_display() -> str:
    from kombu.utils.url import maybe_sanitize_url

    return maybe_sanitize_url(settings.CELERY_BROKER_URL)


def heartbeat_hint(*, never: bool) -> str:
    """What to look at when the heartbeat never beat or stopped beating, for this engine."""
    if uses_celery():
        return ("is Celery beat running (`make beat`) and a worker consuming the queue "
                f"{settings.CELERY_TASK_DEFAULT_QUEUE} (`make worker`)?")
    if never:
        return ("is the cron daemon running and the crontab installed (`python manage.py crontab add`), "
                "or `python manage.py cronjobs serve`?")
    return "is the cron daemon (or `cronjobs serve`) running?"


def describe_engine() -> str:
    """One line for `cronjobs list|status`, `crontab show` and the dashboard."""
    if uses_celery():
        return (f"engine: celery (SCHEDULER=celery) — beat sends one tick a minute to {broker_url_for_display()}, "
                f"workers consume {', '.join(queues())}")
    return "engine: cron (SCHEDULER=cron) — the crontab lines of `crontab add`, or `cronjobs serve`"


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

    options = {**settings.CELERY_BROKER_TRANSPORT_OPTIONS,
               "socket_connect_timeout": BROKER_TIMEOUT_SECONDS, "socket_timeout": BROKER_TIMEOUT_SECONDS}
    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=BROKER_TIMEOUT_SECONDS,
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
