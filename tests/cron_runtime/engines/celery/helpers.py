"""Real Redis, `celery worker` and `celery beat` processes for the Celery engine's tests.

Redis: the machine's server on 127.0.0.1:6379, the database the test settings give
CELERY_BROKER_URL (oms_test/settings_test.py: one of 10–13). Each test flushes that database
only. A test that stops Redis starts a server of its own on another port (``OwnRedis``) and
stops that one.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis

from tests.cron_runtime.helpers import wait_for
from tests.helpers import PROJECT_DIR
from tests.smtp import free_port

CELERY = str(Path(sys.executable).with_name("celery"))
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def flush(url: str) -> None:
    redis.Redis.from_url(url, socket_connect_timeout=2).flushdb()


class Process:
    """A child process (its own session, so it and its children are stopped together), output in a file."""

    def __init__(self, args: list[str], env: dict, log_path: Path):
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115 — closed in stop()
        self.popen = subprocess.Popen(args, env=env, cwd=PROJECT_DIR, stdout=self._log, stderr=subprocess.STDOUT,
                                      start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 30) -> None:
        def seen():
            if self.popen.poll() is not None and text not in self.output():
                raise AssertionError(f"{self.log_path.name} exited ({self.popen.returncode}):\n{self.output()[-3000:]}")
            return text in self.output()

        wait_for(seen, timeout, f"{text!r} in {self.log_path.name}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send ``sig`` to the main process and wait; kill the whole group if it is still there after ``timeout``."""
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill_group()
        self.kill_group()  # children left behind by a crash
        self._log.close()
        return self.popen.returncode

    def kill_group(self) -> None:
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(30)


def celery_env(base_env: dict, *, broker_url: str, jobs: str, **extra: str) -> dict:
    env = dict(base_env)
    env.update(DJANGO_SETTINGS_MODULE="tests.cron_runtime.engines.celery.worker_settings", SCHEDULER="celery",
               CELERY_BROKER_URL=broker_url, TEST_CELERY_JOBS=jobs, C_FORCE_ROOT="1")
    env.update(extra)
    return env


def start_worker(env: dict, log_path: Path, *, name: str = "w1", concurrency: int = 2) -> Process:
    """A `celery worker` consuming every job queue; returns once it is ready."""
    worker = Process([CELERY, "-A", "oms_test", "worker", "--loglevel", "INFO", "--concurrency", str(concurrency),
                      "--without-gossip", "--without-mingle", "-n", f"{name}@%h"], env, log_path)
    worker.wait_for_output("ready.", timeout=60)
    return worker


def start_beat(env: dict, log_path: Path) -> Process:
    beat = Process([CELERY, "-A", "oms_test", "beat", "--loglevel", "INFO"], env, log_path)
    beat.wait_for_output("beat: Starting", timeout=60)
    return beat


def send_tick(broker_url: str, minute: datetime, queue: str = "jobs") -> str:
    """Send the tick task for ``minute`` (what beat sends every minute), the way beat does; its task id."""
    from celery import Celery

    sender = Celery("oms_test_sender", set_as_current=False)
    sender.conf.update(task_serializer="json", accept_content=["json"])
    minute = minute.astimezone(UTC).replace(second=0, microsecond=0)
    # the URL given here: Celery's own broker_url would prefer CELERY_BROKER_URL of the environment
    with sender.connection_for_write(broker_url) as connection:
        result = sender.send_task("cron_runtime.tick", args=[minute.isoformat()], queue=queue, connection=connection)
    return result.id


def this_minute() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


class OwnRedis:
    """A redis-server of the test's own on a free port (so the machine's server stays up), no disk."""

    def __init__(self, tmp_path: Path):
        self.port = free_port()
        self.tmp_path = tmp_path
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: Process | None = None

    def start(self) -> None:
        self.process = Process([REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", str(self.tmp_path)],
                               dict(os.environ), self.tmp_path / f"redis-{self.port}.log")
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        wait_for(lambda: _pings(client), 10, f"redis-server on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(signal.SIGKILL)
            self.process = None


def _pings(client) -> bool:
    try:
        return client.ping()
    except redis.ConnectionError:
        return False


def minutes_from(start: datetime, count: int) -> list[datetime]:
    return [start + timedelta(minutes=i) for i in range(count)]
