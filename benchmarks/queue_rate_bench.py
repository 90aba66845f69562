#!/usr/bin/env python
"""Rate-limited queues against the simulated gateway, with Celery's own rate_limit beside them; and
the dispatcher's cost per rate-limited task against the unlimited queue. One run, one table; the
table goes to its section of benchmarks/RESULTS.md.

Usage: .venv/bin/python benchmarks/queue_rate_bench.py [seconds per point, default 20]

- Rate accuracy: for 2/s, 10/s and 50/s, 1 and 3 dispatcher processes (`dispatch_timed_tasks --for`)
  drain a backlog of gateway queries against the simulator (`runserver`, answering 429 above
  GATEWAY_QPS = the rate); achieved = the limit N ÷ the mean time from a query's arrival to the N-th
  next one (steady throughput); ratio = achieved ÷ limit. Target 0.95–1.00, zero 429s. The ceiling
  is 1.00 (the limit itself).
- The peer users would otherwise pick: Celery's task rate_limit (per worker instance), 3 workers.
- The ceiling of this machine: 3 dispatchers with no rate against a gateway that never says 429
  (the simulator writes a row per query; at 50/s it, not the limiter, may be what bounds a point).
- Overhead: in this process, 1,000 no-op tasks on the unlimited queue, then 1,000 on a queue with a
  rate too high to wait for (so only the limiter's bookkeeping is measured), ms per task.

Database: QUEUE_BENCH_DATABASE_URL (default: a fresh SQLite file in a temporary folder, the embedded
default); Celery's broker: Redis database BENCH_REDIS_DB (default 9) of 127.0.0.1:6379 (flushed).
"""
from __future__ import annotations

import os
import shutil
import signal
import statistics
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from benchmarks.bench_db import ensure_mysql_database  # noqa: E402

