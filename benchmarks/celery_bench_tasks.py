"""The ceiling of benchmarks/celery_bench.py: a bare Celery task doing only what the benchmark's job
does (stamp its start), with none of the runtime around a run (tick, due jobs, lease, run record).
The bench settings make the worker import it (CELERY_IMPORTS)."""
from celery import shared_task

from benchmarks.celery_bench import stamp

BARE_TASK = "bench.bare_stamp"


@shared_task(name=BARE_TASK, ignore_result=True)
def bare_stamp() -> None:
    stamp()
