"""Settings for benchmarks/celery_bench.py: the real settings with one job that stamps its start."""
from oms_test.settings import *

CRONJOBS = [("* * * * *", "benchmarks.celery_bench.stamp")]
CRONJOB_NAMES = {"benchmarks.celery_bench.stamp": "bench_stamp"}
