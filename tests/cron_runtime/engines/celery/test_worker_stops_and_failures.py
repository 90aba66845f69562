"""Real `celery worker` processes, ticks sent for chosen minutes: a failing job, kill -9, SIGTERM, Redis gone."""
from __future__ import annotations

import signal
import threading
import time
from datetime import timedelta

import pytest
from celery import Celery
from django.db.models import F

from basic.cron_runtime.models import JobRun, RunOutcome, RunTrigger
from basic.cron_runtime.scheduling.ticks import slot_label
from tests.cron_runtime.engines.celery.helpers import send_tick, start_worker, this_minute, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def even_minute():
    """This minute or the one before: the slow job ("*/2") is due at it."""
    minute = this_minute()
    return minute - timedelta(minutes=minute.minute % 2)


def run_of(job: str, slot, outcome=None):
    runs = JobRun.objects.filter(job=job, slot=slot)
    return (runs.filter(outcome=outcome) if outcome else runs).first()


class TaskEvents:
    """The worker's task events (what `celery events` or Flower show), captured in a thread."""

    def __init__(self, broker_url: str):
        self.broker_url = broker_url
        self.app = Celery("oms_test_events", set_as_current=False)
        self.state = self.app.events.State()
        self.receiver = None
        self.thread = threading.Thread(target=self._capture, daemon=True)

    def _capture(self):
        with self.app.connection_for_read(self.broker_url) as connection:
            self.receiver = self.app.events.Receiver(connection, handlers={"*": self.state.event})
            self.receiver.capture(limit=None, timeout=None, wakeup=True)

    def __enter__(self):
        self.thread.start()
        wait_for(lambda: self.state.alive_workers(), 30, "a worker's heartbeat event")
        return self

    def __exit__(self, *exc):
        if self.receiver is not None:
            self.receiver.should_stop = True
        self.thread.join(10)

    def states(self, *task_names: str | None) -> list[str]:
        return [task.state for task in list(self.state.tasks.values()) if task.name in task_names]


def test_a_failing_job_fails_its_run_and_its_task_and_mails_the_admins_once(celery_env_for, broker_url, tmp_path,
                                                                          smtp_server):
    env = celery_env_for("failing", TEST_SMTP_PORT=str(smtp_server.controller.port))
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        with TaskEvents(broker_url) as events:
            first = this_minute()
            for n, minute in enumerate((first, first + timedelta(minutes=1)), start=1):  # one after the other
                send_tick(broker_url, minute)
                wait_for(lambda n=n: JobRun.objects.filter(job="celery_failing", outcome=RunOutcome.FAILED)
                         .count() == n, 30, f"failed run {n}")
            # the minute's only run: the tick task runs it itself (celery_tasks.tick), and fails with it (the
            # first tick's name may be missed: it can be received before the capture subscribed)
            wait_for(lambda: events.states("cron_runtime.tick", None).count("FAILURE") == 2, 15,
                     "two tick tasks in state FAILURE")
    finally:
        worker.stop()
    runs = JobRun.objects.filter(job="celery_failing").order_by("slot")
    assert [run.trigger for run in runs] == [RunTrigger.CELERY] * 2
    assert all("RuntimeError: the mail server said no" in run.message for run in runs)
    assert "raised expected: JobRunFailed('celery_failing: failed (run #" in worker.output()
    assert smtp_server.recipients() == ["ops@example.com"]  # one alert: the job started failing


def test_kill_9_mid_job_the_heartbeat_closes_the_run_the_redelivery_is_skipped_and_the_next_slot_runs(
        celery_env_for, broker_url, tmp_path):
    hold = tmp_path / "hold"
    hold.touch()
    visibility = 10  # Redis hands an unacknowledged message to another worker after this (production: hours)
    env = celery_env_for("slow", TEST_SLOW_JOB_FLAG=str(hold), TEST_VISIBILITY_TIMEOUT=str(visibility))
    slot = even_minute()
    victim = start_worker(env, tmp_path / "victim.log")
    send_tick(broker_url, slot)
    killed = wait_for(lambda: run_of("celery_slow", slot, RunOutcome.RUNNING), 30, "the slow job to run")
    victim.kill_group()  # kill -9, main process and pool alike: nothing is recorded, nothing acknowledged
    delivered = time.monotonic()
    hold.unlink()
    # the heartbeat closes runs that started over a minute ago: make it so instead of waiting
    JobRun.objects.filter(pk=killed.pk).update(started_at=F("started_at") - timedelta(minutes=2))
    successor = start_worker(env, tmp_path / "successor.log", name="w2")
    try:
        send_tick(broker_url, slot + timedelta(minutes=1))  # the heartbeat only
        beat = wait_for(lambda: run_of("heartbeat", slot + timedelta(minutes=1), RunOutcome.SUCCEEDED), 30,
                        "the next heartbeat")
    finally:
        successor.stop()
    killed.refresh_from_db()
    assert killed.outcome == RunOutcome.FAILED and "abandoned" in killed.message
    assert f"closed abandoned runs: celery_slow #{killed.pk}" in beat.message
    # Past the visibility timeout a worker puts the killed run's message back in the queue (kombu looks
    # when it starts, then every few minutes): it is delivered again, and recorded as skipped.
    time.sleep(max(0.0, visibility + 1 - (time.monotonic() - delivered)))
    successor = start_worker(env, tmp_path / "successor2.log", name="w3")
    try:
        redelivered = wait_for(lambda: JobRun.objects.filter(job="celery_slow", outcome=RunOutcome.SKIPPED).first(),
                               30, "the redelivered message")
        assert f"already ran for slot {slot_label(slot)} (run #{killed.pk} on " in redelivered.message
        send_tick(broker_url, slot + timedelta(minutes=2))
        wait_for(lambda: run_of("celery_slow", slot + timedelta(minutes=2), RunOutcome.SUCCEEDED), 30,
                 "the next slot's run")
    finally:
        successor.stop()
    assert JobRun.objects.filter(job="celery_slow").exclude(outcome=RunOutcome.SKIPPED).count() == 2


