"""Settings for benchmarks/celery_bench.py: the real settings with BENCH_JOBS no-op jobs (stamp_0, stamp_1, …),
each stamping its start. One job: due every minute. Several: half on even minutes, half on odd ones, so
that two ticks handled at once by two worker processes do not start the same job (it would be skipped:
one run of a job at a time). Rarely the tick two minutes on still finds one running (a tick runs one of
its runs itself); the benchmark counts such skips apart."""
import os

from oms_test.settings import *

_count = int(os.environ.get("BENCH_JOBS", "1"))
CRONJOBS = [("* * * * *" if _count == 1 else ("*/2 * * * *" if n < _count // 2 else "1-59/2 * * * *"),
             f"benchmarks.celery_bench.stamp_{n}") for n in range(_count)]
CRONJOB_NAMES = {}
CRON_RUNTIME_JOBS = []  # the stamping jobs alone
CELERY_IMPORTS = ["benchmarks.celery_bench_tasks"]  # the bare task the benchmark measures as its ceiling
