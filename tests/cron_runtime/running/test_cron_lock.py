"""The lease's renewals survive database errors (a lost renewal must not let a second copy start)."""
import time

import pytest
from django.db import OperationalError
from django.utils import timezone

from basic.cron_runtime.running.lease import JobLease
from basic.cron_runtime.models import JobLock

# The renewals run in their own thread with its own connection: it must see committed rows.
pytestmark = pytest.mark.django_db(transaction=True)


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_one_database_error_does_not_stop_the_renewals(monkeypatch):
    lease = JobLease("noop", ttl=3)  # renews every second
    real_renew = lease._renew_once
    calls = []

    def flaky_renew():
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise OperationalError("(2013, 'Lost connection to server during query')")
        return real_renew()

    monkeypatch.setattr(lease, "_renew_once", flaky_renew)
    acquired = time.monotonic()
    assert lease.acquire()
    try:
        first_expiry = JobLock.objects.get(job="noop").expires_at
        # the first renewal fails, the second (about 1 s later) succeeds and moves the expiry on
        assert wait_until(lambda: len(calls) >= 2 and JobLock.objects.get(job="noop").expires_at > first_expiry, 8)
        # past the original TTL: without the retry the lease would have expired by now
        time.sleep(max(0.0, acquired + 4 - time.monotonic()))
        lock = JobLock.objects.get(job="noop")
        assert lock.token == lease.token and lock.expires_at > timezone.now()
        assert lease.renewing and not lease.lost
        assert not JobLease("noop").acquire()  # still held: a second copy is refused
    finally:
        lease.release()
    assert not JobLock.objects.get(job="noop").token


def test_renewals_failing_for_longer_than_the_ttl_mark_the_lease_lost(monkeypatch):
    lease = JobLease("noop", ttl=1)  # renews every 1/3 s

    def down():
        raise OperationalError("server has gone away")

    monkeypatch.setattr(lease, "_renew_once", down)
    assert lease.acquire()
    try:
        assert wait_until(lambda: lease.lost, 5)
        assert lease.renewing  # still trying
    finally:
        lease.release()


def test_a_lease_taken_over_is_lost_and_its_renewals_stop():
    lease = JobLease("noop", ttl=1)
    assert lease.acquire()
    try:
        JobLock.objects.filter(job="noop").update(token="someone-else")
        assert wait_until(lambda: lease.lost, 5)
        assert wait_until(lambda: not lease.renewing, 5)
    finally:
        lease.release()
    assert JobLock.objects.get(job="noop").token == "someone-else"  # release leaves the new holder alone


def test_a_run_whose_lock_was_taken_over_says_so_in_its_record(settings):
    """If another run took the lease over while this one still worked, the record must warn that
    the two may have overlapped (docs/cron.md), not look like an ordinary success."""
    from basic.cron_runtime.scheduling.registry import parse_entry
    from basic.cron_runtime.running.runner import run_job
    from basic.cron_runtime.models import RunOutcome, RunTrigger

    settings.CRON_LOCK_TTL = 3  # renewals every second
    job = parse_entry(("0 0 1 1 *", "tests.cron_runtime.jobs.steals_its_lock"), {})
    run = run_job(job, trigger=RunTrigger.MANUAL)
    assert run.outcome == RunOutcome.SUCCEEDED
    assert "the lock was taken over during this run" in run.message
    assert JobLock.objects.get(job="steals_its_lock").token == "thief"  # its release left the new holder alone


def test_of_many_runs_starting_at_once_exactly_one_takes_the_lease():
    """The lease is one conditional UPDATE: runs that start in the same instant (two hosts' cron
    firing the same minute) cannot both win."""
    from tests.jobs.helpers import run_in_threads

    JobLock.objects.get_or_create(job="race")  # the row exists, as after the job's first run
    leases = [JobLease("race", ttl=30) for _ in range(6)]
    try:
        won = run_in_threads(*[lease.acquire for lease in leases])
        assert won.count(True) == 1, won
        winner = leases[won.index(True)]
        assert JobLock.objects.get(job="race").token == winner.token
    finally:
        for lease in leases:
            lease.release()


def test_the_first_starts_of_a_job_on_many_hosts_at_once_all_get_recorded(test_jobs, recorded_launches):
    """A job's lock row is made by its first start. Starts racing to make it (a new job's first minute on
    several hosts) once deadlocked on MariaDB: a start, or the winner's end record, failed with error 1213.
    Each round: eight starts of different slots of a job that never ran; every one is recorded, none raises."""
    from datetime import UTC, datetime

    from basic.cron_runtime.models import JobRun, RunOutcome
    from basic.cron_runtime.running.runner import run_job
    from basic.cron_runtime.scheduling.registry import job_by_name
    from tests.jobs.helpers import run_in_threads

    job = job_by_name("test_noop")
    for round_number in range(12):
        JobLock.objects.all().delete()
        JobRun.objects.all().delete()
        starts = [lambda minute=minute: run_job(job, trigger="cron", slot=datetime(2026, 6, 1, round_number, minute,
                                                                                   tzinfo=UTC))
                  for minute in range(8)]
        runs = run_in_threads(*starts)
        assert all(run is not None for run in runs)
        outcomes = sorted(JobRun.objects.values_list("outcome", flat=True))
        assert len(outcomes) == 8 and RunOutcome.SUCCEEDED in outcomes, outcomes
        assert set(outcomes) <= {RunOutcome.SUCCEEDED, RunOutcome.SKIPPED}, outcomes
        assert not JobLock.objects.get(job="test_noop").token  # the last holder gave it back


def test_every_lease_of_a_process_is_renewed_by_one_thread():
    """A thread per lease cost a worker more than a short run's bookkeeping: the process has one for all."""
    import threading

    leases = [JobLease(f"renewed_{n}", ttl=3) for n in range(4)]  # renewals every second
    threads = threading.active_count()
    try:
        assert all(lease.acquire() for lease in leases)
        assert threading.active_count() <= threads + 1
        taken = {lease.job_name: JobLock.objects.get(job=lease.job_name).expires_at for lease in leases}
        assert wait_until(lambda: all(JobLock.objects.get(job=name).expires_at > expiry
                                      for name, expiry in taken.items()), 5)  # every one renewed
    finally:
        for lease in leases:
            lease.release()
    assert not any(lease.renewing for lease in leases)
    assert not JobLock.objects.filter(job__startswith="renewed_").exclude(token="").exists()
