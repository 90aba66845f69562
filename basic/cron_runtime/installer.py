"""Install this checkout's jobs into the user's crontab, and read them back.

What django-crontab 0.7.1 gets wrong and this module does not:
- ``crontab -l`` / ``crontab -`` run through subprocess with their exit codes checked: a
  missing program or a rejected file is a ``CrontabError`` (the command exits non-zero), and
  after writing, the crontab is read back to verify the lines are there;
- each line works under cron's bare environment: it changes to the project folder, sets the
  settings module and ``OMS_ENV_FILE`` (``.cron.env``, mode 0600, holding the environment the
  settings read — secrets stay out of the crontab), and every path is shell-quoted;
- every line carries a marker ``# django-cronjobs for oms_test [<checkout id>] <job>``; the
  checkout id is derived from the project folder, so two checkouts on one host never touch each
  other's lines, and lines of other projects are left alone;
- ``add`` replaces all of this checkout's lines (also stale ones from an older CRONJOBS) in one
  write; ``show``/``remove`` treat lines whose hash is no longer in CRONJOBS as stale, not as errors.
"""
from __future__ import annotations

import getpass
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import environ
from django.conf import settings

from basic.cron_runtime.engine import uses_celery
from basic.cron_runtime.faults import file_fault, shown_path
from basic.cron_runtime.registry import CronjobsConfigError, Job, all_jobs, parse_entry
from basic.cron_runtime.schedule import InstalledSchedule, installed_schedule

MARKER = re.compile(r"\s#\s(?P<comment>.+?) \[(?P<checkout>[0-9a-f]{8})\] (?P<name>[A-Za-z0-9_.-]+)\s*$")
RUN_HASH = re.compile(r"\bcrontab run (?P<hash>[0-9a-f]{32})\b")
ENV_FILE_NAME = ".cron.env"
# A line of .env.example that documents a variable, set or commented out ("# NAME=value").
DOCUMENTED_VARIABLE = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=", re.MULTILINE)
# Documented, but the crontab line sets them itself (build_line()).
ENV_FILE_EXCLUDED = {"OMS_ENV_FILE", "LOG_LEVEL"}
# Where cron daemons keep the users' crontabs: Debian's cron and busybox, then Red Hat's cronie.
CRON_SPOOL_DIRS = (Path("/var/spool/cron/crontabs"), Path("/var/spool/cron"))


class CrontabError(Exception):
    """The crontab could not be read or written; the message says why and what to do."""


@dataclass(frozen=True)
class CrontabLine:
    """One line of the user's crontab, seen from this checkout."""

    text: str
    ours: bool = False  # written by this checkout (or by stock django-crontab from this folder)
    name: str = ""
    job_hash: str = ""
    schedule: str = ""
    job: Job | None = None  # the CRONJOBS job with that hash; None on a stale line
    other_folder: bool = False  # ours by CRON_CHECKOUT_ID, but runs another folder (an older release)

    @property
    def stale(self) -> bool:
        return self.ours and (self.job is None or self.other_folder)

    @property
    def stale_reason(self) -> str:
        if self.other_folder:
            return "it runs the code of another folder (an older release?)"
        return "its job is no longer in CRONJOBS"


# --- where things are --------------------------------------------------------------------------

def django_crontab_settings():
    from django_crontab.app_settings import Settings  # its names: CRONTAB_EXECUTABLE, CRONTAB_COMMENT, …

    return Settings(settings)


def checkout_id() -> str:
    """Short id of this installation: lines of another checkout carry another id.

    Derived from the project folder, unless ``CRON_CHECKOUT_ID`` names the installation: with
    release-directory deploys (``/srv/shop/releases/<n>`` behind a ``current`` symlink) every
    release is another folder, and without a shared name the new release's ``crontab add``
    would leave the old release's lines running the old code.
    """
    name = getattr(settings, "CRON_CHECKOUT_ID", "") or str(Path(settings.BASE_DIR).resolve())
    return hashlib.sha1(name.encode()).hexdigest()[:8]


def crontab_executable() -> str:
    if hasattr(settings, "CRONTAB_EXECUTABLE"):
        return settings.CRONTAB_EXECUTABLE
    return shutil.which("crontab") or "/usr/bin/crontab"


def env_file_path() -> Path:
    return Path(settings.BASE_DIR) / ENV_FILE_NAME


def cron_output_path(job: Job) -> Path:
    """What the job's process prints outside its log (its one-line failure, a fault) goes here."""
    return Path(settings.CRON_LOG_DIR) / f"cron-{job.name}.out"


def send_output_to_cron_file(job: Job) -> str | None:
    """Under cron: append this process's stdout and stderr to ``cron_output_path(job)``.

    The installed line redirects nothing itself: a shell redirect to a file that cannot be
    opened would stop the job before Python starts, leaving no trace at all. Done here, a file
    that cannot be opened changes nothing but where the output goes (cron's own handling: mail
    to the crontab's owner, or syslog); returns why, or None when the file took the output.
    """
    path = cron_output_path(job)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        return file_fault(exc)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, sys.stdout.fileno())
    os.dup2(fd, sys.stderr.fileno())
    os.close(fd)
    return None


