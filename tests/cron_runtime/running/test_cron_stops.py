"""SIGTERM and Ctrl-C: the run is recorded as terminated with its progress, the lease is released,
the process prints one line and exits 143 / 130 — also when the signal cuts a query in half, and
when the database is gone (then the lease's expiry and the heartbeat close the run)."""
from __future__ import annotations

import os
import signal
import sys
import time
from datetime import timedelta
from pathlib import Path

import loguru
import pytest
from django.db import connection
from django.utils import timezone
from loguru import logger

from basic.cron_runtime.running.lease import close_abandoned_runs
from basic.cron_runtime.models import JobAlertState, JobLock, JobRun
from basic.cron_runtime.running.progress import RunProgress, report_progress, tracking_progress
from basic.cron_runtime.running.stopping import Stopped, finished, stop_on_signals, uninterrupted
from tests.cron_runtime.helpers import lines, start, wait_for
from tests.tcp_proxy import TcpProxy


def lease_holder_pid(job: str):
    lock = JobLock.objects.filter(job=job).exclude(token="").first()
    return lock and lock.pid


@pytest.fixture
def stop_env(cron_env) -> dict:
    return {**cron_env, "DJANGO_SETTINGS_MODULE": "tests.cron_runtime.stop_test_settings"}


# --- in-process: when a stop takes effect ----------------------------------------------------------------

def signal_myself(signum=signal.SIGTERM) -> None:
    os.kill(os.getpid(), signum)
    time.sleep(0.05)  # the handler runs at the next bytecode boundary


def test_a_stop_inside_an_uninterrupted_block_waits_for_its_end():
    with stop_on_signals(), pytest.raises(Stopped) as stopped:
        with uninterrupted():
            signal_myself()
            reached_the_end = True
    assert reached_the_end and not stopped.value.anywhere
    assert (stopped.value.exit_code, stopped.value.signal_name) == (143, "SIGTERM")


def test_a_second_signal_does_not_wait():
    with stop_on_signals(), pytest.raises(Stopped) as stopped:
        with uninterrupted():
            signal_myself()
            signal_myself(signal.SIGINT)
            pytest.fail("the second signal should have stopped the block")
    assert stopped.value.anywhere and stopped.value.exit_code == 130


def test_outside_a_block_the_stop_is_immediate_and_handlers_come_back():
    before = signal.getsignal(signal.SIGTERM)
    with stop_on_signals(), pytest.raises(Stopped) as stopped:
        signal_myself()
    assert stopped.value.anywhere
    assert signal.getsignal(signal.SIGTERM) is before


def test_after_the_work_is_finished_signals_are_ignored():
    with stop_on_signals():
        finished()
        signal_myself()  # would kill the test run if it were not ignored


def stop_when_loguru_has_taken_its_lock(frame, event, arg):
    """A trace function: SIGTERM arrives the moment loguru's lock context has been entered (its
    generator has set the handler's "in use" flag) but before the ``with`` block starts, the window
    where an exception leaves the flag set. That is where a stop once landed in CI."""
    if event == "call" and frame.f_code.co_name == "__enter__" and frame.f_back is not None \
            and frame.f_back.f_code.co_filename.startswith(os.path.dirname(loguru.__file__)):
        def at_return(frame, event, arg):
            if event == "return":
                sys.settrace(None)
                caught_in_the_window.append(True)
                signal.raise_signal(signal.SIGTERM)
            return at_return
        return at_return
    return None


caught_in_the_window: list = []


def test_a_stop_that_arrives_inside_a_log_call_lets_the_line_and_every_later_one_through(capfd):
    written = []
    sink = logger.add(written.append, format="{message}", level="INFO")
    caught_in_the_window.clear()
    try:
        with stop_on_signals(), pytest.raises(Stopped) as stopped:
            sys.settrace(stop_when_loguru_has_taken_its_lock)
            try:
                logger.info("the line being written")
            finally:
                sys.settrace(None)
            time.sleep(1)  # the stop is delivered again right after the call
            pytest.fail("the stop never came")
        logger.info("the line after the stop")
    finally:
        logger.remove(sink)
    assert caught_in_the_window, "the signal was never sent inside loguru's lock"
    assert stopped.value.signum == signal.SIGTERM
    assert [line.strip() for line in written] == ["the line being written", "the line after the stop"]
    assert "Logging error" not in capfd.readouterr().err