SECTION = "queue_rate_bench"  # its sections of RESULTS.md: one per database (queue_rate_bench_sqlite, …_mysql)
RATES = (2, 10, 50)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the gateway server exited: {proc.stderr.read()[-2000:] if proc.stderr else ''}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    sys.exit(f"the gateway server did not listen on {port}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class Bench:
    def __init__(self, seconds: int):
        self.seconds = seconds
        self.tmp = Path(tempfile.mkdtemp(prefix="queue-rate-bench-"))
        self.redis_db = os.environ.get("BENCH_REDIS_DB", "9")
        self.database_url = os.environ.get("QUEUE_BENCH_DATABASE_URL") or f"sqlite:///{self.tmp / 'bench.sqlite3'}"
        self.port = free_port()
        self.env = {
            **os.environ, "DJANGO_SETTINGS_MODULE": "benchmarks.queue_rate_bench_settings", "PYTHONPATH": str(PROJECT),
            "DATABASE_URL": self.database_url, "OMS_IGNORE_DOTENV": "1", "SECRET_KEY": "b" * 50,
            "PAYMENT_SECRET": "p" * 40, "LOG_DIR": str(self.tmp / "logs"), "LOG_LEVEL": "ERROR",
            "CACHE_URL": f"filecache://{self.tmp / 'cache'}", "GATEWAY_URL": f"http://127.0.0.1:{self.port}/gateway/",
            "CELERY_BROKER_URL": f"redis://127.0.0.1:6379/{self.redis_db}", "TIMED_TASK_QUEUES": "gateway=2/s",
        }
        os.environ.update({k: v for k, v in self.env.items() if k not in ("TIMED_TASK_QUEUES",)})
        os.environ["TIMED_TASK_QUEUES"] = "gateway=2/s,unwaited=100000/s"
        ensure_mysql_database(self.database_url)
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], env=self.env, cwd=PROJECT, check=True)
        import django

        django.setup()
        self.rows = []

    def manage(self, *args, env=None) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "manage.py", *args], env=env or self.env, cwd=PROJECT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)

    def gateway(self, rate: int) -> subprocess.Popen:
        proc = self.manage("runserver", f"127.0.0.1:{self.port}", "--noreload", env={**self.env, "GATEWAY_QPS": str(rate)})
        wait_port(self.port, proc)
        import urllib.error
        import urllib.request

        try:  # warm: the first request loads the URLconf
            urllib.request.urlopen(f"http://127.0.0.1:{self.port}/gateway/query/", timeout=10)
        except urllib.error.HTTPError:
            pass
        return proc

    @staticmethod
    def reset() -> None:
        from basic.cron_runtime.models import QueueRateWindow, TimedTask
        from oms_test.gateway.models import GatewayQuery

        TimedTask.objects.all().delete()
        GatewayQuery.objects.all().delete()
        QueueRateWindow.objects.all().delete()

    @staticmethod
    def measured(rate: int) -> tuple[float, int, int]:
        """(achieved queries per second, 429s, busiest one-second window) of the point's arrivals.

        Achieved = ``rate`` ÷ the mean time from a query to the rate-th next one: the steady
        throughput, without the bias a fixed window's edges give to a limiter that sends in bursts.
        """
        from oms_test.gateway.models import GatewayQuery

        arrivals = list(GatewayQuery.objects.order_by("arrived_at").values_list("arrived_at", "answer"))
        times = [at.timestamp() for at, _ in arrivals]
        if len(times) <= rate:
            return 0.0, 0, len(times)
        spans = [times[i + rate] - times[i] for i in range(len(times) - rate)]
        busiest, first = 0, 0
        for last, t in enumerate(times):
            while t - times[first] >= 1.0:
                first += 1
            busiest = max(busiest, last - first + 1)
        return rate / statistics.mean(spans), sum(1 for _, a in arrivals if a == "429"), busiest

    def dispatchers(self, rate: int, count: int, *, limited: bool = True) -> None:
        """``count`` dispatcher processes drain gateway queries at ``rate``; ``limited`` False: the ceiling,
        the same processes with no rate on the queue against a gateway that never says 429."""
        from django.utils import timezone

        from basic.cron_runtime.models import TimedTask

        self.reset()
        now = timezone.now()
        TimedTask.objects.bulk_create(
            TimedTask(func_path="benchmarks.queue_rate_bench_tasks.ask", args=[n], queue="gateway", run_at=now,
                      next_attempt_at=now, max_attempts=1) for n in range(rate * self.seconds * 2))
        server = self.gateway(rate if limited else 100_000)
        try:
            env = {**self.env, "TIMED_TASK_QUEUES": f"gateway={rate}/s" if limited else ""}
            procs = [self.manage("dispatch_timed_tasks", "--for", str(self.seconds),
                                 env={**env, "OMS_HOSTNAME": f"host-{n % 2}"}) for n in range(count)]
            for proc in procs:
                proc.wait(timeout=self.seconds + 120)
        finally:
            stop(server)
        achieved, too_many, busiest = self.measured(rate)
        who = f"{count} dispatcher{'s' if count > 1 else ''}"
        self.rows.append((who if limited else f"ceiling: {who}, no rate, no 429", rate, achieved, too_many, busiest))

    def celery(self, rate: int, workers: int = 3) -> None:
        import redis

        from benchmarks.queue_rate_bench_tasks import ask_gateway

        self.reset()
        redis.Redis.from_url(self.env["CELERY_BROKER_URL"]).flushdb()
        server = self.gateway(rate)
        # SCHEDULER=celery: a worker refuses to start otherwise; INFO: its "ready." line tells it is up.
        env = {**self.env, "BENCH_RATE": str(rate), "SCHEDULER": "celery", "LOG_LEVEL": "INFO"}
        logs = [self.tmp / f"worker-{n}.log" for n in range(workers)]
        procs = [subprocess.Popen([str(Path(sys.executable).with_name("celery")), "-A", "oms_test", "worker", "-Q",
                                   "bench_gateway", "--pool", "solo", "-n", f"bench{n}@%h", "--without-gossip",
                                   "--without-mingle", "--loglevel", "INFO"], env=env, cwd=PROJECT,
                                  stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)  # noqa: SIM115
                 for n, log in enumerate(logs)]
        try:
            deadline = time.monotonic() + 90
            while not all("ready." in log.read_text() for log in logs):
                if time.monotonic() > deadline or any(proc.poll() is not None for proc in procs):
                    sys.exit("a Celery worker did not start: " + logs[0].read_text()[-2000:])
                time.sleep(0.2)
            for n in range(rate * self.seconds * 2):
                ask_gateway.apply_async(args=[n], queue="bench_gateway")
            time.sleep(self.seconds)
        finally:
            for proc in procs:
                stop(proc)
            stop(server)
            redis.Redis.from_url(self.env["CELERY_BROKER_URL"]).flushdb()
        achieved, too_many, busiest = self.measured(rate)
        self.rows.append((f"Celery rate_limit, {workers} workers", rate, achieved, too_many, busiest))

    def overhead(self, count: int = 1000) -> tuple[float, float]:
        from django.utils import timezone

        from basic.cron_runtime.timed_tasks.dispatcher import timed_tasks_dispatch
        from basic.cron_runtime.models import TimedTask

        per_task = []
        for queue in ("", "unwaited"):
            self.reset()
            now = timezone.now()
            TimedTask.objects.bulk_create(
                TimedTask(func_path="benchmarks.queue_rate_bench_tasks.nothing", args=[n], queue=queue, run_at=now,
                          next_attempt_at=now) for n in range(count))
            report = timed_tasks_dispatch(rate_limited_seconds=600)
            assert report.done == count, report.summary()
            per_task.append(report.seconds / count * 1000)
        return per_task[0], per_task[1]

    def report(self, unlimited_ms: float, limited_ms: float) -> str:
        from django.db import connection

        lines = [
            f"<!-- {SECTION}_{connection.vendor} -->",
            f"## Rate-limited queues on {connection.vendor} (benchmarks/queue_rate_bench.py)",
            "",
            f"{connection.vendor}, {self.seconds} s per point. "
            "Achieved = the limit N ÷ the mean time from a query's arrival at the gateway to the N-th next one "
            "(steady throughput); the ceiling is the limit itself, 1.00. 429s and the busiest one-second window "
            "are counted by the gateway.",
            "",
            "| who sends | limit /s | achieved /s | achieved ÷ limit | 429s | busiest 1-s window |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for who, rate, achieved, too_many, busiest in self.rows:
            lines.append(f"| {who} | {rate} | {achieved:.2f} | {achieved / rate:.2f} | {too_many} | {busiest} |")
        lines += [
            "",
            "A dispatcher calls its tasks one at a time, so one alone sends at most 1 ÷ (a call's round trip + "
            "its bookkeeping) a second, whatever the limit.",
            "",
            "| target: achieved ÷ limit 0.95–1.00, no 429 | met | measured |",
            "|---|---|---|",
        ]
        for who, rate, achieved, too_many, _busiest in self.rows:
            if who.endswith("dispatcher") or who.endswith("dispatchers"):
                met = 0.95 <= achieved / rate <= 1.0 and too_many == 0
                lines.append(f"| {who} at {rate}/s | {'yes' if met else '**NO**'} | {achieved / rate:.3f}, {too_many} 429s |")
        lines += [
            "",
            f"Dispatcher cost per task (1,000 no-op tasks, one dispatcher): unlimited queue {unlimited_ms:.2f} ms, "
            f"rate-limited queue (a rate it never waits for) {limited_ms:.2f} ms: "
            f"{limited_ms / unlimited_ms:.1f}× (a grant and a claim per task, and the slot's release, "
            "instead of one claim per chunk).",
            f"<!-- /{SECTION}_{connection.vendor} -->",
            "",
        ]
        return "\n".join(lines)


def main() -> int:
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    bench = Bench(seconds)
    try:
        for rate in RATES:
            for count in (1, 3):
                bench.dispatchers(rate, count)
                print(bench.rows[-1], flush=True)
            bench.celery(rate)
            print(bench.rows[-1], flush=True)
        # What this machine can do at all: the simulator (runserver, one row per query) and the dispatchers.
        bench.dispatchers(RATES[-1], 3, limited=False)
        print(bench.rows[-1], flush=True)
        unlimited_ms, limited_ms = bench.overhead()
        text = bench.report(unlimited_ms, limited_ms)
        print(text)
        from benchmarks.results_section import write_section

        from django.db import connection

        write_section(PROJECT / "benchmarks" / "RESULTS.md", f"{SECTION}_{connection.vendor}", text)
    finally:
        shutil.rmtree(bench.tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
