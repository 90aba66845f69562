#!/usr/bin/env python
"""Celery engine vs process-per-run: tick-to-job-start latency and throughput, in one run.

- Latency: N ticks (default 200), one at a time on an idle worker (2 processes), each for an
  explicit minute of its own (as ``cronjobs tick --at`` would), from sending the tick to the job
  function's first line; against ``manage.py crontab run HASH`` (what a cron line starts), from
  spawning the process to the same line.
- Throughput: 1,000 no-op runs through Celery (1,000 ticks sent at once, two worker processes)
  against ``manage.py cronjobs run NAME`` processes one after another (a sample of N).

Throwaway SQLite database and log folder; Redis database BENCH_REDIS_DB (default 12) of
127.0.0.1:6379, flushed before and after. Usage: .venv/bin/python benchmarks/celery_bench.py [N]
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis

PROJECT = Path(__file__).resolve().parent.parent
STARTS = "bench:starts"  # the job pushes the time its first line ran
TARGET_P99_MS, TARGET_SPEEDUP = 100, 20
THROUGHPUT_RUNS = 1000
FIRST_MINUTE = datetime(2001, 1, 1, tzinfo=UTC)  # explicit minutes far from now: none is a catch-up


def stamp() -> str:
    """The job: push the time it started, and nothing else."""
    started = time.time()
    redis.Redis.from_url(os.environ["BENCH_REDIS_URL"]).rpush(STARTS, repr(started))
    return "stamped"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def run(cmd: list[str], env: dict) -> None:
    proc = subprocess.run(cmd, env=env, cwd=PROJECT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


def next_start(client: redis.Redis, timeout: float = 30) -> float:
    popped = client.blpop([STARTS], timeout=timeout)
    if popped is None:
        sys.exit(f"no job started within {timeout} s (see the worker log)")
    return float(popped[1])


def main() -> int:
    samples = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    work = Path(tempfile.mkdtemp(prefix="oms-celery-bench-"))
    broker = f"redis://127.0.0.1:6379/{os.environ.get('BENCH_REDIS_DB', '12')}"
    client = redis.Redis.from_url(broker)
    client.flushdb()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.celery_bench_settings",
        "DATABASE_URL": f"sqlite:///{work / 'bench.sqlite3'}",
        "LOG_DIR": str(work / "logs"),
        "CACHE_URL": "locmemcache://",
        "SECRET_KEY": "benchmark-only-secret-key-0123456789", "PAYMENT_SECRET": "benchmark-only-payment-secret-01234",
        "PYTHONPATH": str(PROJECT),
        "SCHEDULER": "celery", "CELERY_BROKER_URL": broker, "BENCH_REDIS_URL": broker, "C_FORCE_ROOT": "1",
    }
    os.environ.update({k: env[k] for k in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "LOG_DIR", "CACHE_URL",
                                           "SECRET_KEY", "PAYMENT_SECRET", "SCHEDULER", "CELERY_BROKER_URL")})
    manage = [sys.executable, str(PROJECT / "manage.py")]
    run([*manage, "migrate", "-v0"], env)
    sys.path.insert(0, str(PROJECT))
    import django

    django.setup()
    from basic.cron_runtime.models import JobRun, RunOutcome
    from basic.cron_runtime.registry import job_by_name
    from oms_test.celery import app

    job = job_by_name("bench_stamp")

    # --- Celery: an idle worker with two processes -------------------------------------------
    log = open(work / "worker.log", "w")  # noqa: SIM115
    worker = subprocess.Popen([str(Path(sys.executable).with_name("celery")), "-A", "oms_test", "worker",
                               "--loglevel", "INFO", "--concurrency", "2", "--without-gossip", "--without-mingle"],
                              env=env, cwd=PROJECT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while "ready." not in (work / "worker.log").read_text():
            if time.monotonic() > deadline or worker.poll() is not None:
                sys.exit("the worker did not start:\n" + (work / "worker.log").read_text()[-3000:])
            time.sleep(0.1)

        def tick(i: int):
            minute = (FIRST_MINUTE + timedelta(minutes=i)).isoformat()
            app.send_task("cron_runtime.tick", args=[minute], queue="cron")

        tick(-1), next_start(client)  # warm: connections, imports in the pool
        celery_latency = []
        for i in range(samples):
            sent = time.time()
            tick(i)
            celery_latency.append(next_start(client) - sent)
        time.sleep(0.5)

        began = time.time()
        for i in range(samples, samples + THROUGHPUT_RUNS):
            tick(i)
        for _ in range(THROUGHPUT_RUNS):
            next_start(client, timeout=120)
        # the last run is over when its record is: wait for every record to be written
        while JobRun.objects.filter(outcome=RunOutcome.SUCCEEDED).count() < samples + 1 + THROUGHPUT_RUNS:
            time.sleep(0.05)
        celery_elapsed = time.time() - began
    finally:
        worker.terminate()
        worker.wait(60)
        log.close()

    # --- process per run -----------------------------------------------------------------------
    crontab_run = [*manage, "crontab", "run", job.hash]
    run(crontab_run, env), next_start(client)  # warm the file cache and .pyc files
    process_latency = []
    for _ in range(samples):
        spawned = time.time()
        run(crontab_run, env)
        process_latency.append(next_start(client) - spawned)
    cronjobs_run = [*manage, "cronjobs", "run", job.name]
    began = time.time()
    for _ in range(samples):
        run(cronjobs_run, env)
        next_start(client)
    process_elapsed = time.time() - began

    failed = JobRun.objects.exclude(outcome=RunOutcome.SUCCEEDED).count()
    client.flushdb()
    shutil.rmtree(work)

    celery_rate, process_rate = THROUGHPUT_RUNS / celery_elapsed, samples / process_elapsed
    p99 = percentile(celery_latency, 0.99) * 1000
    print(f"tick-to-job-start latency, {samples} ticks each (explicit minutes), ms")
    print(f"{'path':<52} {'p50':>8} {'p99':>8} {'max':>8}")
    for label, values in [("Celery: tick task -> run_slot on an idle worker (-c 2)", celery_latency),
                          ("process per run: manage.py crontab run HASH", process_latency)]:
        print(f"{label:<52} {statistics.median(values) * 1000:>8.1f} {percentile(values, 0.99) * 1000:>8.1f} "
              f"{max(values) * 1000:>8.1f}")
    print()
    print(f"{'throughput of no-op runs':<52} {'runs':>8} {'seconds':>8} {'runs/s':>8}")
    print(f"{'Celery, ticks sent at once, 2 worker processes':<52} {THROUGHPUT_RUNS:>8} {celery_elapsed:>8.1f} "
          f"{celery_rate:>8.1f}")
    print(f"{'manage.py cronjobs run NAME, one after another':<52} {samples:>8} {process_elapsed:>8.1f} "
          f"{process_rate:>8.1f}")
    speedup = celery_rate / process_rate
    print(f"\nCelery p99 {p99:.1f} ms (target ≤ {TARGET_P99_MS} ms); throughput {speedup:.1f}× process-per-run "
          f"(target ≥ {TARGET_SPEEDUP}×); runs not succeeded: {failed}")
    return 0 if p99 <= TARGET_P99_MS and speedup >= TARGET_SPEEDUP and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