def test_progress_totals_and_their_wording():
    report_progress(items=5)  # outside a run: nothing to add to, nothing happens
    with tracking_progress() as progress:
        report_progress(unit="orders")
        assert progress.describe() == "0 orders"
        for _ in range(3):
            report_progress(chunks=1, items=1000)
    assert progress.describe() == "3 chunks (3,000 orders)"
    assert RunProgress(chunks=1, items=7).describe() == "1 chunk (7 items)"


# --- real processes --------------------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("signum", "word", "code"), [(signal.SIGTERM, "SIGTERM", 143), (signal.SIGINT, "Ctrl-C", 130)])
def test_a_stopped_run_records_what_it_committed(stop_env, manage_py, signum, word, code):
    proc = start(manage_py, stop_env, "cronjobs", "run", "chunked")
    wait_for(lambda: JobAlertState.objects.filter(job__startswith="chunk-").count() >= 5, 60, "a few chunks")
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=30)
    committed = JobAlertState.objects.filter(job__startswith="chunk-").count()
    assert proc.returncode == code
    assert lines(err) == [f"chunked: terminated by {word} after {committed:,} chunks ({10 * committed:,} rows); "
                          "lease released"]
    run = JobRun.objects.get(job="chunked")
    assert (run.outcome, run.items_processed) == ("terminated", 10 * committed)
    assert run.message == f"terminated by {word} after {committed:,} chunks ({10 * committed:,} rows)"
    assert not JobLock.objects.get(job="chunked").token


@pytest.mark.mysql_only
@pytest.mark.django_db(transaction=True)
def test_a_signal_that_cuts_a_query_in_half_is_recorded_on_a_fresh_connection(stop_env, manage_py):
    proc = start(manage_py, stop_env, "cronjobs", "run", "waits_in_a_query")
    wait_for(lambda: lease_holder_pid("waits_in_a_query") == proc.pid, 60, "the job to hold its lease")
    with connection.cursor() as cursor:  # the job's connection sits in SLEEP(60), mid-read in the driver
        wait_for(lambda: cursor.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                                        "WHERE INFO LIKE 'SELECT SLEEP%%'") and cursor.fetchone()[0], 30, "the query")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)  # the old connection would only answer after its SLEEP
    assert proc.returncode == 143
    assert lines(err) == ["waits_in_a_query: terminated by SIGTERM after 0 items; lease released"]
    assert JobRun.objects.get(job="waits_in_a_query").outcome == "terminated"
    assert not JobLock.objects.get(job="waits_in_a_query").token


@pytest.mark.mysql_only
@pytest.mark.django_db(transaction=True)
def test_with_the_database_gone_the_stop_says_so_and_the_heartbeat_closes_the_run(stop_env, manage_py):
    """Recording is impossible: one line says so and when the run will be closed; once the database is
    back, the lease of the dead process is free and the heartbeat's sweep closes the run."""
    db = connection.settings_dict
    proxy = TcpProxy((db.get("HOST") or "127.0.0.1", int(db.get("PORT") or 3306)))
    user = db.get("USER") or "root"
    auth = f"{user}:{db['PASSWORD']}" if db.get("PASSWORD") else user
    env = {**stop_env, "TEST_SLOW_JOB_SECONDS": "120",
           "DATABASE_URL": f"mysql://{auth}@127.0.0.1:{proxy.port}/{db['NAME']}"}
    proc = start(manage_py, env, "cronjobs", "run", "slow")
    log = Path(env["LOG_DIR"]) / "crontab" / "slow.log"
    try:
        # Asleep in the job, past the run's own queries (its start, a manual run's pause check): only the
        # stop's recording meets the cut, not a query of the run that would fail it first.
        wait_for(lambda: lease_holder_pid("slow") == proc.pid and log.exists() and "slow job sleeping" in log.read_text(),
                 60, "the job to sleep under its lease")
    finally:
        proxy.cut()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143
    [line] = lines(err)
    assert line.startswith(f"slow: terminated by SIGTERM after 0 items; could not record it (database unreachable: "
                           f"nothing answers at 127.0.0.1:{proxy.port} (Connection refused)): the lease expires "
                           "within 60 s and the heartbeat then marks the run failed"), line

    run = JobRun.objects.get(job="slow")
    assert run.outcome == "running" and lease_holder_pid("slow") == proc.pid  # nothing could be written
    [closed] = close_abandoned_runs(now=timezone.now() + timedelta(minutes=1, seconds=5))  # the next heartbeat
    assert closed.pk == run.pk and closed.outcome == "failed" and "its process is gone" in closed.message