def log_write_problems() -> list[str]:
    """What keeps this user from writing the jobs' logs (the folder, or a job's files in it), one line each.

    Tried for real where it can be (root and read-only mounts make permission bits meaningless).
    Typical cause: someone ran a job as root once, and its log file now belongs to root.
    """
    folder = Path(settings.CRON_LOG_DIR)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as exc:  # name the folder itself, not the parent or temporary file that failed
        return [file_fault(OSError(exc.errno, exc.strerror, str(folder))) or f"cannot write {shown_path(folder)}: {exc}"]
    problems = []
    for job in _parsable_jobs():
        for path in (folder / f"{job.name}.log", cron_output_path(job)):
            if path.exists():
                try:
                    with open(path, "a"):
                        pass
                except OSError as exc:
                    problems.append(file_fault(exc) or f"cannot write {shown_path(path)}: {exc}")
    return problems


def _parsable_jobs() -> list[Job]:
    """The jobs of CRONJOBS that can be read (the malformed ones are the checks' business)."""
    jobs = []
    for entry in getattr(settings, "CRONJOBS", []):
        try:
            jobs.append(parse_entry(entry))
        except CronjobsConfigError:
            continue
    return jobs


# --- reading and writing the crontab -------------------------------------------------------------

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


# --- this checkout's lines -----------------------------------------------------------------------

def build_line(job: Job, installed: InstalledSchedule) -> str:
    crontab_settings = django_crontab_settings()
    base_dir = Path(settings.BASE_DIR).resolve()
    settings_module = getattr(settings, "CRONTAB_DJANGO_SETTINGS_MODULE", None) or \
        os.environ.get("DJANGO_SETTINGS_MODULE") or settings.SETTINGS_MODULE
    q = shlex.quote
    command = " ".join(part for part in [
        "cd", q(str(base_dir)), "&&",
        "LANG=C.UTF-8", f"DJANGO_SETTINGS_MODULE={q(settings_module)}", f"OMS_ENV_FILE={q(str(env_file_path()))}",
        # The job's log file has every line; cron's output file only gets warnings and what
        # escapes logging (a broken import, a crash at startup), so it stays small.
        "LOG_LEVEL=WARNING",
        crontab_settings.COMMAND_PREFIX,
        q(crontab_settings.PYTHON_EXECUTABLE), q(str(Path(crontab_settings.DJANGO_MANAGE_PATH).resolve())),
        # No redirect: the runner sends its output to logs/crontab/cron-<job>.out itself (see
        # send_output_to_cron_file), so a log folder it cannot write never keeps the job from starting.
        "crontab", "run", job.hash, "--scheduled", job.suffix, crontab_settings.COMMAND_SUFFIX,
    ] if part)
    command = command.replace("%", r"\%")  # cron turns a bare % into a newline
    return f"{installed.schedule} {command} # {crontab_settings.CRONTAB_COMMENT} [{checkout_id()}] {job.name}"


def expected_lines() -> list[tuple[Job, InstalledSchedule, str]]:
    return [(job, sched, build_line(job, sched)) for job in all_jobs()
            for sched in [installed_schedule(job.schedule)]]


def parse_line(text: str, jobs_by_hash: dict[str, Job] | None = None) -> CrontabLine:
    if jobs_by_hash is None:
        jobs_by_hash = {job.hash: job for job in all_jobs()}
    comment = django_crontab_settings().CRONTAB_COMMENT
    marker = MARKER.search(text)
    run_hash = RUN_HASH.search(text)
    job_hash = run_hash["hash"] if run_hash else ""
    schedule = " ".join(text.split()[:5])
    if marker and marker["comment"] == comment and marker["checkout"] == checkout_id():
        # With CRON_CHECKOUT_ID, releases in other folders share the id: a line that does not
        # `cd` into this folder is stale, so a forgotten `crontab add` shows as drift.
        here = f"cd {shlex.quote(str(Path(settings.BASE_DIR).resolve()))} "
        return CrontabLine(text, True, marker["name"], job_hash, schedule, jobs_by_hash.get(job_hash),
                           other_folder=here not in text)
    # A line of stock django-crontab, installed from this very folder before we took over.
    if text.rstrip().endswith(f"# {comment}") and str(Path(settings.BASE_DIR).resolve() / "manage.py") in text:
        job = jobs_by_hash.get(job_hash)
        return CrontabLine(text, True, job.name if job else "", job_hash, schedule, None)
    return CrontabLine(text)


def current_lines() -> list[CrontabLine]:
    jobs_by_hash = {job.hash: job for job in all_jobs()}
    return [parse_line(text, jobs_by_hash) for text in read_crontab()]


