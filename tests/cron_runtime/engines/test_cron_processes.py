"""Real processes: exit codes, two runs at once, kill -9 and SIGTERM — on SQLite and on MariaDB."""
import signal
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from basic.cron_runtime.models import JobLock, JobRun, RunOutcome
from basic.cron_runtime.scheduling.registry import job_by_name
from tests.cron_runtime.helpers import run_manage, start, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def lock_holder_pid(name: str):
    lock = JobLock.objects.filter(job=name).exclude(token="").first()
    return lock and lock.pid


def test_failing_job_exits_non_zero_from_both_commands(cron_env, manage_py, tmp_path, test_jobs):
    failing = job_by_name("failing")
    by_hash = run_manage(manage_py, cron_env, "crontab", "run", failing.hash)
    by_name = run_manage(manage_py, cron_env, "cronjobs", "run", "failing")
    for proc in (by_hash, by_name):
        assert proc.returncode == 1
        assert "failing: failed (run #" in proc.stderr and "RuntimeError: boom" in proc.stderr
    runs = list(JobRun.objects.filter(job="failing").order_by("id"))
    assert [run.outcome for run in runs] == ["failed", "failed"]
    assert all("Traceback (most recent call last)" in run.traceback for run in runs)
    log = (tmp_path / "logs" / "crontab" / "failing.log").read_text()
    assert log.count("Traceback (most recent call last)") == 2 and log.count("RuntimeError: boom") >= 2
    ok = run_manage(manage_py, cron_env, "cronjobs", "run", "test_noop")
    assert ok.returncode == 0 and "test_noop: succeeded" in ok.stdout


def test_two_processes_at_once_one_runs_the_other_is_skipped(cron_env, manage_py, test_jobs):
    # the first holds the lock before the second starts, and sleeps long enough for the second's
    # whole startup: the overlap does not depend on how fast Python starts
    first = start(manage_py, {**cron_env, "TEST_SLOW_JOB_SECONDS": "20"}, "cronjobs", "run", "slow")
    wait_for(lambda: lock_holder_pid("slow") == first.pid, 60, "the first run to hold the lock")
    second = start(manage_py, {**cron_env, "TEST_SLOW_JOB_SECONDS": "0"}, "crontab", "run", job_by_name("slow").hash)
    results = [proc.communicate(timeout=60) + (proc.returncode,) for proc in (first, second)]
    assert [code for _, _, code in results] == [0, 0]  # a skip is not a failure
    runs = list(JobRun.objects.filter(job="slow"))
    assert sorted(run.outcome for run in runs) == ["skipped", "succeeded"]
    skipped = next(run for run in runs if run.outcome == RunOutcome.SKIPPED)
    ran = next(run for run in runs if run.outcome == RunOutcome.SUCCEEDED)
    assert f"already running on {ran.host} pid {ran.pid}" in skipped.message
    assert any("skipped: already running on" in err for _, err, _ in results)


def test_after_kill_9_on_another_host_the_lock_is_free_within_the_ttl(cron_env, manage_py, test_jobs):
    ttl = 6
    victim_env = {**cron_env, "OMS_HOSTNAME": "host-a", "CRON_LOCK_TTL": str(ttl), "TEST_SLOW_JOB_SECONDS": "120"}
    next_env = {**cron_env, "OMS_HOSTNAME": "host-b", "CRON_LOCK_TTL": str(ttl), "TEST_SLOW_JOB_SECONDS": "0"}
    victim = start(manage_py, victim_env, "cronjobs", "run", "slow")
    try:
        wait_for(lambda: lock_holder_pid("slow") == victim.pid, 60, "the victim to hold the lock")
        time.sleep(ttl / 3 + 0.5)  # it has renewed at least once
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.communicate()
    killed_at = time.monotonic()
    # Blocked while the dead run's lease has not expired yet (judged by the lease itself, not by
    # how fast this next process starts: it may start after the expiry on a loaded machine).
    lock = JobLock.objects.get(job="slow")
    blocked = run_manage(manage_py, next_env, "cronjobs", "run", "slow")
    if timezone.now() < lock.expires_at - timedelta(seconds=1):  # still held when the run finished
        assert blocked.returncode == 0 and "already running on host-a" in blocked.stderr
    else:
        assert blocked.returncode == 0  # started after the expiry: it took the lock over (checked below)
    assert lock.host == "host-a" and lock.expires_at > lock.acquired_at
    while True:
        proc = run_manage(manage_py, next_env, "cronjobs", "run", "slow")
        if "slow: succeeded" in proc.stdout:
            break
        assert time.monotonic() - killed_at < ttl + 5, "the lock outlived its TTL"
        time.sleep(0.5)
    waited = time.monotonic() - killed_at
    assert waited <= ttl + 5
    dead = JobRun.objects.get(job="slow", host="host-a")
    assert dead.outcome == RunOutcome.FAILED and "abandoned: host-a" in dead.message


def test_after_kill_9_on_the_same_host_the_next_run_proceeds_at_once(cron_env, manage_py, test_jobs):
    env = {**cron_env, "OMS_HOSTNAME": "host-same", "CRON_LOCK_TTL": "600", "TEST_SLOW_JOB_SECONDS": "120"}
    victim = start(manage_py, env, "cronjobs", "run", "slow")
    try:
        wait_for(lambda: lock_holder_pid("slow") == victim.pid, 60, "the victim to hold the lock")
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.communicate()
    proc = run_manage(manage_py, {**env, "TEST_SLOW_JOB_SECONDS": "0"}, "cronjobs", "run", "slow")
    assert proc.returncode == 0 and "slow: succeeded" in proc.stdout, proc.stderr
    dead = JobRun.objects.get(job="slow", pid=victim.pid)
    assert dead.outcome == RunOutcome.FAILED and "its process is gone" in dead.message


def test_sigterm_records_terminated_releases_the_lock_and_prints_one_line(cron_env, manage_py, test_jobs):
    env = {**cron_env, "TEST_SLOW_JOB_SECONDS": "120"}
    victim = start(manage_py, env, "cronjobs", "run", "slow")
    wait_for(lambda: lock_holder_pid("slow") == victim.pid, 60, "the job to hold the lock")
    victim.send_signal(signal.SIGTERM)
    _, err = victim.communicate(timeout=30)
    assert victim.returncode == 128 + signal.SIGTERM
    assert err == "slow: terminated by SIGTERM after 0 items; lease released\n"
    run = JobRun.objects.get(job="slow")
    assert run.outcome == RunOutcome.TERMINATED and run.message == "terminated by SIGTERM after 0 items"
    assert not JobLock.objects.get(job="slow").token
