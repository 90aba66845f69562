"""Who starts the jobs on this host, and who started the heartbeat last: the one answer that every
message naming an engine uses (`make run`, `cronjobs list|status`, `crontab show`, the dashboard,
/healthz/cron).

Four answers, exactly one true at a time:
- ``crontab``: this checkout's crontab lines are installed and a cron daemon runs them;
- ``serve``: `cronjobs serve` runs on this host (its lock file is held);
- ``celery``: SCHEDULER=celery, beat ticks through a broker that answers;
- ``nobody``: none of these — a problem, named with its cause and the fix.

The crontab lines count only with a daemon to fire them, and `cronjobs serve` only while its lock
is held: an installed line on a host without a daemon starts nothing.
"""
from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from datetime import timedelta

from django.utils.html import format_html
from django.utils.safestring import mark_safe

from basic.cron_runtime import conf
from basic.cron_runtime.scheduling.engine import BrokerStatus, broker_status, broker_url_for_display, queues, uses_celery

CRONTAB, SERVE, CELERY, NOBODY = "crontab", "serve", "celery", "nobody"

# What each engine's heartbeat trigger is called on the dashboard, and in English.
TRIGGER_NAMES = {"cron": "cron 守护进程", "ticker": "cronjobs serve", "celery": "Celery beat"}
TRIGGER_NAMES_EN = {"cron": "the cron daemon", "ticker": "cronjobs serve", "celery": "Celery beat"}


@dataclass(frozen=True)
class JobStarter:
    kind: str  # CRONTAB, SERVE, CELERY or NOBODY
    line: str  # one English line: commands, `make run`, /healthz/cron
    line_zh: str  # the same in Chinese for the dashboard (HTML: commands and settings in <code>)
    fix: str = ""  # under NOBODY: what to start (English)
    crontab_lines_installed: bool = False  # this checkout's lines are in the crontab (widened notes only then)

    @property
    def nobody(self) -> bool:
        return self.kind == NOBODY


def serve_pid() -> int | None:
    """The pid of this installation's `cronjobs serve` on this host, or None when none runs.

    Its lock file is held (flock) for as long as it serves and released by the kernel when it
    dies: a lock we can take ourselves means nobody serves.
    """
    from basic.cron_runtime.engines.ticker import lock_path

    try:
        fd = os.open(lock_path(), os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 32, 0).decode(errors="replace").strip()
            return int(text) if text.isdigit() else 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _crontab_here() -> tuple[bool, bool, str]:
    """(crontab program found, this checkout's live lines installed, why the crontab could not be read)."""
    from basic.cron_runtime.installer import CrontabError, crontab_program_found, current_lines

    if not crontab_program_found():
        return False, False, ""
    try:
        lines = current_lines()
    except CrontabError as exc:
        return True, False, str(exc)
    return True, any(line.ours and not line.stale for line in lines), ""


def jobs_starter(*, broker: BrokerStatus | None = None) -> JobStarter:
    """Who starts the jobs on this host now (see the module's docstring)."""
    if uses_celery():
        return _celery_starter(broker or broker_status())
    from basic.cron_runtime.installer import cron_daemon_running

    program, installed, unreadable = _crontab_here()
    daemon = cron_daemon_running()  # None: cannot tell (no /proc); the lines are trusted then
    serving = serve_pid()
    if installed and daemon is not False:
        also = (f" (and `cronjobs serve`, pid {serving}, too: harmless, one run per slot, but wasteful)"
                if serving is not None else "")
        also_zh = format_html("（<code>cronjobs serve</code>（pid {}）也在启动它们：无害，每个时段只运行一次，但多余）",
                              serving) if serving is not None else ""
        return JobStarter(CRONTAB, f"engine: cron — the crontab lines of `crontab add`, fired by the cron daemon, "
                                   f"start the jobs{also}",
                          format_html("调度引擎：cron 守护进程按 <code>crontab add</code> 安装的 crontab 行启动任务{}",
                                      also_zh),
                          crontab_lines_installed=True)
    why, why_zh, fix = _why_not_crontab(program, installed, unreadable, daemon)
    if serving is not None:
        return JobStarter(SERVE, f"engine: cronjobs serve (pid {serving}) starts the jobs on this host ({why})",
                          format_html("调度引擎：<code>cronjobs serve</code>（pid {}）在本机启动任务（{}）", serving, why_zh),
                          crontab_lines_installed=installed)
    return JobStarter(NOBODY, f"engine: nobody starts the jobs on this host — {why} and `cronjobs serve` is not "
                              f"running; {fix}",
                      format_html("调度引擎：本机没有任何程序启动任务——{}，<code>cronjobs serve</code> 也没有运行",
                                  why_zh),
                      fix=fix, crontab_lines_installed=installed)


