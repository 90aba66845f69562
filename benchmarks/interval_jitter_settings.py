"""Settings for benchmarks/interval_jitter.py: the real settings with one 1-second interval job."""
from oms_test.settings import *

CRONJOBS = [("every 1s", "benchmarks.interval_jitter.beat")]
CRONJOB_NAMES = {"benchmarks.interval_jitter.beat": "bench_beat"}
