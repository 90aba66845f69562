"""Reading and writing the user's crontab through the `crontab` program, every exit code checked."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from basic.cron_runtime.installer.locations import crontab_executable


# Where cron daemons keep the users' crontabs: Debian's cron and busybox, then Red Hat's cronie.
CRON_SPOOL_DIRS = (Path("/var/spool/cron/crontabs"), Path("/var/spool/cron"))


class CrontabError(Exception):
    """The crontab could not be read or written; the message says why and what to do."""


def _crontab(args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess:
    executable = crontab_executable()
    try:
        return subprocess.run([executable, *args], input=stdin, check=False, capture_output=True, text=True,
                              env={**os.environ, "LC_ALL": "C"}, timeout=60)
    except FileNotFoundError:
        raise CrontabError(
            f"the `crontab` program was not found at {executable} (install cron: apt-get install cron; "
            "or set CRONTAB_EXECUTABLE)"
        ) from None
    except PermissionError as exc:
        raise CrontabError(f"cannot run the crontab program {executable}: {exc.strerror} — make it executable "
                           "for this user, or set CRONTAB_EXECUTABLE") from None
    except subprocess.TimeoutExpired:
        raise CrontabError(f"the crontab program {executable} did not answer within 60 s, nothing was changed — "
                           "try `crontab -l` by hand") from None


def _said(proc: subprocess.CompletedProcess) -> str:
    """What the crontab program printed, on one line."""
    return "; ".join(line.strip() for line in (proc.stderr or proc.stdout).splitlines() if line.strip())


ALLOWED_HINT = "is this user allowed to use cron? (/etc/cron.allow, /etc/cron.deny)"


def read_crontab() -> list[str]:
    """The current user's crontab lines; [] when the user has none."""
    proc = _crontab(["-l"])
    if proc.returncode != 0:
        if "no crontab for" in proc.stderr:
            return []
        raise CrontabError(f"`crontab -l` failed (exit {proc.returncode}): {_said(proc)} — {ALLOWED_HINT}")
    return proc.stdout.splitlines()


def wait_for_next_spool_second(spool_dirs=CRON_SPOOL_DIRS) -> None:
    """Wait (at most a second) until the clock has left the second of the crontab spool's last change.

    Debian's cron notices a changed crontab only through the spool folder's mtime, compared in
    whole seconds with the mtime it saw at its last load. A change made in the same second as an
    earlier one that the daemon had already loaded is therefore never noticed (until some later
    change): the jobs silently do not run. Writing only in a later second closes that window.
    """
    for spool in spool_dirs:
        try:
            last_change = spool.stat().st_mtime
        except OSError:  # not this daemon's layout, or not readable by this user: nothing to compare
            continue
        wait = int(last_change) + 1 - time.time()
        if 0 < wait <= 1:  # (an mtime further ahead is clock skew; waiting would not help)
            time.sleep(wait)
        return


def write_crontab(lines: list[str]) -> None:
    wait_for_next_spool_second()
    proc = _crontab(["-"], stdin="".join(line + "\n" for line in lines))
    if proc.returncode != 0:
        raise CrontabError(
            f"the crontab program rejected the new crontab (exit {proc.returncode}), nothing was changed: "
            f"{_said(proc)} — a line it cannot read, or {ALLOWED_HINT}"
        )
    installed = read_crontab()
    missing = [line for line in lines if line not in installed]
    if missing:
        raise CrontabError(f"the crontab was written but {len(missing)} line(s) are not in it when read back, "
                           f"first: {missing[0]}")
