"""The ``timed_tasks`` job: the runtime adds it to every project's jobs (scheduling/registry.py)."""
from __future__ import annotations

from basic.cron_runtime.running.result import JobReport
from basic.cron_runtime.timed_tasks.dispatcher import timed_tasks_dispatch


def run_timed_tasks() -> JobReport:
    """Run the one-off timed tasks that are due (dispatcher.py)."""
    return timed_tasks_dispatch().job_report()
