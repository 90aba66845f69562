"""`make run`'s last step: the web server, and `manage.py cronjobs serve` next to it when no cron daemon runs.

With a cron daemon, the crontab lines that `crontab add` installed start the jobs and the ticker is
not started. Without one (containers, CI images, many laptops) the embedded ticker starts them.
One line says which. Ctrl-C (or SIGTERM) stops both; the ticker lets running jobs finish or
records them as interrupted.
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


def cron_daemon_running() -> bool:
    from basic.cron_runtime.installer import cron_daemon_running as running  # reads /proc only

    return bool(running())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000", help="where runserver listens")
    parser.add_argument("--cron-daemon", choices=["auto", "running", "absent"], default="auto",
                        help="auto: look for a running cron daemon (the others are for tests)")
    args = parser.parse_args()
    # Started from a script or CI without job control, this process (and so runserver) may have
    # inherited SIGINT as ignored: then Ctrl-C would stop nothing. It is the Ctrl-C target, so restore it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    daemon = cron_daemon_running() if args.cron_daemon == "auto" else args.cron_daemon == "running"
    manage = [sys.executable, str(PROJECT / "manage.py")]
    children: list[subprocess.Popen] = []
    if daemon:
        print("A cron daemon is running: the crontab lines start the jobs (`cronjobs serve` not started).", flush=True)
    else:
        print("No cron daemon is running: `manage.py cronjobs serve` starts the jobs next to the web server "
              "(log: logs/crontab/serve.log).", flush=True)
        # Its own process group: Ctrl-C reaches this script, which stops the ticker with SIGTERM (clean stop).
        children.append(subprocess.Popen([*manage, "cronjobs", "serve"], cwd=PROJECT, start_new_session=True,
                                         env={**os.environ, "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING")}))
    web = subprocess.Popen([*manage, "runserver", args.addrport], cwd=PROJECT, start_new_session=True)
    children.append(web)

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
                os.killpg(child.pid, signal.SIGINT if child is web else signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
