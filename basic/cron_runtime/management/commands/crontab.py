"""`manage.py crontab add|show|remove|run HASH` — django-crontab's interface, without its silent failures.

The work is in the basic.cron_runtime.installer package (crontab lines) and basic.cron_runtime.running.runner (runs).
"""
from typing import ClassVar

from django.core import checks
from django.core.management.base import CommandError, SystemCheckError

from basic.cron_runtime.checks import LOG_NOT_WRITABLE
from basic.cron_runtime.running.command import RuntimeCommand
from basic.cron_runtime.scheduling.engine import uses_celery
from basic.cron_runtime.installer import (
    CrontabError,
    checkout_id,
    cron_daemon_running,
    crontab_user,
    current_lines,
    env_file_path,
    install,
    left_over_under_celery,
    log_write_problems,
    send_output_to_cron_file,
    uninstall,
)
from basic.cron_runtime.models import RunOutcome, RunTrigger
from basic.cron_runtime.scheduling.registry import CronjobsConfigError, UnknownJob, all_jobs, job_by_hash
from basic.cron_runtime.running.runner import run_job, summary
from basic.cron_runtime.scheduling.schedule import describe, installed_schedule, process_start_tick
from basic.cron_runtime.observability.starter import jobs_starter
from basic.cron_runtime.running.stopping import finished


