"""Helpers shared by the runtime's tests: running manage.py, the real crontab, waiting, fake processes."""
from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from datetime import datetime

import pytest

from tests.helpers import PROJECT_DIR

CRONTAB = "/usr/bin/crontab"


def run_manage(manage_py, env, *args, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([*manage_py, *args], env=env, cwd=PROJECT_DIR, capture_output=True, text=True,
                          timeout=timeout, check=False)


def crontab_text() -> str:
    proc = subprocess.run([CRONTAB, "-l"], capture_output=True, text=True, check=False)
    return proc.stdout if proc.returncode == 0 else ""


def set_crontab(text: str) -> None:
    if text:
        subprocess.run([CRONTAB, "-"], input=text, text=True, check=True)
    else:
        subprocess.run([CRONTAB, "-r"], capture_output=True, check=False)


class RecordingLog:
    """The ticker's log, kept as a list of its lines (info, warning and error alike)."""

    def __init__(self):
        self.lines = []

    def info(self, text):
        self.lines.append(text)

    warning = error = info


@dataclass
class FakeProcess:
    """Stands in for a started child in in-process tests (see the recorded_launches fixture)."""

    pid: int
    returncode: int | None = 0

    def poll(self):
        return self.returncode

    def wait(self, timeout=None):
        return self.returncode


def start(manage_py, env, *args, **popen) -> subprocess.Popen:
    """`manage.py ARGS` as a child process, its output captured as text."""
    return subprocess.Popen([*manage_py, *args], env=env, cwd=PROJECT_DIR, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def wait_for(condition, timeout: float, what: str, interval: float = 0.1):
    """Poll ``condition`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def lines(text: str) -> list[str]:
    """The non-empty lines of a process's output."""
    return [line for line in text.splitlines() if line.strip()]


def wait_for_room_in_the_minute(seconds: float = 15) -> datetime:
    """Wait until at least ``seconds`` are left in the current minute (and 5 s have passed, the slack
    of process_start_tick); return that minute (UTC). Processes started now share its slot."""
    from django.utils import timezone

    while True:
        now = timezone.now()
        if 5 <= now.second < 60 - seconds:
            return now.replace(second=0, microsecond=0)
        time.sleep(0.5)
