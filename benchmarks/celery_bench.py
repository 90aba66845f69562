#!/usr/bin/env python
"""Celery engine vs process-per-run, with the ceiling beside them: tick-to-job-start latency and
throughput, in one run; the table goes to its section of benchmarks/RESULTS.md.

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

import redis

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from benchmarks.bench_db import ensure_mysql_database  # noqa: E402

SECTION = "celery_bench"  # its section of RESULTS.md
STARTS = "bench:starts"  # the job pushes the time its first line ran
# Same-run ratios only: throughput against process-per-run and against a bare Celery task on the same
# worker, tick-to-start p50 against the bare task's.
TARGET_SPEEDUP, TARGET_OF_BARE_RATE, TARGET_P50_VS_BARE = 20, 0.50, 2.5
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


def redis_round_trips(broker: str, samples: int) -> list[float]:
    """The transport's floor: a message put on a Redis queue and got back through kombu, in one process."""
    from kombu import Connection

    trips = []
    with Connection(broker) as conn:
        queue = conn.SimpleQueue("bench-round-trip")
        queue.put("warm"), queue.get(timeout=5).ack()
        for _ in range(samples):
            sent = time.time()
            queue.put("ping")
            queue.get(timeout=5).ack()
            trips.append(time.time() - sent)
        queue.close()
    return trips


def fresh_database(work: Path) -> str:
    url = os.environ.get("CELERY_BENCH_DATABASE_URL", "mysql://root@127.0.0.1:3306/oms_celery_bench")
    if url == "sqlite":
        return f"sqlite:///{work / 'bench.sqlite3'}"
    ensure_mysql_database(url, fresh=True)
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
    import django

    django.setup()
    from basic.cron_runtime.models import JobRun, RunOutcome
    from basic.cron_runtime.scheduling.registry import job_by_name
    from benchmarks.celery_bench_tasks import BARE_TASK
    from oms_test.celery import app

    job = job_by_name("stamp_0")

    # --- Celery: an idle worker with two processes -------------------------------------------
    def tick(i: int):
        minute = (FIRST_MINUTE + timedelta(minutes=i)).isoformat()
        app.send_task("cron_runtime.tick", args=[minute], queue="cron")

    def bare():
        app.send_task(BARE_TASK, queue="cron")

    with celery_worker(env, work / "worker-latency.log", jobs=1):
        tick(-1), next_start(client)  # warm: connections, imports in the pool
        bare(), next_start(client)
        celery_latency, bare_latency = [], []
        for i in range(samples):  # interleaved: a burst of load on the shared machine hits both
            for send, latencies in ((lambda: tick(i), celery_latency), (bare, bare_latency)):
                sent = time.time()
                send()
                latencies.append(next_start(client) - sent)
        # The bare task's throughput: as many sent at once as our runs, on the same two processes.
        client.delete(STARTS)
        began = time.time()
        for _ in range(throughput_runs):
            bare()
        while client.llen(STARTS) < throughput_runs:
            if time.time() - began > 600:
                sys.exit("the bare tasks did not finish within 10 minutes")
            time.sleep(0.02)
        bare_elapsed = time.time() - began
    client.delete(STARTS)
    round_trips = redis_round_trips(broker, samples)
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

    failed = JobRun.objects.exclude(outcome__in=[RunOutcome.SUCCEEDED, RunOutcome.SKIPPED]).count()
    # A skip is the runtime keeping its promise (one run of a job at a time): with a tick running one of its
    # runs itself, the tick two minutes on can find that job still running. Counted apart, never as done.
    skipped = JobRun.objects.filter(outcome=RunOutcome.SKIPPED).count()
    client.flushdb()
    if os.environ.get("BENCH_KEEP"):
        print(f"kept {work}")
    else:
        shutil.rmtree(work)

    celery_rate, process_rate = celery_done / celery_elapsed, samples / process_elapsed
    bare_rate = throughput_runs / bare_elapsed
    p99 = percentile(celery_latency, 0.99) * 1000
    speedup = celery_rate / process_rate
    of_bare_rate = celery_rate / bare_rate
    p50_vs_bare = statistics.median(celery_latency) / statistics.median(bare_latency)
    met = speedup >= TARGET_SPEEDUP and of_bare_rate >= TARGET_OF_BARE_RATE and p50_vs_bare <= TARGET_P50_VS_BARE

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    wide = 66
    lines = [f"tick-to-job-start latency, {samples} each, ms", f"{'path':<{wide}} {'p50':>8} {'p99':>8} {'max':>8}"]
    for label, values in [("Celery: tick task running the due job itself, idle worker (-c 2)", celery_latency),
                          ("process per run: manage.py crontab run HASH", process_latency),
                          ("ceiling: bare Celery task (stamps only), same worker", bare_latency),
                          ("ceiling: Redis queue round trip through kombu (put + get)", round_trips)]:
        lines.append(f"{label:<{wide}} {statistics.median(values) * 1000:>8.1f} "
                     f"{percentile(values, 0.99) * 1000:>8.1f} {max(values) * 1000:>8.1f}")
    lines += [
        "",
        f"{'throughput of no-op runs':<{wide}} {'runs':>8} {'seconds':>8} {'runs/s':>8}",
        f"{'Celery, ticks sent at once, 2 worker processes':<{wide}} {celery_done:>8} {celery_elapsed:>8.1f} "
        f"{celery_rate:>8.1f}",
        f"{'manage.py cronjobs run NAME, one after another':<{wide}} {samples:>8} {process_elapsed:>8.1f} "
        f"{process_rate:>8.1f}",
        f"{'ceiling: bare Celery task (stamps only), sent at once, 2 processes':<{wide}} {throughput_runs:>8} "
        f"{bare_elapsed:>8.1f} {bare_rate:>8.1f}",
        "",
        f"Celery p99 {p99:.1f} ms; runs failed: {failed}; starts skipped (the job still running): {skipped}",
        f"target throughput ≥ {TARGET_SPEEDUP}× process-per-run: {speedup:.1f}× — {verdict(speedup >= TARGET_SPEEDUP)}",
        f"target throughput ≥ {TARGET_OF_BARE_RATE:.0%} of the bare task's: {of_bare_rate:.0%} — "
        f"{verdict(of_bare_rate >= TARGET_OF_BARE_RATE)}",
        f"target p50 ≤ {TARGET_P50_VS_BARE}× the bare task's: {p50_vs_bare:.1f}× — {verdict(p50_vs_bare <= TARGET_P50_VS_BARE)}",
    ]
    table = "\n".join(lines)
    print(table)
    from benchmarks.results_section import markers, write_section

    start, end = markers(SECTION)
    write_section(PROJECT / "benchmarks" / "RESULTS.md", SECTION, "\n".join([
        start,
        "## Celery engine",
        "",
        f"`make bench-celery` (`benchmarks/celery_bench.py {samples} {throughput_runs}`), "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs (shared), database "
        f"{'SQLite' if env['DATABASE_URL'].startswith('sqlite') else 'MariaDB/MySQL'}, Redis on loopback. "
        "What each row measures: docs/celery.md (\"Benchmark\").",
        "",
        "```",
        table,
        "```",
        end,
    ]) + "\n")
    return 0 if met and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
