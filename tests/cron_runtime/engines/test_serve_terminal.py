"""`cronjobs serve` started by hand on a terminal prints what it writes to serve.log, as other commands do."""
from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import time

import pytest

from tests.helpers import PROJECT_DIR

pytestmark = [pytest.mark.one_database, pytest.mark.django_db(transaction=True)]


def _read_until(fd: int, text: str, timeout: float, seen: bytearray) -> str:
    deadline = time.monotonic() + timeout
    while text.encode() not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            shown = seen.decode(errors="replace")
            pytest.fail(f"{text!r} not printed within {timeout} s; the terminal showed:\n{shown}")
        ready, _, _ = select.select([fd], [], [], min(left, 1))
        if ready:
            try:
                seen += os.read(fd, 4096)
            except OSError:  # the other end closed: the process is gone
                break
    return seen.decode(errors="replace")


def test_serve_on_a_terminal_prints_its_start_each_tick_and_its_stop_and_keeps_its_log(cron_env, manage_py, tmp_path):
    terminal, child_side = pty.openpty()
    serve = subprocess.Popen([*manage_py, "cronjobs", "serve"], env={**cron_env, "LOG_LEVEL": "INFO"}, cwd=PROJECT_DIR,
                             stdin=child_side, stdout=child_side, stderr=child_side, start_new_session=True)
    os.close(child_side)
    seen = bytearray()
    try:
        _read_until(terminal, "ticker started", 60, seen)
        _read_until(terminal, "| tick ", 75, seen)  # the first tick, at the start of the next minute
        serve.send_signal(signal.SIGTERM)
        shown = _read_until(terminal, "ticker stopped", 60, seen)
        assert serve.wait(60) == 0
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
        os.close(terminal)
    assert "| INFO     |" in shown and "SIGTERM received: stopping" in shown
    assert "heartbeat" in shown.split("| tick ", 1)[1].splitlines()[0]  # the summary names what it started
    log = (tmp_path / "logs" / "crontab" / "serve.log").read_text()
    for line in ("ticker started", "SIGTERM received: stopping", "ticker stopped"):
        assert line in log  # the file keeps every line, terminal or not


def test_serve_without_a_terminal_prints_nothing_but_writes_its_log(cron_env, manage_py, tmp_path):
    serve = subprocess.Popen([*manage_py, "cronjobs", "serve"], env={**cron_env, "LOG_LEVEL": "INFO"}, cwd=PROJECT_DIR,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = tmp_path / "logs" / "crontab" / "serve.log"
    deadline = time.monotonic() + 60
    while not (log.exists() and "ticker started" in log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.2)
    serve.send_signal(signal.SIGTERM)
    out, err = serve.communicate(timeout=60)
    assert "ticker started" in log.read_text() and "ticker stopped" in log.read_text()
    assert "ticker started" not in out + err  # a pipe (make run, systemd, cron): the file is the place to look