def test_sigterm_lets_the_running_job_finish_and_the_worker_exit(celery_env_for, broker_url, tmp_path):
    hold = tmp_path / "hold"
    hold.touch()
    worker = start_worker(celery_env_for("slow", TEST_SLOW_JOB_FLAG=str(hold)), tmp_path / "worker.log")
    slot = even_minute()
    try:
        send_tick(broker_url, slot)
        wait_for(lambda: run_of("celery_slow", slot, RunOutcome.RUNNING), 30, "the slow job to run")
        worker.popen.send_signal(signal.SIGTERM)  # what systemd sends first (KillMode=mixed: the main process)
        worker.wait_for_output("Warm shutdown", timeout=10)
        assert worker.popen.poll() is None  # waiting for the job
        hold.unlink()
        assert worker.popen.wait(30) == 0
    finally:
        worker.stop()
    assert run_of("celery_slow", slot).outcome == RunOutcome.SUCCEEDED


def test_a_worker_whose_database_connection_died_between_tasks_runs_the_next_job(celery_env_for, broker_url, tmp_path):
    """Workers keep their connection between tasks (CELERY_DB_REUSE_MAX): one the server closed
    meanwhile (here its wait_timeout, or a restart) is replaced before the next task, not a failed job."""
    from django.db import connection

    if connection.vendor != "mysql":
        pytest.skip("needs MariaDB/MySQL: the server closes the worker's idle connection (wait_timeout)")
    worker = start_worker(celery_env_for("noop", TEST_DB_WAIT_TIMEOUT="2"), tmp_path / "worker.log", concurrency=1)
    first = this_minute()
    try:
        send_tick(broker_url, first)
        wait_for(lambda: run_of("celery_noop", first, RunOutcome.SUCCEEDED), 30, "the first run")
        time.sleep(4)  # the server has closed the worker's connection by now
        send_tick(broker_url, first + timedelta(minutes=1))
        wait_for(lambda: run_of("celery_noop", first + timedelta(minutes=1), RunOutcome.SUCCEEDED), 30,
                 "the run after the connection died")
    finally:
        worker.stop()
    assert "gone away" not in worker.output() and "Lost connection" not in worker.output()


def test_a_tick_left_in_the_old_cron_queue_still_runs_after_the_rename(celery_env_for, broker_url, tmp_path):
    """The queues were renamed cron → jobs and cron_long → jobs_long; for one release a worker also
    drains the old names, so a tick sent by a beat of the previous release is not lost."""
    env = celery_env_for("real")
    slot = this_minute()
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        send_tick(broker_url, slot, queue="cron")  # as the previous release's beat sent it
        run = wait_for(lambda: run_of("heartbeat", slot, RunOutcome.SUCCEEDED), 30, "the heartbeat of the old-queue tick")
    finally:
        worker.stop()
    assert run.trigger == RunTrigger.CELERY
    assert "→ jobs" in (tmp_path / "worker.log").read_text()  # the run itself went to the new queue


def test_a_hung_job_is_stopped_at_its_time_limit_in_a_worker_which_goes_on_serving(celery_env_for, broker_url,
                                                                                   tmp_path):
    env = celery_env_for("hung")
    worker = start_worker(env, tmp_path / "worker.log", concurrency=1)  # one child: it runs both jobs in turn
    try:
        minute = this_minute()
        send_tick(broker_url, minute)
        hung = wait_for(lambda: run_of("hangs_on_a_socket", minute, RunOutcome.TERMINATED), 60,
                        "the hung job stopped at its limit")
        beat = wait_for(lambda: run_of("heartbeat", minute, RunOutcome.SUCCEEDED), 60, "the heartbeat after it")
    finally:
        worker.stop()
    assert hung.trigger == RunTrigger.CELERY
    assert hung.message == "time limit of 2 s reached after 12 chunks (12,000 orders)"
    assert hung.duration < timedelta(seconds=10)
    from basic.cron_runtime.models import JobLock

    assert not JobLock.objects.get(job="hangs_on_a_socket").token  # the lease is free
    assert beat.pid == hung.pid  # the same worker child went on to the next job
    assert "time limit of 2 s reached" in worker.output()  # the task failed with the run's line
