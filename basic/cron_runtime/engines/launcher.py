"""Start each run in a process of its own: ``manage.py cronjobs run NAME --slot … --trigger …`` for
a due slot, ``manage.py cronjobs run NAME --trigger manual --triggered-by PK`` for the staff's Run now.

A slow job never delays another, a job that crashes its process never takes the engine down,
and every run has its own lease, run record and log, exactly as when cron starts it. Children
get a session of their own: Ctrl-C in the engine's terminal reaches the engine only, which
decides what happens to them (``stop``), and a detached child outlives the process that
started it (the heartbeat's catch-up under OS cron; Run now, which must not hold a web worker).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from django.conf import settings

from basic.cron_runtime.models import RunTrigger
from basic.cron_runtime.scheduling.registry import Job
from basic.cron_runtime.scheduling.ticks import DueSlot


@dataclass(frozen=True)
class ManualStart:
    """A run a staff member asked for (Run now): no slot, so never refused as a slot's second run."""

    job: Job
    triggered_by: int  # the user's pk, recorded as JobRun.triggered_by
    trigger: str = RunTrigger.MANUAL

    def __str__(self) -> str:
        return f"{self.job.name} (manual)"


def command(due: DueSlot | ManualStart) -> list[str]:
    """The command line that runs ``due`` through the runner."""
    if isinstance(due, ManualStart):
        when = ["--triggered-by", str(due.triggered_by)]
    else:  # a catch_up="all" backlog: one process runs its slots in order, one at a time
        when = [arg for slot in due.slots for arg in ("--slot", slot.isoformat())]
        if due.attempt > 1:
            when += ["--attempt", str(due.attempt)]
    return [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "cronjobs", "run", due.job.name,
            *when, "--trigger", str(due.trigger)]


def child_env() -> dict[str, str]:
    # The job's lines go to its own log file; the console (captured here) keeps warnings and the
    # one-line summary, as under a crontab line.
    return {**os.environ, "LOG_LEVEL": "WARNING"}


@dataclass
class Launched:
    """A slot started in its own process (or the reason it could not be started)."""

    due: DueSlot | ManualStart
    process: subprocess.Popen | None
    error: str = ""  # could not start the process at all
    output: str = ""  # what the child printed (its summary line, warnings), once finished
    _capture: IO | None = field(default=None, repr=False)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def returncode(self) -> int | None:
        return self.process.returncode if self.process else None

    @property
    def done(self) -> bool:
        """Finished (or never started); reaps the child and collects its output."""
        if self.process is None:
            return True
        if self.process.poll() is None:
            return False
        self._collect()
        return True

    @property
    def ok(self) -> bool:
        return self.process is not None and self.process.returncode == 0

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the child; False when it still runs after ``timeout`` seconds."""
        if self.process is not None:
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                return False
        return self.done

    def terminate(self) -> None:
        """SIGTERM: the runner records the run as terminated and releases its lease."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def summary(self) -> str:
        """One line: what the child said last (its run summary), or why it failed."""
        if self.process is None:
            return f"{self.due}: could not start: {self.error}"
        lines = [line.removeprefix("CommandError: ") for line in self.output.splitlines() if line.strip()]
        said = lines[-1] if lines else "(no output)"
        return said if self.ok else f"{said} [exit {self.process.returncode}]"

    def _collect(self) -> None:
        if self._capture is not None:
            self._capture.seek(0)
            self.output = self._capture.read().decode("utf-8", "replace")
            self._capture.close()
            self._capture = None


def launch(due: DueSlot | ManualStart, *, output_path: Path | None = None) -> Launched:
    """Start ``due`` now, without waiting. Its output is kept for ``summary()``, or appended to
    ``output_path`` (a detached start nobody waits for). A process that cannot be started (an
    output file that cannot be opened, say) is a Launched without a process, never an exception."""
    capture = None
    try:
        capture = open(output_path, "ab") if output_path else tempfile.TemporaryFile()  # noqa: SIM115 — closed by _collect
        process = subprocess.Popen(command(due), cwd=settings.BASE_DIR, env=child_env(), stdin=subprocess.DEVNULL,
                                   stdout=capture, stderr=subprocess.STDOUT, start_new_session=True)
    except OSError as exc:
        if capture is not None:
            capture.close()
        return Launched(due, None, error=f"{type(exc).__name__}: {exc}")
    if output_path:
        capture.close()  # the child has its own copy of the file
        return Launched(due, process)
    return Launched(due, process, _capture=capture)


def launch_manual(job: Job, *, triggered_by: int) -> Launched:
    """Run now: start ``job`` detached, its output appended to ``logs/crontab/manual-<job>.out`` (a name
    of its own: cron's lines and catch-up write ``cron-<job>.out``). The process that starts it (a web
    worker) lives on and never waits for it: a thread does, so that the finished child does not stay
    behind as a zombie."""
    from basic.cron_runtime.installer import manual_output_path

    started = launch(ManualStart(job, triggered_by), output_path=manual_output_path(job))
    if started.process is not None:
        threading.Thread(target=started.process.wait, name=f"reap {started.due} pid {started.pid}",
                         daemon=True).start()
    return started


def launch_all(slots: list[DueSlot]) -> list[Launched]:
    return [launch(due) for due in slots]


def wait_all(launched: list[Launched]) -> list[Launched]:
    for started in launched:
        started.wait()
    return launched


def stop(launched: list[Launched], *, grace: float) -> list[Launched]:
    """Give the running children ``grace`` seconds to finish, then SIGTERM the rest and wait for
    them: each run is either finished or recorded as terminated, never left 'running'."""
    deadline = time.monotonic() + grace
    while not all(started.done for started in launched) and time.monotonic() < deadline:
        time.sleep(0.1)
    for started in launched:
        started.terminate()
    return wait_all(launched)
