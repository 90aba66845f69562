"""`manage.py cronjobs list | run NAME | status | tick [--at] | serve | pause NAME | resume NAME` — the jobs seen
by name, and the ticker."""
import argparse
import getpass
import socket
from datetime import timedelta
from typing import ClassVar

from django.conf import settings
from django.core.management.base import CommandError
from django.utils import timezone

from basic.cron_runtime.running.command import RuntimeCommand
from basic.cron_runtime.scheduling.engine import uses_celery
from basic.cron_runtime.observability.health import crontab_drift, health_snapshot, heartbeat_alert_if_stale, job_state, job_states
from basic.cron_runtime.models import RunOutcome, RunTrigger
from basic.cron_runtime.scheduling.pausing import PauseRefused, job_pause, job_pause_state, job_resume, paused_jobs
from basic.cron_runtime.timed_tasks.queue_backlog import queue_backlogs
from basic.cron_runtime.scheduling.registry import CronjobsConfigError, UnknownJob, job_by_name
from basic.cron_runtime.running.runner import exit_on_sigterm, run_job, summary
from basic.cron_runtime.scheduling.schedule import process_start_tick
from basic.cron_runtime.observability.starter import jobs_starter
from basic.cron_runtime.running.stopping import finished
from basic.cron_runtime.scheduling.ticks import MINUTE_FORMAT, parse_minute, slot_label, slots_due