def _why_not_crontab(program: bool, installed: bool, unreadable: str, daemon: bool | None):
    """Why the crontab starts nothing here: (English, Chinese HTML, the fix in English)."""
    serve = "start `python manage.py cronjobs serve`"
    if not program:
        return ("the `crontab` program is not installed", mark_safe("没有安装 <code>crontab</code> 程序"),
                f"{serve}, or install cron (apt-get install cron) and run `python manage.py crontab add`")
    if unreadable:
        return (f"the crontab cannot be read ({unreadable})", format_html("crontab 无法读取（{}）", unreadable),
                f"fix the crontab, or {serve}")
    if installed:
        return ("the crontab lines are installed but no cron daemon runs",
                mark_safe("crontab 行已安装，但没有 cron 守护进程在运行"),
                f"start the cron daemon (`service cron start`, or `cron -f` in a container), or {serve}")
    if daemon is False:
        return ("no crontab lines of this checkout are installed and no cron daemon runs",
                mark_safe("crontab 中没有本项目的任务行，也没有 cron 守护进程在运行"),
                f"{serve} (or `python manage.py crontab add` and start a cron daemon)")
    return ("no crontab lines of this checkout are installed",
            mark_safe("crontab 中没有本项目的任务行（<code>python manage.py crontab add</code>）"),
            f"run `python manage.py crontab add`, or {serve}")


def _celery_starter(broker: BrokerStatus | None) -> JobStarter:
    url = broker_url_for_display()
    if broker is not None and not broker.reachable:
        fix = "start Redis or fix CELERY_BROKER_URL"
        # Short: the problem line of broker_status() names the address, the error and the fix.
        return JobStarter(NOBODY, "engine: nobody starts the jobs — SCHEDULER=celery, but Celery's Redis "
                                  "(CELERY_BROKER_URL) does not answer, so beat cannot tick",
                          format_html("调度引擎：没有程序能启动任务——<code>SCHEDULER=celery</code>，但 "
                                      "<code>CELERY_BROKER_URL={}</code> 连接不上（启动 Redis 或修改该设置）", url),
                          fix=fix)
    return JobStarter(CELERY, f"engine: celery (SCHEDULER=celery) — Celery beat sends one tick a minute to {url}, "
                              f"workers consume {', '.join(queues())} and run the jobs",
                      format_html("调度引擎：Celery beat 每分钟向 <code>{}</code> 发送一次 tick，worker 从队列 {} 取出并运行任务",
                                  url, "、".join(queues())))


@dataclass(frozen=True)
class LastSeen:
    """The scheduler's last heartbeat: which engine started it, on which host, how long ago."""

    trigger: str  # cron, ticker or celery
    host: str
    age: timedelta

    @property
    def engine_name(self) -> str:
        return TRIGGER_NAMES.get(self.trigger, self.trigger)

    @property
    def engine_name_en(self) -> str:
        return TRIGGER_NAMES_EN.get(self.trigger, self.trigger)


def scheduler_last_seen(now=None) -> LastSeen | None:
    """The latest heartbeat started by an engine (not by hand), or None if none ever was."""
    from django.utils import timezone

    from basic.cron_runtime.models import JobRun
    from basic.cron_runtime.scheduling.ticks import HEARTBEAT_JOB, SCHEDULING_ENGINES

    run = (JobRun.objects.filter(job=HEARTBEAT_JOB, trigger__in=SCHEDULING_ENGINES)
           .order_by("-started_at").values("trigger", "host", "started_at").first())
    if run is None:
        return None
    return LastSeen(run["trigger"], run["host"], max(timedelta(0), (now or timezone.now()) - run["started_at"]))


def heartbeat_hint(*, starter=None) -> str:
    """What to look at when the heartbeat never beat or stopped beating: who should start the jobs here
    (``starter``: starter.jobs_starter(), when the caller has it already)."""
    if uses_celery():  # an unreachable broker is a problem line of its own
        return ("is Celery beat running (`make beat`) and a worker consuming the queue "
                f"{conf.CELERY_TASK_DEFAULT_QUEUE} (`make worker`)?")
    starter = starter or jobs_starter()
    if starter.nobody:
        return starter.line.removeprefix("engine: ")
    if starter.kind == "crontab":
        return "the crontab lines start the jobs here: does the cron daemon fire them (`crontab show`, its syslog)?"
    return "`cronjobs serve` starts the jobs here: is it stuck? (its log: logs/crontab/serve.log)"
