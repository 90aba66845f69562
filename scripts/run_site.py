"""`make run`'s last step: whatever must start the jobs here, then the web server next to it.

One engine starts the jobs, and one line says which (basic/cron_runtime/observability/starter.py has the same answer
for the commands and the dashboard):
- SCHEDULER=cron with a cron daemon: `crontab add` installs the lines and the daemon fires them;
- SCHEDULER=cron without a daemon, or without a `crontab` program: `cronjobs serve` next to the site;
- SCHEDULER=celery: a Celery worker and beat next to the site; with Redis unreachable, one line naming
  CELERY_BROKER_URL, and the site alone.
Ctrl-C (or SIGTERM) stops all of them, and says so; the ticker and the worker let running jobs finish
or record them as interrupted.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))
# Long-running children print only what needs a look (warnings, errors) on this terminal.
QUIET = "WARNING"


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oms_test.settings")
    import django

    django.setup()


def _cron_daemon(choice: str) -> bool:
    from basic.cron_runtime.installer import cron_daemon_running

    return bool(cron_daemon_running()) if choice == "auto" else choice == "running"


def _child(command: list[str], **env) -> subprocess.Popen:
    # Its own process group: Ctrl-C reaches this script only, which then stops each child in order.
    return subprocess.Popen(command, cwd=PROJECT, start_new_session=True,
                            env={**os.environ, "LOG_LEVEL": os.environ.get("LOG_LEVEL", QUIET), **env})


def start_job_engine(manage: list[str], cron_daemon: str) -> tuple[list[tuple[str, subprocess.Popen]], str]:
    """Start what must start the jobs here; returns the children (name, process) and the line said on stop."""
    from basic.cron_runtime.installer import crontab_program_found
    from basic.cron_runtime.scheduling.engine import broker_status, broker_url_for_display, queues, uses_celery

    if uses_celery():
        broker = broker_status()
        if not broker.reachable:
            say(f"!! SCHEDULER=celery, but Redis at CELERY_BROKER_URL={broker_url_for_display()} is unreachable: no "
                "worker or beat started, so no job runs — start Redis (or fix CELERY_BROKER_URL) and `make run` again.")
            return [], ""
        celery = [sys.executable, "-m", "celery", "-A", "oms_test"]
        worker = _child([*celery, "worker", "--loglevel", QUIET, "--without-gossip", "--concurrency", "2"])
        beat = _child([*celery, "beat", "--loglevel", QUIET])
        say(f"SCHEDULER=celery: Celery beat (pid {beat.pid}) starts the jobs, one tick a minute through "
            f"CELERY_BROKER_URL={broker_url_for_display()}; a worker (pid {worker.pid}) runs them from the queues "
            f"{', '.join(queues())}. Ctrl-C stops both.")
        return [("Celery beat", beat), ("Celery worker", worker)], "Celery worker and beat stopped."
    serve_line = "`manage.py cronjobs serve` starts the jobs next to the web server (log: logs/crontab/serve.log)."
    if not crontab_program_found():
        say(f"No `crontab` program here (apt-get install cron), so no crontab lines: {serve_line}")
    elif subprocess.run([*manage, "crontab", "add"], cwd=PROJECT, check=False,
                        env={**os.environ, "LOG_LEVEL": os.environ.get("LOG_LEVEL", QUIET)}).returncode != 0:
        say(f"!! The crontab lines were NOT installed (see the message above): {serve_line}")
    elif _cron_daemon(cron_daemon):
        say("A cron daemon is running: the crontab lines start the jobs (`cronjobs serve` not started).")
        return [], ""
    else:
        say(f"No cron daemon is running, so the crontab lines start nothing: {serve_line}")
    return [("cronjobs serve", _child([*manage, "cronjobs", "serve"]))], "cronjobs serve stopped."


def simulator_url(addrport: str) -> str:
    """The simulated gateway on the site this script serves (a wildcard address is reached on loopback)."""
    host, _, port = addrport.rpartition(":")
    host = "127.0.0.1" if host in ("", "0", "0.0.0.0", "::", "[::]") else host
    return f"http://{host}:{port}/gateway/"


def say(line: str) -> None:
    print(line, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000",
                        help="where the web server listens (make run ADDR=… or PORT=…)")
    parser.add_argument("--cron-daemon", choices=["auto", "running", "absent"], default="auto",
                        help="auto: look for a running cron daemon (the others are for tests)")
    args = parser.parse_args()
    # Started from a script or CI without job control, this process (and so runserver) may have
    # inherited SIGINT as ignored: then Ctrl-C would stop nothing. It is the Ctrl-C target, so restore it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    _setup_django()
    from django.conf import settings

    if settings.GATEWAY_URL == settings.GATEWAY_SIMULATOR_URL:  # not chosen: the simulator of the site served here
        os.environ["GATEWAY_URL"] = simulator_url(args.addrport)  # the children (web, jobs) inherit it
    manage = [sys.executable, str(PROJECT / "manage.py")]
    engines, stopped_line = start_job_engine(manage, args.cron_daemon)
    say(f"Serving on http://{args.addrport}/  (Ctrl-C to stop)")
    web = subprocess.Popen([*manage, "runserver", args.addrport], cwd=PROJECT, start_new_session=True)
    children = [*(process for _, process in engines), web]

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        web.wait()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # an impatient second Ctrl-C must not cut the stop short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for child in children:
            if child.poll() is None:
                # runserver's autoreloader runs the server in a child of its own: signal the whole group.
                # SIGTERM lets the ticker and a Celery worker finish (warm shutdown) and record their runs.
                os.killpg(child.pid, signal.SIGINT if child is web else signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        if stopped_line:
            say(stopped_line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
