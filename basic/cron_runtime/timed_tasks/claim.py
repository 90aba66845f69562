"""A dispatch's claim on the tasks it runs: the runtime's one lease (running/lease.py), on the tasks too.

Each dispatch holds a lease named after its claim; every task it claims carries the lease's token
(``claimed_by``) and its end (``lease_until``): the due query skips a task so held until then, and
the task keeps its due time, hence its place in the due order. So the lease's rules hold for the
tasks as they do for a job:
- renewal: every TTL/3, between calls, the lease and its tasks are extended together;
- expiry: a dispatcher that stops renewing (kill -9, host lost) leaves its tasks due again at the
  end of TIMED_TASK_LEASE;
- a holder gone on this host: the next dispatch on this host sees that the pid of a claim is gone
  and makes its tasks due at once (``free_claims_of_gone_dispatchers``), instead of waiting.
"""
from __future__ import annotations

import time
from datetime import timedelta

from django.db.models import F
from django.db.models.functions import Least
from django.utils import timezone

from basic.cron_runtime.models import JobLock, TimedTask, TimedTaskStatus
from basic.cron_runtime.running.lease import JobLease, holder_gone

CLAIM_PREFIX = "timed tasks claim "  # the lease's name: the prefix and the claim's token


class TaskClaim(JobLease):
    """One dispatch's lease: ``acquire()`` before the first claim, ``release()`` once every claimed task is recorded."""

    def __init__(self, lease: timedelta):
        super().__init__("", ttl=int(lease.total_seconds()), renew_in_background=False)
        self.job_name = CLAIM_PREFIX + self.token

    @property
    def lease(self) -> timedelta:
        return self.ttl

    def acquire(self) -> bool:
        """Take the lease (its name is new: nobody else can hold it) just before the first claim, in a
        commit of its own: a claim's transaction may roll back (a rate-limited queue's grant given back)."""
        if self.acquired:
            return True
        now = timezone.now()
        JobLock.objects.create(job=self.job_name, token=self.token, host=self.host, pid=self.pid, acquired_at=now,
                               expires_at=now + self.ttl)
        self.acquired = True
        self._last_renewed = time.monotonic()
        return True

    def _renew_once(self) -> int:
        until = timezone.now() + self.ttl
        TimedTask.objects.filter(claimed_by=self.token, status=TimedTaskStatus.PENDING).update(lease_until=until)
        return JobLock.objects.filter(job=self.job_name, token=self.token).update(expires_at=until)

    def release(self) -> None:
        """Forget the lease: call it only when no task is held under it any more (a stopped or failed
        dispatch keeps it, so that its remaining tasks follow the lease's rules)."""
        if self.acquired:
            JobLock.objects.filter(job=self.job_name, token=self.token).delete()
            self.acquired, self.released = False, True


def free_claims_of_gone_dispatchers() -> int:
    """Make the tasks of dispatchers whose process is gone on this host due at once, and forget
    expired claims (their tasks are due again already). Returns the tasks freed.

    A freed task keeps its ``claimed_by``, so the dispatcher that runs it again says why; its lease
    ends when it was claimed (a moment past), and its due time never moved, so it keeps its place.
    """
    now = timezone.now()
    freed = 0
    claims = JobLock.objects.filter(job__startswith=CLAIM_PREFIX).exclude(token="")
    for claim in claims.only("job", "token", "host", "pid", "expires_at"):
        if holder_gone(claim.host, claim.pid):
            freed += TimedTask.objects.filter(claimed_by=claim.token, status=TimedTaskStatus.PENDING).update(
                # The previous release moved a held task's due time to its lease's end: back to its claim.
                lease_until=F("executed_time"), next_attempt_at=Least("next_attempt_at", "executed_time"))
        elif claim.held_at(now):
            continue  # its holder lives, or cannot be checked from here: the lease runs its course
        JobLock.objects.filter(job=claim.job, token=claim.token).delete()
    return freed
