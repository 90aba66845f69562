#!/usr/bin/env python
"""Celery engine vs process-per-run: tick-to-job-start latency and throughput, in one run.

Usage: .venv/bin/python benchmarks/celery_bench.py [N ticks, default 200] [Celery runs, default 1000]
What it measures, its database (CELERY_BENCH_DATABASE_URL) and Redis (BENCH_REDIS_DB):
docs/celery.md ("Benchmark"); figures in benchmarks/RESULTS.md ("Celery engine").
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import redis

PROJECT = Path(__file__).resolve().parent.parent
STARTS = "bench:starts"  # the job pushes the time its first line ran
TARGET_P99_MS, TARGET_SPEEDUP = 100, 20
FIRST_MINUTE = datetime(2001, 1, 1, tzinfo=UTC)  # explicit minutes far from now: none is a catch-up
THROUGHPUT_JOBS = 20  # 10 due at each tick (celery_bench_settings)


def stamp() -> str:
    """The job: push the time it started, and nothing else."""
    started = time.time()
    redis.Redis.from_url(os.environ["BENCH_REDIS_URL"]).rpush(STARTS, repr(started))
    return "stamped"


# Twenty jobs of that function (celery_bench_settings names them): one job never runs twice at once
# (its lease), so two worker processes have work in parallel only with several jobs.
for _n in range(20):
    globals()[f"stamp_{_n}"] = stamp


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


@contextmanager
def celery_worker(env: dict, log_path: Path, *, jobs: int):
    """`celery worker --concurrency 2` with ``jobs`` no-op jobs in CRONJOBS, ready; stopped (warm) on exit."""
    log = open(log_path, "w")  # noqa: SIM115
    worker = subprocess.Popen([str(Path(sys.executable).with_name("celery")), "-A", "oms_test", "worker",
                               "--loglevel", "INFO", "--concurrency", "2", "--without-gossip", "--without-mingle"],
                              env={**env, "BENCH_JOBS": str(jobs)}, cwd=PROJECT, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while "ready." not in log_path.read_text():
            if time.monotonic() > deadline or worker.poll() is not None:
                sys.exit("the worker did not start:\n" + log_path.read_text()[-3000:])
            time.sleep(0.1)
        yield worker
    finally:
        worker.terminate()
        worker.wait(60)
        log.close()


def fresh_database(work: Path) -> str:
    url = os.environ.get("CELERY_BENCH_DATABASE_URL", "mysql://root@127.0.0.1:3306/oms_celery_bench")
    if url == "sqlite":
        return f"sqlite:///{work / 'bench.sqlite3'}"
    import pymysql

    parts = urlparse(url)
    server = pymysql.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 3306,
                             user=parts.username or "root", password=parts.password or "")
    name = parts.path.lstrip("/")
    with server.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    server.close()
    return url


def main() -> int:
    samples = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    throughput_runs = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    work = Path(tempfile.mkdtemp(prefix="oms-celery-bench-"))
    broker = f"redis://127.0.0.1:6379/{os.environ.get('BENCH_REDIS_DB', '12')}"
    client = redis.Redis.from_url(broker)
    client.flushdb()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.celery_bench_settings",
        "DATABASE_URL": fresh_database(work),
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

    job = job_by_name("stamp_0")

    # --- Celery: an idle worker with two processes -------------------------------------------
    def tick(i: int):
        minute = (FIRST_MINUTE + timedelta(minutes=i)).isoformat()
        app.send_task("cron_runtime.tick", args=[minute], queue="cron")

    with celery_worker(env, work / "worker-latency.log", jobs=1):
        tick(-1), next_start(client)  # warm: connections, imports in the pool
        celery_latency = []
        for i in range(samples):
            sent = time.time()
            tick(i)
            celery_latency.append(next_start(client) - sent)
    client.delete(STARTS)
    first = JobRun.objects.count()

    ticks = throughput_runs // (THROUGHPUT_JOBS // 2)
    with celery_worker(env, work / "worker-throughput.log", jobs=THROUGHPUT_JOBS):
        began = time.time()
        for i in range(samples, samples + ticks):
            tick(i)
        # every run is over when its record is
        while JobRun.objects.filter(pk__gt=first).exclude(outcome=RunOutcome.RUNNING).count() < throughput_runs:
            if time.time() - began > 600:
                sys.exit("the throughput runs did not finish within 10 minutes")
            time.sleep(0.05)
        celery_elapsed = time.time() - began
    celery_done = JobRun.objects.filter(pk__gt=first, outcome=RunOutcome.SUCCEEDED).count()
    client.delete(STARTS)

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

    failed = JobRun.objects.exclude(outcome=RunOutcome.SUCCEEDED).count()  # skipped ones too
    client.flushdb()
    if os.environ.get("BENCH_KEEP"):
        print(f"kept {work}")
    else:
        shutil.rmtree(work)

    celery_rate, process_rate = celery_done / celery_elapsed, samples / process_elapsed
    p99 = percentile(celery_latency, 0.99) * 1000
    print(f"tick-to-job-start latency, {samples} ticks each (explicit minutes), ms")
    print(f"{'path':<52} {'p50':>8} {'p99':>8} {'max':>8}")
    for label, values in [("Celery: tick task -> run_slot on an idle worker (-c 2)", celery_latency),
                          ("process per run: manage.py crontab run HASH", process_latency)]:
        print(f"{label:<52} {statistics.median(values) * 1000:>8.1f} {percentile(values, 0.99) * 1000:>8.1f} "
              f"{max(values) * 1000:>8.1f}")
    print()
    print(f"{'throughput of no-op runs':<52} {'runs':>8} {'seconds':>8} {'runs/s':>8}")
    print(f"{'Celery, ticks sent at once, 2 worker processes':<52} {celery_done:>8} {celery_elapsed:>8.1f} "
          f"{celery_rate:>8.1f}")
    print(f"{'manage.py cronjobs run NAME, one after another':<52} {samples:>8} {process_elapsed:>8.1f} "
          f"{process_rate:>8.1f}")
    speedup = celery_rate / process_rate
    print(f"\nCelery p99 {p99:.1f} ms (target ≤ {TARGET_P99_MS} ms); throughput {speedup:.1f}× process-per-run "
          f"(target ≥ {TARGET_SPEEDUP}×); runs not succeeded: {failed}")
    return 0 if p99 <= TARGET_P99_MS and speedup >= TARGET_SPEEDUP and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