def _minute(text: str):
    try:
        return parse_minute(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# `tick --at` a minute ahead of the clock by more than this is refused: it would use up that real slot.
TICK_AT_SKEW = timedelta(seconds=5)


def _user(pk: int):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(pk=pk).first()
    if user is None:  # a wrong argument, like a malformed --slot: exit 2, and nothing recorded
        raise CommandError(f"--triggered-by {pk}: no user with that id", returncode=2)
    return user


def _operator() -> str:
    """Who paused or resumed from the command line: the login on this host."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "?"
    return f"{user}@{socket.gethostname()}"


def _when(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


class Command(RuntimeCommand):
    help = "List the scheduled jobs, run one now by name, or check that all is well (exit 1 if not)."
    requires_system_checks: ClassVar[list] = []

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True,
                                    metavar="{list,run,status,tick,serve,pause,resume}")
        sub.add_parser("list", help="each job: schedule, plain language, next run, last run and outcome")
        run = sub.add_parser("run", help="run one job now through the runner; the exit code is its outcome")
        run.add_argument("name", help="the job's name (`cronjobs list` shows them)")
        run.add_argument("--dry-run", action="store_true",
                         help="import the job and look at its lock, but call nothing and record nothing")
        run.add_argument("--slot", type=_minute, metavar="TIME", action="append",
                         help=f"the scheduled minute this run is for ('{MINUTE_FORMAT}' in TIME_ZONE, or ISO 8601 "
                              "with an offset): at most one run per job and slot, a second start is skipped; "
                              "given more than once, the slots run in order, one at a time")
        run.add_argument("--attempt", type=int, default=1, metavar="K",
                         help="which attempt at the slot this is (engines pass 2, 3… for a retry; default 1)")
        run.add_argument("--trigger", choices=[choice.value for choice in RunTrigger], default=RunTrigger.MANUAL,
                         help="what started the run, as recorded (engines pass theirs; default: manual)")
        run.add_argument("--triggered-by", type=int, metavar="USER_ID",
                         help="the id of the user who asked for the run, as recorded (the staff's Run now passes it)")
        sub.add_parser("status", help="exit 0 when all is well, 1 with one line per problem otherwise")
        tick = sub.add_parser("tick", help="run every job due at one minute (and catch-up of missed runs), each in "
                                           "a process of its own; exit 1 when any failed")
        tick.add_argument("--at", type=_minute, metavar=f'"{MINUTE_FORMAT}"',
                          help="the minute to tick, in TIME_ZONE (default: now)")
        pause = sub.add_parser("pause", help="pause one job: no engine starts it until `cronjobs resume` (or --until); "
                                             "its slots meanwhile are not made up")
        pause.add_argument("name", help="the job's name (`cronjobs list` shows them)")
        pause.add_argument("--reason", required=True, help="why, for whoever wonders (job page, `cronjobs status`)")
        pause.add_argument("--until", type=_minute, metavar=f'"{MINUTE_FORMAT}"',
                           help="resume by itself at this minute (in TIME_ZONE); default: until `cronjobs resume`")
        resume = sub.add_parser("resume", help="resume a paused job: its next slot runs; the paused ones are not made up")
        resume.add_argument("name", help="the job's name")
        serve = sub.add_parser("serve", help="the embedded ticker for hosts without a cron daemon: tick at the start "
                                             "of every minute until SIGTERM or Ctrl-C (log: logs/crontab/serve.log)")
        serve.add_argument("--grace", type=float, default=5.0, metavar="SECONDS",
                           help="on stop, how long running jobs may take to finish before they are sent SIGTERM "
                                "(and recorded as interrupted); default 5")

    def handle(self, *args, subcommand, **options):
        try:
            getattr(self, f"handle_{subcommand}")(**options)
        except CronjobsConfigError as exc:
            raise CommandError(f"settings.CRONJOBS is malformed: {exc} (`python manage.py check` says more)") from exc

    def handle_list(self, **_):
        starter = jobs_starter()
        self.stdout.write(starter.line)
        self.stdout.write(f"Times in {settings.TIME_ZONE}.")
        for state in job_states():
            self.stdout.write(f"{state.name}  '{state.schedule}'  {state.description} / {state.description_zh}")
            last = state.last_run
            last_text = (f"{_when(last.started_at)} {last.outcome} ({last.trigger}, {last.items_processed} items"
                         f"{f', {last.duration.total_seconds():.1f} s' if last.duration else ''})"
                         if last else "never")
            self.stdout.write(f"    next run {_when(state.next_run)}; last run {last_text}")
            if state.job.interval is not None:
                self.stdout.write(f"    one run a minute calls it every {state.job.interval} s (its items summed)")
            if state.running:
                self.stdout.write(f"    running since {_when(state.running_since)}")
            if state.paused:
                self.stdout.write(f"    {state.paused.describe()}")
            if state.widened and starter.crontab_lines_installed:  # only where such lines are installed
                self.stdout.write(f"    crontab: widened — {state.widened_reason}")

    def handle_run(self, name, dry_run=False, slot=None, trigger=RunTrigger.MANUAL, triggered_by=None, attempt=1,
                   **_):
        job = self._job(name)
        user = _user(triggered_by) if triggered_by is not None else None
        if attempt < 1 or (attempt > 1 and not slot):
            raise CommandError(f"--attempt {attempt}: an attempt is 1, or a retry (2, 3…) of a --slot", returncode=2)
        slots = slot or [None]
        if dry_run:
            try:
                self.stdout.write(run_job(job, trigger=trigger, slot=slots[0], dry_run=True).message)
            except (ImportError, AttributeError, TypeError) as exc:
                raise CommandError(f"{job.name}: {job.func_path} cannot be used: {exc}") from exc
            return
        paused = job_pause_state(job.name)
        if paused is not None and trigger == RunTrigger.MANUAL:
            self.stderr.write(f"warning: running a paused job by hand — {paused.describe()}")
        for number, moment in enumerate(slots):  # a backlog (catch_up="all"): in order, one at a time
            run = run_job(job, trigger=trigger, slot=moment, triggered_by=user, attempt=attempt if number == 0 else 1)
            if run is None:  # paused meanwhile: an engine's start records nothing
                finished()
                self.stdout.write(f"{job.name}: paused — not started" + (f" for {slot_label(moment)}" if moment else ""))
                return
            if run.outcome == RunOutcome.FAILED:
                finished()
                raise CommandError(summary(run))
            self.stdout.write(summary(run))
        finished()  # recorded: a signal from now on changes nothing

    def _job(self, name):
        try:
            return job_by_name(name)
        except UnknownJob as exc:
            raise CommandError(str(exc)) from exc

    def handle_pause(self, name, reason, until=None, **_):
        job = self._job(name)
        try:
            state = job_pause(job=job, by=_operator(), reason=reason, until=until)
        except PauseRefused as exc:
            raise CommandError(str(exc), returncode=2) from exc
        self.stdout.write(state.describe())

    def handle_resume(self, name, **_):
        job = self._job(name)
        try:
            job_resume(job=job, by=_operator())
        except PauseRefused as exc:
            raise CommandError(str(exc), returncode=2) from exc
        state = job_state(job)
        self.stdout.write(f"{job.name}: resumed; next run {_when(state.next_run)} (the slots of the pause are not "
                          "made up)")

    def handle_status(self, **_):
        snapshot = health_snapshot()
        heartbeat_alert_if_stale(snapshot)  # a dead scheduler cannot tell on itself: its watchers do
        self.stdout.write(snapshot.starter.line)
        found = snapshot.problems
        for line in crontab_drift():
            self.stdout.write(f"note: {line}")
        for pause in paused_jobs().values():  # information, not a problem: someone decided it
            self.stdout.write(f"note: {pause.describe()}")
        for backlog in queue_backlogs():
            self.stdout.write(backlog.line())
        if found:
            for line in found:
                self.stdout.write(line)
            raise CommandError(f"{len(found)} problem(s) with the scheduled jobs")
        self.stdout.write("all well: every job ran as scheduled, the heartbeat is fresh")

    def handle_tick(self, at=None, **_):
        from basic.cron_runtime.engines import launcher

        # The minute this process was started in: a crontab line `cronjobs tick` on a loaded host
        # may get here in the next minute, and must still tick the one cron fired in.
        if at is not None and at > timezone.now() + TICK_AT_SKEW:
            raise CommandError(f"--at {slot_label(at)} is in the future: a tick runs that slot now and uses it up "
                               "(its real run would then be skipped); --at only replays past minutes", returncode=2)
        minute = at or process_start_tick()
        slots = slots_due(minute, now=None if at else timezone.now(), trigger=RunTrigger.TICKER)
        if not slots:
            self.stdout.write(f"tick {slot_label(minute)}: nothing due")
            return
        self.stdout.write(f"tick {slot_label(minute)}: " + ", ".join(str(due) for due in slots))
        exit_on_sigterm()
        started = launcher.launch_all(slots)
        try:
            launcher.wait_all(started)
        except BaseException:  # SIGTERM or Ctrl-C: the jobs are told too, and recorded as interrupted
            launcher.stop(started, grace=0)
            raise
        for launched in started:
            (self.stdout if launched.ok else self.stderr).write(f"  {launched.summary()}")
        failed = [launched.due.job.name for launched in started if not launched.ok]
        if failed:
            raise CommandError(f"{len(failed)} of {len(started)} failed: {', '.join(failed)}")

    def handle_serve(self, grace=5.0, **_):
        if uses_celery():
            raise CommandError("SCHEDULER=celery: Celery beat ticks the jobs, so `cronjobs serve` would start them a "
                               "second way. To use the embedded ticker, set SCHEDULER=cron and stop beat; "
                               "docs/celery.md.")
        from basic.cron_runtime.running.joblog import job_log, job_log_on_terminal
        from basic.cron_runtime.engines.ticker import SERVE_LOG, AlreadyServing, Ticker, other_engine_warning, serve_lock

        try:
            # On a terminal the log's lines (start, each tick, warnings, stop) are printed too, as other commands do.
            with serve_lock(), job_log(SERVE_LOG) as log, job_log_on_terminal(SERVE_LOG, self.stdout._out):
                warning = other_engine_warning()
                if warning:
                    log.warning(warning)
                ticker = Ticker(log, grace=grace)
                ticker.install_signal_handlers()
                ticker.serve()
        except AlreadyServing as exc:
            raise CommandError(str(exc)) from exc
