"""Settings for benchmarks/runner_overhead.py: the real settings with one no-op job."""
from oms_test.settings import *

CRONJOBS = [("* * * * *", "benchmarks.runner_overhead.noop")]
CRONJOB_NAMES = {"benchmarks.runner_overhead.noop": "bench_noop"}
CRON_RUNTIME_JOBS = []  # the no-op job alone
