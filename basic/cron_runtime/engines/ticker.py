"""``cronjobs serve``: the embedded ticker, for machines without a cron daemon.

At the start of every minute it asks ``ticks.slots_due(minute)`` and starts each slot in a
process of its own (``launcher``), recorded with trigger ``ticker``. The next minute to tick
is always the one after the last minute ticked, read from the wall clock: no drift, no minute
fired twice (a clock stepped back is waited out), and a minute that passed while the ticker
could not tick (stopped, suspended, a tick slower than a minute) is handed to the catch-up
policy at the next tick (``slots_due(..., skipped_from=...)``). One ticker per host and
installation: a lock file next to its log names the holder's pid.
"""
from __future__ import annotations

import fcntl
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from django.utils import timezone

from basic.cron_runtime import conf
from basic.cron_runtime.engines import launcher
from basic.cron_runtime.scheduling.ticks import as_slot, slot_label, slots_due
from basic.cron_runtime.models import RunTrigger

SERVE_LOG = "serve"  # logs/crontab/serve.log
MINUTE = timedelta(minutes=1)


class AlreadyServing(Exception):
    """Another ``cronjobs serve`` of this installation runs on this host."""


def lock_path() -> Path:
    return Path(conf.CRON_LOG_DIR) / "serve.pid"


@contextmanager
def serve_lock(path: Path | None = None) -> Iterator[Path]:
    """Hold the ticker's lock file (with our pid in it) for as long as we serve.

    ``flock`` is released by the kernel when the holder dies, even by ``kill -9``: a stale file
    never blocks the next ticker. A second ticker gets ``AlreadyServing`` naming the first's pid.
    """
    path = path or lock_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise AlreadyServing(
                f"another `cronjobs serve` is already running here (pid {holder}, lock {path}): "
                "one per host is enough — stop that one first, or leave it running") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock; the file stays (its content is only read under the lock)


def other_engine_warning() -> str:
    """A warning when this checkout's crontab lines are installed and a cron daemon runs: both
    start the jobs. Harmless (one run per slot), but every slot then leaves a skipped record."""
    from basic.cron_runtime.installer import CrontabError, cron_daemon_running, current_lines

    try:
        installed = [line for line in current_lines() if line.ours and not line.stale]
    except CrontabError:
        return ""
    if installed and cron_daemon_running():
        return ("a cron daemon runs and this checkout's crontab lines are installed: both start the jobs — "
                "harmless, one run per slot, but wasteful; `python manage.py crontab remove` or stop this ticker")
    return ""


class Ticker:
    """The loop of ``cronjobs serve``. ``clock`` and ``sleep`` are replaceable for tests."""

    def __init__(self, log, *, grace: float = 5.0, clock: Callable[[], datetime] = timezone.now,
                 sleep: Callable[[float], None] = time.sleep):
        self.log = log
        self.grace = grace
        self.clock = clock
        self.sleep = sleep
        self.stopping = False
        self.running: list[launcher.Launched] = []
        self.ticked: list[datetime] = []  # every minute ticked, in order (for the log and tests)

    def request_stop(self, signum=None, frame=None) -> None:
        """Signal handler: finish the current step, then stop (see ``serve``)."""
        if not self.stopping and signum is not None:
            self.log.info(f"{signal.Signals(signum).name} received: stopping")
        self.stopping = True

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    def serve(self, *, max_ticks: int | None = None) -> None:
        """Tick at the start of every minute until asked to stop; then let the running jobs finish
        within ``grace`` seconds and SIGTERM the rest (each is recorded either way)."""
        next_minute = as_slot(self.clock()) + MINUTE
        self.log.info(f"ticker started (pid {os.getpid()}, TIME_ZONE {settings.TIME_ZONE}); "
                      f"first tick at {slot_label(next_minute)}")
        owed_from = None  # the first minute whose tick failed (the database did not answer)
        while not self.stopping and (max_ticks is None or len(self.ticked) < max_ticks):
            if not self._wait_until(next_minute):
                break
            current = as_slot(self.clock())
            skipped_from = owed_from or (next_minute if current > next_minute else None)
            owed_from = None if self.tick(current, skipped_from=skipped_from) else (skipped_from or current)
            next_minute = current + MINUTE
        self.shutdown()

    def tick(self, minute: datetime, *, skipped_from: datetime | None = None) -> bool:
        """Start every slot due at ``minute`` (plus catch-up), each in its own process. False when
        the database could not say what is due: the caller hands this minute to the next tick."""
        if skipped_from is not None:
            self.log.warning(f"not ticked on time: {slot_label(skipped_from)} to {slot_label(minute - MINUTE)} "
                             "(stopped or suspended?); their jobs are caught up now")
        close_old_connections()
        try:
            slots = slots_due(minute, now=self.clock(), trigger=RunTrigger.TICKER, skipped_from=skipped_from)
        except DatabaseError as exc:
            connection.close()  # a fresh connection at the next tick
            self.log.error(f"tick {slot_label(minute)}: the database did not answer ({type(exc).__name__}: {exc}); "
                           "this minute's jobs are caught up at the next tick")
            self.ticked.append(minute)
            return False
        started = launcher.launch_all(slots)
        self.running += started
        self.ticked.append(minute)
        self.log.info(f"tick {slot_label(minute)}: " + (", ".join(
            f"{launched.due.job.name}{' (catch-up ' + slot_label(launched.due.slot) + ')' if launched.due.slot != minute else ''}"
            f" pid {launched.pid}" for launched in started) or "nothing due"))
        for launched in started:
            if launched.process is None:
                self.log.error(launched.summary())
        return True

    def reap(self) -> None:
        """Log and forget the children that have finished."""
        still = []
        for launched in self.running:
            if launched.done:
                self._report(launched)
            else:
                still.append(launched)
        self.running = still

    def shutdown(self) -> None:
        self.reap()
        if self.running:
            self.log.info(f"waiting up to {self.grace:g} s for {len(self.running)} running job(s): "
                          + ", ".join(str(launched.due) for launched in self.running))
            launcher.stop(self.running, grace=self.grace)
            for launched in self.running:
                self._report(launched)
            self.running = []
        self.log.info("ticker stopped")

    def _report(self, launched: launcher.Launched) -> None:
        if launched.process is None:
            return  # reported when it failed to start
        line = f"{launched.due} (pid {launched.pid}): {launched.summary()}"
        (self.log.info if launched.ok else self.log.error)(line)

    def _wait_until(self, moment: datetime) -> bool:
        """Sleep until the wall clock reaches ``moment`` (False when asked to stop first). Short
        steps: a signal is noticed within a second, and a stepped clock is read again."""
        while not self.stopping:
            remaining = (moment - self.clock()).total_seconds()
            if remaining <= 0:
                return True
            self.sleep(min(remaining, 1.0))
            self.reap()
        return False
