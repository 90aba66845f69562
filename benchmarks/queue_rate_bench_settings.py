"""Settings for benchmarks/queue_rate_bench.py: the real settings, plus the Celery task it compares
with (Celery's own per-worker rate_limit, BENCH_RATE per second)."""
import os

from oms_test.settings import *

CELERY_IMPORTS = ["benchmarks.queue_rate_bench_tasks"]
CELERY_TASK_ANNOTATIONS = {"bench.ask_gateway": {"rate_limit": f"{os.environ.get('BENCH_RATE', '2')}/s"}}
