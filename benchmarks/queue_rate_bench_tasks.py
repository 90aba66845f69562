"""What benchmarks/queue_rate_bench.py runs: one status query to the gateway, as a timed task of the
rate-limited queue and as a Celery task with Celery's rate_limit; and a no-op for the overhead."""
from celery import shared_task

from basic.cron_runtime.timed_tasks.services import RetryLater
from order.services.gateway_client import gateway_status


def ask(n: int) -> None:
    gateway_status(f"BENCH{n}")


def nothing(n: int) -> None:
    return None


@shared_task(name="bench.ask_gateway", ignore_result=True)
def ask_gateway(n: int) -> None:
    try:
        gateway_status(f"CELERY{n}")
    except RetryLater:
        pass  # a 429: the gateway has counted it; Celery's rate_limit does not retry
