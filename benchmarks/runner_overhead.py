#!/usr/bin/env python
"""What the runner itself costs: a no-op job through `manage.py crontab run HASH` (what cron
starts: run record, lease lock and its renewals, job log, due check) against the same
function called by `manage.py shell -c` (Django started, nothing else). Both are whole
processes, as cron runs them. Usage: .venv/bin/python benchmarks/runner_overhead.py [N]

It uses a throwaway SQLite database and log folder that it creates and migrates itself.
Every runner call is a scheduled one that runs the job: runs in the same minute would claim the
same slot (one run per slot) and be recorded as skipped, so between two calls, outside the timed
part, the previous run records are deleted, and each call is checked to have succeeded.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
JOB = ("* * * * *", "benchmarks.runner_overhead.noop")  # must equal runner_overhead_settings.CRONJOBS[0]
TARGET = 0.20


def noop() -> None:
    """The job: nothing at all, so that only the runner's cost is measured."""


def timed(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=PROJECT, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{proc.stderr}")
    return elapsed


def ran_once_and_forget(database: Path) -> None:
    """Check the runner call just made ran the job (one succeeded record), then free the slot for the next."""
    with sqlite3.connect(database) as db:
        outcomes = [row[0] for row in db.execute("SELECT outcome FROM basic_jobrun")]
        if outcomes != ["succeeded"]:
            sys.exit(f"the runner call did not run the job once: run records {outcomes}")
        db.execute("DELETE FROM basic_jobrun")
        db.execute("DELETE FROM basic_joblock")


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    work = Path(tempfile.mkdtemp(prefix="oms-runner-bench-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.runner_overhead_settings",
        "DATABASE_URL": f"sqlite:///{work / 'bench.sqlite3'}",
        "LOG_DIR": str(work / "logs"),
        "CACHE_URL": "locmemcache://",
        "SECRET_KEY": "benchmark-only-secret-key-0123456789", "PAYMENT_SECRET": "benchmark-only-payment-secret-01234",
        "PYTHONPATH": str(PROJECT),
    }
    manage = [sys.executable, str(PROJECT / "manage.py")]
    timed([*manage, "migrate", "-v0"], env)
    job_hash = hashlib.md5(json.JSONEncoder(sort_keys=True).encode(JOB).encode()).hexdigest()  # django-crontab's
    through_runner = [*manage, "crontab", "run", job_hash, "--scheduled"]
    # --no-imports: Django 5.2's shell otherwise imports every model first, which would flatter the runner
    plain_call = [*manage, "shell", "--no-imports", "-c", "from benchmarks.runner_overhead import noop; noop()"]

    database = work / "bench.sqlite3"
    timed(through_runner, env), timed(plain_call, env)  # warm the OS file cache and .pyc files
    ran_once_and_forget(database)
    runner_times, plain_times = [], []
    recorded = 0
    for _ in range(runs):  # interleaved, so that machine noise hits both alike
        runner_times.append(timed(through_runner, env))
        ran_once_and_forget(database)  # the job ran (not a skipped slot); the next call gets a free slot
        recorded += 1
        plain_times.append(timed(plain_call, env))

    runner_median, plain_median = statistics.median(runner_times), statistics.median(plain_times)
    overhead = runner_median / plain_median - 1
    print(f"no-op job, {runs} runs each (interleaved), whole processes, median wall time")
    print(f"{'how':<44} {'median ms':>10} {'min ms':>8} {'max ms':>8}")
    for label, times in [("manage.py crontab run HASH --scheduled", runner_times),
                         ("manage.py shell --no-imports -c 'noop()'", plain_times)]:
        print(f"{label:<44} {statistics.median(times) * 1000:>10.1f} {min(times) * 1000:>8.1f} "
              f"{max(times) * 1000:>8.1f}")
    print(f"runner overhead: {overhead:+.1%} (target ≤ {TARGET:.0%}); scheduled runs that ran the job: {recorded} of {runs}")
    shutil.rmtree(work)
    return 0 if overhead <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
