from django.core.management.base import BaseCommand, CommandError

from basic.cron_runtime.models import RunOutcome, RunTrigger
from basic.cron_runtime.scheduling.registry import job_by_name
from basic.cron_runtime.running.runner import run_job, summary
from oms_test.demo import demo_load
from order.services.demo import CUSTOMERS, STAFF

FINANCE_JOB = "monthly_finance"


class Command(BaseCommand):
    help = ("Load demo users, products, coupons, points, orders, enrolments, live classes and timed tasks, then "
            "record the finance of the demo's finished months (idempotent).")

    def handle(self, *args, **options):
        result = demo_load()
        self.stdout.write(
            f"demo data: {result['users']} users, {result['products']} products, "
            f"{result['orders_made']} new orders, {result['timed_tasks_made']} new timed tasks, "
            f"{result['live_classes_made']} new live classes"
        )
        # The demo's months are in the past: the real job records them now (a run like any other, in the
        # history and logs/crontab/monthly_finance.log), so the finance page and its .xlsx have them at once
        # instead of on the 1st of next month.
        run = run_job(job_by_name(FINANCE_JOB), trigger=RunTrigger.MANUAL)
        if run.outcome == RunOutcome.FAILED:
            raise CommandError(f"demo finance: {summary(run)}")
        self.stdout.write(f"demo finance: {run.message or summary(run)}")
        self.stdout.write("demo logins (username / password):")
        for login in [STAFF, *CUSTOMERS]:
            self.stdout.write(f"  {login.username:<8} {login.password:<16} {login.note}")
