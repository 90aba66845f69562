"""Is a cron daemon running here, and as whom would it run this user's lines."""
from __future__ import annotations

import getpass
import os
from pathlib import Path


def cron_daemon_running() -> bool | None:
    """Is a cron daemon (cron, crond, busybox crond) running on this host? None when unknown (no /proc)."""
    proc = Path("/proc")
    if not (proc / "self").exists():
        return None
    return bool(cron_daemon_pids(proc))


def cron_daemon_pids(proc: Path = Path("/proc")) -> list[int]:
    """Pids of live cron daemons. A zombie (a killed daemon its parent has not reaped yet)
    still shows its name, but it fires nothing, so it does not count."""
    pids = []
    for stat in proc.glob("[0-9]*/stat"):
        try:
            # "pid (comm) state …": comm may contain spaces, so split around the last ")".
            head, _, rest = stat.read_text().rpartition(")")
            comm, state = head.split("(", 1)[1], rest.split()[0]
        except (OSError, IndexError):  # the process ended meanwhile
            continue
        if comm in {"cron", "crond"} and state not in {"Z", "X"}:
            pids.append(int(stat.parent.name))
    return pids


def crontab_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