# --- the three commands' work --------------------------------------------------------------------

@dataclass
class InstallReport:
    added: list[str]
    removed: list[str]
    unchanged: list[str]
    others_kept: int
    env_variables: list[str]
    widened: list[tuple[Job, InstalledSchedule]]


def install() -> InstallReport:
    """Make the crontab hold exactly the current CRONJOBS for this checkout, in one write."""
    wanted = expected_lines()
    lines = current_lines()  # first: a missing or broken crontab program stops us before any write
    env_variables = write_env_file()
    ours = [line.text for line in lines if line.ours]
    others = [line.text for line in lines if not line.ours]
    new_ours = [text for _, _, text in wanted]
    if ours != new_ours:
        write_crontab(others + new_ours)
    return InstallReport(
        added=[text for text in new_ours if text not in ours],
        removed=[text for text in ours if text not in new_ours],
        unchanged=[text for text in new_ours if text in ours],
        others_kept=len(others),
        env_variables=env_variables,
        widened=[(job, sched) for job, sched, _ in wanted if sched.widened],
    )


def uninstall() -> list[CrontabLine]:
    """Remove this checkout's lines (stale or not) and its .cron.env; other lines stay."""
    lines = current_lines()
    ours = [line for line in lines if line.ours]
    if ours:
        write_crontab([line.text for line in lines if not line.ours])
    env_file_path().unlink(missing_ok=True)
    return ours


def left_over_under_celery(count: int) -> str:
    return (f"{count} crontab line(s) of this checkout are still installed although SCHEDULER=celery: harmless "
            "(one run per slot) but every slot is started twice — `python manage.py crontab remove`")


def crontab_drift() -> list[str]:
    """How the installed crontab differs from CRONJOBS, one line each; [] = in sync.

    Compares jobs (hash and installed schedule), not whole lines, so a web process whose
    Python path differs from the one that ran `crontab add` does not see drift.
    """
    try:
        lines = current_lines()
    except CrontabError as exc:
        return [] if uses_celery() else [str(exc)]
    ours = [line for line in lines if line.ours]
    if uses_celery():  # beat owns the schedule: any line of ours is one too many
        return [left_over_under_celery(len(ours))] if ours else []
    problems = []
    for job in all_jobs():
        schedule = installed_schedule(job.schedule).schedule
        mine = [line for line in ours if line.job_hash == job.hash]
        if not mine:
            problems.append(f"{job.name}: not in the crontab (run `python manage.py crontab add`)")
        elif all(line.schedule != schedule for line in mine):
            problems.append(f"{job.name}: installed as '{mine[0].schedule}' but should be '{schedule}' "
                            "(the host timezone changed?) — run `python manage.py crontab add`")
    for line in ours:
        if line.stale:
            problems.append(f"stale crontab line {line.name or line.job_hash}: {line.stale_reason} "
                            "(run `python manage.py crontab add`)")
    return problems


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


# --- the environment file ----------------------------------------------------------------------

def _dotenv_values() -> dict[str, str]:
    """What the project's .env holds: those values need no copy, cron reads .env itself."""

    class Capture(environ.Env):
        ENVIRON: ClassVar[dict] = {}

    path = Path(settings.BASE_DIR) / ".env"
    if path.is_file():
        Capture.read_env(str(path), overwrite=True)
    return Capture.ENVIRON


def configuration_variables() -> set[str]:
    """Every variable the settings read: those .env.example documents (a test keeps the two equal)."""
    path = Path(settings.BASE_DIR) / ".env.example"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CrontabError(f"cannot read {shown_path(path)} ({exc.strerror or exc}): it lists the variables "
                           f"`crontab add` copies into {ENV_FILE_NAME}; restore it from the repository") from None
    return set(DOCUMENTED_VARIABLE.findall(text))


def env_file_variables() -> set[str]:
    """The variables .cron.env may hold: the settings' own, plus a site's CRON_ENV_EXTRA_VARIABLES."""
    return (configuration_variables() | set(settings.CRON_ENV_EXTRA_VARIABLES)) - ENV_FILE_EXCLUDED


def write_env_file() -> list[str]:
    """Write .cron.env (mode 0600) from this process's environment; returns the variable names.

    Values that come from .env are left out (cron reads .env too, and a later edit of .env
    must not be shadowed by an old copy). Values with a newline cannot be written and are
    skipped (a .env line holds one value).
    """
    from_dotenv, wanted = _dotenv_values(), env_file_variables()
    values = {key: value for key, value in sorted(os.environ.items())
              if key in wanted and "\n" not in value and from_dotenv.get(key) != value}
    path = env_file_path()
    body = ("# Written by `manage.py crontab add`: the environment cron's jobs run with. Do not commit.\n"
            + "".join(f"{key}='{value}'\n" for key, value in values.items()))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".cron.env.")  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(body)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return list(values)
