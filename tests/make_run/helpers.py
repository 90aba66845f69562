"""`scripts/run_site.py` (make run's last step) as a child process, and its dashboard seen in chromium."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading

from tests.cron_runtime.helpers import wait_for
from tests.helpers import PROJECT_DIR
from tests.smtp import free_port

STAFF_PASSWORD = "ops-make-run-123"


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


class RunSite:
    """`python scripts/run_site.py 127.0.0.1:PORT` with a chosen environment; every line it prints is kept."""

    def __init__(self, env: dict, *args: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen([sys.executable, "scripts/run_site.py", f"127.0.0.1:{self.port}", *args],
                                        env=env, cwd=PROJECT_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_until_serving(self) -> None:
        wait_for(lambda: _port_open(self.port) or self.process.poll() is not None, 90, "the web server")
        assert self.process.poll() is None, self.output

    def ctrl_c(self) -> None:
        """Ctrl-C, as in a terminal, and wait for everything to stop."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)  # never leave a site behind for the rest of the suite
            self.process.wait()
            raise
        self._reader.join(10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.ctrl_c()
        assert not _port_open(self.port)


def make_staff(django_user_model):
    return django_user_model.objects.create_user("ops", password=STAFF_PASSWORD, is_staff=True)


def open_dashboard(page, site: RunSite) -> None:
    """Log in as the staff user on the site run_site.py serves, and open the cron dashboard."""
    page.goto(f"{site.url}/accounts/login/?next=/staff/")
    page.get_by_label("用户名").fill("ops")
    page.get_by_label("密码").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{site.url}/staff/")


def dashboard_after_heartbeat(page, site: RunSite, engine_trigger: str) -> None:
    """Reload the dashboard until the engine's first heartbeat shows (it beats at the start of a minute)."""

    def beat_shown():
        page.reload()
        return page.locator(f'#heartbeat [data-engine="{engine_trigger}"]').count() > 0

    wait_for(beat_shown, 100, f"a heartbeat started by {engine_trigger} on the dashboard", interval=3)