class Command(RuntimeCommand):
    help = "Install (add), list (show) or remove this project's CRONJOBS in the crontab, or run one job by hash."
    # `run` starts every minute: skip the system checks there (startup cost). `add` runs the
    # CRONJOBS checks itself, so a broken job is never installed.
    requires_system_checks: ClassVar[list] = []

    def add_arguments(self, parser):
        parser.add_argument("subcommand", choices=["add", "show", "remove", "run"],
                            help="add: install/update the lines; show: list them; remove: delete them; "
                                 "run HASH: run one job now")
        parser.add_argument("jobhash", nargs="?", help="run only: the job's hash, as in the crontab line")
        parser.add_argument("--scheduled", action="store_true",
                            help="run only (the installed lines pass it): started by cron, so record trigger "
                                 "'cron' and the minute's slot, and do nothing if it is not due in TIME_ZONE")

    def handle(self, *args, subcommand, jobhash=None, scheduled=False, **options):
        try:
            getattr(self, f"handle_{subcommand}")(jobhash=jobhash, scheduled=scheduled)
        except (CrontabError, UnknownJob) as exc:
            raise CommandError(str(exc)) from exc
        except CronjobsConfigError as exc:
            raise CommandError(f"settings.CRONJOBS is malformed: {exc} (`python manage.py check` says more)") from exc

    def handle_add(self, **_):
        if uses_celery():
            raise CommandError("SCHEDULER=celery: Celery beat ticks the jobs, so no crontab lines are installed (they "
                               "would start every job a second way). To use cron, set SCHEDULER=cron and stop beat; "
                               "docs/celery.md.")
        # A log folder this user cannot write is a warning here, not a refusal: the lines run anyway,
        # and each run is recorded as failed and alerted until it is fixed.
        errors = [error for error in checks.run_checks(tags=["cronjobs"])
                  if error.is_serious() and not error.is_silenced() and error.id != LOG_NOT_WRITABLE]
        if errors:
            raise SystemCheckError("\n".join(f"nothing installed: {error.id} {error.msg}" for error in errors))
        report = install()
        for text in report.removed:
            self.stdout.write(f"  removed: {text}")
        for text in report.added:
            self.stdout.write(f"  added:   {text}")
        for job, sched in report.widened:
            self.stdout.write(f"  note: {job.name} '{job.schedule}': {sched.reason}")
        self.stdout.write(
            f"crontab of {crontab_user()}: {len(report.added)} added, {len(report.removed)} removed, "
            f"{len(report.unchanged)} unchanged, {report.others_kept} other line(s) left as they were. "
            f"Environment for cron: {env_file_path()} ({len(report.env_variables)} variables, mode 0600)."
        )
        self.warn_if_no_daemon()
        for problem in log_write_problems():
            self.stderr.write(f"warning: {problem} (until then every run is recorded as failed and alerted)")

    def warn_if_no_daemon(self):
        if cron_daemon_running() is False:
            self.stderr.write("warning: no cron daemon is running on this host, so these lines run nothing until one "
                              "is started (`service cron start`, or `cron -f` in a container); or run the jobs with "
                              "`python manage.py cronjobs serve` (`make run` starts it)")

    def handle_show(self, **_):
        lines = current_lines()
        ours = [line for line in lines if line.ours]
        if uses_celery():
            self.show_under_celery(lines, ours)
            return
        self.stdout.write(jobs_starter().line)
        self.stdout.write(f"Jobs of this checkout (id {checkout_id()}) in the crontab of {crontab_user()}:")
        for line in ours:
            if line.stale:
                self.stdout.write(f"  STALE {line.name or '?':<20} {line.job_hash or line.text} — "
                                  f"{line.stale_reason}; `crontab add` replaces it")
                continue
            job = line.job
            expected = installed_schedule(job.schedule)
            note = f" ({expected.reason})" if expected.widened else ""
            if job.interval is not None:  # the line fires every minute; the run calls on the grid
                note += (f" — '{job.schedule}': {describe(job.schedule)} / {describe(job.schedule, 'zh_CN')}, "
                         "one run a minute")
            if line.schedule != expected.schedule:
                note += f" — should be '{expected.schedule}' now: run `crontab add`"
            self.stdout.write(f"  {job.name:<20} {line.schedule:<14} {job.hash}  {job.func_path}{note}")
        installed = {line.job_hash for line in ours}
        for job in all_jobs():
            if job.hash not in installed:
                self.stdout.write(f"  MISSING {job.name:<18} not installed: run `python manage.py crontab add`")
        others = len(lines) - len(ours)
        if others:
            self.stdout.write(f"({others} other line(s), not this checkout's, not shown)")
        self.warn_if_no_daemon()

    def show_under_celery(self, lines, ours):
        self.stdout.write("SCHEDULER=celery: Celery beat owns the schedule (one tick a minute; the runtime decides "
                          "what is due in TIME_ZONE), so the crontab holds no lines of this checkout.")
        if ours:
            self.stdout.write(f"  {left_over_under_celery(len(ours))}:")
            for line in ours:
                self.stdout.write(f"  {line.text}")
        if len(lines) > len(ours):
            self.stdout.write(f"({len(lines) - len(ours)} other line(s), not this checkout's, not shown)")

    def handle_remove(self, **_):
        removed = uninstall()
        for line in removed:
            self.stdout.write(f"  removed: {line.text}")
        self.stdout.write(f"crontab of {crontab_user()}: {len(removed)} line(s) of this checkout removed.")

    def handle_run(self, jobhash, scheduled, **_):
        if not jobhash:
            raise CommandError("give the job's hash: manage.py crontab run HASH (`crontab show` lists them)")
        job = job_by_hash(jobhash)
        if scheduled and self.whole_process:  # (never redirect the output of a caller's process)
            problem = send_output_to_cron_file(job)
            if problem:  # the output stays with cron (its mail or syslog); the run itself still goes on
                self.stderr.write(f"warning: {problem}")
        # Under cron: the minute cron fired in is both the due check and the slot (one run per slot).
        tick = process_start_tick() if scheduled else None
        run = run_job(job, trigger=RunTrigger.CRON if scheduled else RunTrigger.MANUAL, tick=tick, slot=tick)
        finished()  # recorded: a signal from now on changes nothing
        if run is None:
            return  # not due in TIME_ZONE at this tick (widened schedule): nothing to do, nothing to say
        if run.outcome == RunOutcome.FAILED:
            raise CommandError(summary(run))
        if not scheduled:  # under cron stay quiet unless something is wrong
            self.stdout.write(summary(run))
