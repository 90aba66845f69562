"""`manage.py dispatch_timed_tasks` — run the due one-off timed tasks now, in this process."""
import time
from typing import ClassVar

from loguru import logger

from basic.cron_runtime.running.command import RuntimeCommand
from basic.cron_runtime.scheduling.registry import TIMED_TASKS_JOB
from basic.cron_runtime.timed_tasks.dispatcher import timed_tasks_dispatch
from basic.cron_runtime.running.joblog import job_log


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


class Command(RuntimeCommand):
    help = ("Run the due one-off timed tasks now (what the timed_tasks job does every minute). Several may run "
            "at once, on one host or many: they split the work. Exit 1 when the dispatcher itself fails "
            "(a failing task is recorded on the task, not here).")
    requires_system_checks: ClassVar[list] = []

    def add_arguments(self, parser):
        parser.add_argument("--chunk-size", type=_positive, metavar="N",
                            help="tasks claimed per transaction (default TIMED_TASKS_CHUNK_SIZE)")
        parser.add_argument("--lease", type=_positive, metavar="SECONDS",
                            help="how long a claim lasts before another dispatcher may take the task "
                                 "(default TIMED_TASK_LEASE)")
        parser.add_argument("--for", type=_positive, metavar="SECONDS", dest="for_seconds",
                            help="keep dispatching for this long, tasks that come due included (an extra "
                                 "dispatcher for a backlog of a rate-limited queue); default: once, what is due now")

    def handle(self, *args, chunk_size=None, lease=None, for_seconds=None, **options):
        with job_log(TIMED_TASKS_JOB), logger.contextualize(job=TIMED_TASKS_JOB):
            if for_seconds is None:
                report = timed_tasks_dispatch(chunk_size=chunk_size, lease_seconds=lease)
                self.stdout.write(report.summary())
                return
            end = time.monotonic() + for_seconds
            while (left := end - time.monotonic()) > 0:
                report = timed_tasks_dispatch(chunk_size=chunk_size, lease_seconds=lease, rate_limited_seconds=left,
                                              log_idle=False)  # a look that found nothing is not worth a line
                if report.tasks:
                    self.stdout.write(report.summary())
                else:
                    time.sleep(min(0.2, max(0.0, end - time.monotonic())))
