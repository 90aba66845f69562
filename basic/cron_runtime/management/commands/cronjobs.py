"""`manage.py cronjobs list | run NAME [--dry-run] | status` — the jobs seen by name."""
from typing import ClassVar

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from basic.cron_runtime.health import crontab_drift, health_snapshot, job_states
from basic.cron_runtime.models import RunOutcome, RunTrigger
from basic.cron_runtime.registry import CronjobsConfigError, UnknownJob, job_by_name
from basic.cron_runtime.runner import exit_on_sigterm, run_job, summary


def _when(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


class Command(BaseCommand):
    help = "List the scheduled jobs, run one now by name, or check that all is well (exit 1 if not)."
    requires_system_checks: ClassVar[list] = []

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="{list,run,status}")
        sub.add_parser("list", help="each job: schedule, plain language, next run, last run and outcome")
        run = sub.add_parser("run", help="run one job now through the runner; the exit code is its outcome")
        run.add_argument("name", help="the job's name (`cronjobs list` shows them)")
        run.add_argument("--dry-run", action="store_true",
                         help="import the job and look at its lock, but call nothing and record nothing")
        sub.add_parser("status", help="exit 0 when all is well, 1 with one line per problem otherwise")

    def handle(self, *args, subcommand, **options):
        try:
            getattr(self, f"handle_{subcommand}")(**options)
        except CronjobsConfigError as exc:
            raise CommandError(f"settings.CRONJOBS is malformed: {exc} (`python manage.py check` says more)") from exc

    def handle_list(self, **_):
        self.stdout.write(f"Times in {settings.TIME_ZONE}.")
        for state in job_states():
            self.stdout.write(f"{state.name}  '{state.schedule}'  {state.description} / {state.description_zh}")
            last = state.last_run
            last_text = (f"{_when(last.started_at)} {last.outcome} ({last.trigger}, {last.items_processed} items"
                         f"{f', {last.duration.total_seconds():.1f} s' if last.duration else ''})"
                         if last else "never")
            self.stdout.write(f"    next run {_when(state.next_run)}; last run {last_text}")
            if state.running:
                self.stdout.write(f"    running since {_when(state.running_since)}")
            if state.widened:
                self.stdout.write(f"    crontab: widened — {state.widened_reason}")

    def handle_run(self, name, dry_run=False, **_):
        try:
            job = job_by_name(name)
        except UnknownJob as exc:
            raise CommandError(str(exc)) from exc
        if dry_run:
            try:
                self.stdout.write(run_job(job, trigger=RunTrigger.MANUAL, dry_run=True).message)
            except (ImportError, AttributeError, TypeError) as exc:
                raise CommandError(f"{job.name}: {job.func_path} cannot be used: {exc}") from exc
            return
        exit_on_sigterm()
        run = run_job(job, trigger=RunTrigger.MANUAL)
        if run.outcome == RunOutcome.FAILED:
            raise CommandError(summary(run))
        self.stdout.write(summary(run))

    def handle_status(self, **_):
        found = health_snapshot().problems
        for line in crontab_drift():
            self.stdout.write(f"note: {line}")
        if found:
            for line in found:
                self.stdout.write(line)
            raise CommandError(f"{len(found)} problem(s) with the scheduled jobs")
        self.stdout.write("all well: every job ran as scheduled, the heartbeat is fresh")
