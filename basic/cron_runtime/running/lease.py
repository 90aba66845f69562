"""The one lease of the runtime, a row in the shared database: held by one process at a time, across hosts.

A job's run holds the lease named after its job (at most one run of a job at a time); a timed-task
dispatch holds one named after its claim, and its tasks carry the claim's token
(timed_tasks/claim.py). The holder takes the lease with one conditional UPDATE (the database decides
who wins) and renews it every TTL/3 while it lives: the process's renewal thread (renewals.py) for a
job, the dispatcher itself between calls. The lease is free again when:
- the holder releases it (normal end, exception, SIGTERM);
- it expires: the holder stopped renewing (kill -9, host lost) at most TTL seconds ago;
- the holder ran on this host and its pid is gone (``holder_gone``): taken over at once.
Hosts need roughly synchronised clocks (NTP): the expiry is compared with each host's own clock.
"""
from __future__ import annotations

import os
import time
import uuid
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

from django.db import DatabaseError, connection
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone
from loguru import logger

from basic.cron_runtime import conf
from basic.cron_runtime.models import JobLock, JobRun, RunOutcome
from basic.cron_runtime.running.renewals import renewals
from basic.cron_runtime.sql_names import column, db_values, table


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, belongs to another user
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Has the process exited without being reaped? Its parent died, and PID 1 (in a container, say) reaps
    nothing: it still answers kill(pid, 0), yet it is as gone as a process can be (its run is abandoned)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no /proc, or gone meanwhile
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def holder_gone(host: str, pid: int | None) -> bool:
    """Did the lease's holder run on this host in a process that is now gone? Then nobody needs to
    wait for its lease to expire. Another host's process cannot be checked: its lease runs out."""
    return bool(host == conf.HOSTNAME and pid and pid != os.getpid() and not pid_alive(pid))


class JobLease:
    """The lease on one job, held by one run. Use ``acquire()`` then ``release()`` (or ``with``)."""

    def __init__(self, job_name: str, run: JobRun | None = None, *, ttl: int | None = None,
                 renew_in_background: bool = True):
        self.job_name = job_name
        self.run = run
        self.ttl = timedelta(seconds=conf.CRON_LOCK_TTL if ttl is None else ttl)
        self.token = uuid.uuid4().hex
        self.host = conf.HOSTNAME
        self.pid = os.getpid()
        self.holder: JobLock | None = None  # who had it when acquire() failed
        self.lost = False  # renewal found someone else's token
        self.closed_abandoned: JobRun | None = None  # the dead previous holder's run, closed by acquire()
        self.acquired = False
        self.released = False  # acquired, then given back
        self._last_renewed = 0.0  # time.monotonic() of the last successful take or renewal
        # False: the holder calls renew_if_due() itself, between short pieces of work.
        self.renew_in_background = renew_in_background

    def acquire(self, *, unless: tuple[str, list] | None = None) -> bool:
        """Take the lease; False when another holder has it. ``unless``: SQL and its parameters, read in
        the same statement that takes the lease, which refuses it too when true (the runner's pause: a
        pause committed before that statement is always seen); the caller tells the two refusals apart."""
        now = timezone.now()
        # The usual case, a lease its last run released: one UPDATE, with no holder to read or run to close.
        if self._take_released(now, unless) or self._acquire_from_holder(now, unless):
            self._last_renewed = time.monotonic()
            if self.renew_in_background:
                renewals.add(self)
            return True
        return False

    def _holder_values(self, now) -> dict:
        return dict(token=self.token, host=self.host, pid=self.pid, run=self.run, acquired_at=now,
                    expires_at=now + self.ttl)

    def _take_released(self, now, unless: tuple[str, list] | None) -> bool:
        """One statement written once: the ORM took longer to build it than the database to run it."""
        values = self._holder_values(now)
        with connection.cursor() as cursor:
            cursor.execute(_take_released_sql(connection.vendor, tuple(values), unless[0] if unless else None),
                           [*db_values(JobLock, values), self.job_name, *(unless[1] if unless else ())])
            self.acquired = cursor.rowcount == 1
        return self.acquired

    def _take(self, free: Q, now, unless: tuple[str, list] | None = None) -> bool:
        rows = JobLock.objects.filter(free)
        if unless is not None:
            rows = rows.filter(RawSQL(f"NOT {unless[0]}", unless[1], output_field=BooleanField()))
        self.acquired = rows.update(**self._holder_values(now)) == 1
        return self.acquired

    def _acquire_from_holder(self, now, unless: tuple[str, list] | None) -> bool:
        """No row yet, or a holder's token on it: free once that lease expired or its process died here."""
        current, _ = JobLock.objects.get_or_create(job=self.job_name)  # handles the create race itself
        free = JobLock.free_at(now)
        if current.token and holder_gone(current.host, current.pid):
            free |= Q(token=current.token)  # its process died on this host: no need to wait for expiry
        if not self._take(Q(job=self.job_name) & free, now, unless):
            self.holder = JobLock.objects.filter(job=self.job_name).first()
            return False
        if current.token and current.run_id:
            self._close_abandoned_run(current, now)
        return True

    def release(self) -> None:
        """Give the lease back (only our own token: a lease taken over from us stays with its new holder)."""
        if not self.acquired:
            return
        renewals.remove(self)
        JobLock.objects.filter(job=self.job_name, token=self.token).update(token="", expires_at=None)
        self.acquired, self.released = False, True

    def release_saving(self, run: JobRun, fields: list[str]) -> None:
        """Save ``fields`` of ``run`` and give the lease back (if held), as one unit: a run's end. On
        MySQL/MariaDB that is one multi-table UPDATE, atomic and committed on its own, where two
        statements in a transaction cost four more round trips (BEGIN, COMMIT and autocommit back on).
        Elsewhere the caller runs the two statements in its transaction (``one_statement``)."""
        if not self.acquired or connection.vendor != "mysql":
            run.save(update_fields=fields)
            self.release()  # nothing to do when not held
            return
        saved = db_values(JobRun, {name: getattr(run, name) for name in fields})
        renewals.remove(self)  # first: a renewal after the release would find our token gone and call the lease lost
        try:
            with connection.cursor() as cursor:
                cursor.execute(_save_and_release_sql(tuple(fields)), [self.job_name, self.token, *saved, run.pk])
        except BaseException:
            if self.renew_in_background:  # not released: it is still ours, and must not expire meanwhile
                renewals.add(self)
            raise
        self.acquired, self.released = False, True

    def one_statement(self) -> bool:
        """Does ``release_saving`` need no transaction around it (one statement, or nothing to release)?"""
        return not self.acquired or connection.vendor == "mysql"

    def forget(self) -> None:
        """The transaction that took the lease rolled back: stop renewing what the database never gave us."""
        renewals.remove(self)
        self.acquired = False

    @property
    def renewing(self) -> bool:
        """Is this process still renewing the lease (held, and not found taken over)?"""
        return renewals.renewing(self)

    @property
    def interval(self) -> float:
        return self.ttl.total_seconds() / 3

    def renew_if_due(self) -> None:
        """Renew now when a third of the TTL has gone since the last renewal (a holder renewing inline)."""
        if self.acquired and time.monotonic() - self._last_renewed >= self.interval:
            if not self._renew_once():
                self.lost = True
            self._last_renewed = time.monotonic()

    def holder_description(self) -> str:
        holder = self.holder
        if holder is None or not holder.token:
            return "another run took the lock first"
        since = timezone.localtime(holder.acquired_at).strftime("%Y-%m-%d %H:%M:%S %Z") if holder.acquired_at else "?"
        run = f" (run #{holder.run_id})" if holder.run_id else ""
        return f"already running on {holder.host} pid {holder.pid} since {since}{run}"

    def renew_due(self) -> bool:
        """One renewal, every TTL/3 (renewals.py); False once there is nothing left to renew.

        A database error (server restart, network blip, connection dropped) must not stop the
        renewals for good: it is logged, the connection closed (Django reconnects on the next
        query) and the renewal retried at the next interval. The lease counts as lost only when
        our token is gone (the UPDATE matched no row) or when no renewal succeeded for longer than
        the TTL (someone may have taken it)."""
        try:
            renewed = self._renew_once()
        except DatabaseError as exc:
            connection.close()  # a broken connection is replaced by a new one on the next try
            logger.warning(f"lease {self.job_name}: renewal failed ({type(exc).__name__}: {exc}); "
                           f"retrying in {self.interval:.0f} s")
            if time.monotonic() - self._last_renewed > self.ttl.total_seconds():
                # The lease may have expired and been taken: report the possible overlap,
                # but keep trying — if nobody took it our next UPDATE renews it again.
                self.lost = True
            return True
        if not renewed:
            # Someone took the lease over (we were frozen longer than the TTL); nothing
            # to renew any more. The run goes on; the overlap is reported in its record.
            self.lost = True
            return False
        self._last_renewed = time.monotonic()
        return True

    def _renew_once(self) -> int:
        """One renewal: 1 when our token still held the lease (now extended), 0 when it is gone."""
        return JobLock.objects.filter(job=self.job_name, token=self.token).update(
            expires_at=timezone.now() + self.ttl)

    def _close_abandoned_run(self, previous: JobLock, now) -> None:
        """The run that held the lease before us died without recording its end: say so."""
        why = "its process is gone" if holder_gone(previous.host, previous.pid) else "its lock expired without renewal"
        if _mark_abandoned(previous.run_id, host=previous.host, pid=previous.pid, why=why, now=now):
            self.closed_abandoned = JobRun.objects.filter(pk=previous.run_id).first()


@lru_cache
def _take_released_sql(vendor: str, fields: tuple[str, ...], unless: str | None) -> str:
    """The lease's UPDATE when its last holder released it (its token is empty), unless the caller's
    condition holds (``acquire(unless=…)``). ``vendor``: the SQL is quoted for it."""
    sets = ", ".join(f"{column(JobLock, name)} = %s" for name in fields)
    guard = f" AND NOT {unless}" if unless else ""
    return (f"UPDATE {table(JobLock)} SET {sets} WHERE {column(JobLock, 'job')} = %s "
            f"AND {column(JobLock, 'token')} = ''{guard}")


@lru_cache
def _save_and_release_sql(fields: tuple[str, ...]) -> str:
    """MySQL's multi-table UPDATE of a run's ``fields`` and of its job's lease, only while our token is on it
    (the LEFT JOIN leaves the run's row alone to update when the lease was taken over)."""
    sets = ", ".join(f"r.{column(JobRun, name)} = %s" for name in fields)
    token = column(JobLock, "token")
    return (f"UPDATE {table(JobRun)} r LEFT JOIN {table(JobLock)} l "
            f"ON l.{column(JobLock, 'job')} = %s AND l.{token} = %s "
            f"SET {sets}, l.{token} = '', l.{column(JobLock, 'expires_at')} = NULL "
            f"WHERE r.{column(JobRun, 'pk')} = %s")


def _mark_abandoned(run_id, *, host: str, pid, why: str, now) -> bool:
    return bool(JobRun.objects.filter(pk=run_id, outcome=RunOutcome.RUNNING).update(
        outcome=RunOutcome.FAILED, finished_at=now,
        message=f"abandoned: {host} pid {pid} stopped while running ({why}; killed?)",
    ))


# A run creates its record a moment before it takes the lease; younger records are left alone.
ABANDONED_AFTER = timedelta(minutes=1)


def close_abandoned_runs(now=None) -> list[JobRun]:
    """Mark as failed ("abandoned") every run recorded as running whose run has in fact ended.

    A run killed with ``kill -9``, lost with its host, or unable to record its end (the
    database connection dropped) stays ``running`` until the next run of the same job
    takes the lease: for the monthly job, a month during which `cronjobs status` and
    /healthz/cron would stay green. The heartbeat calls this every minute. A record is
    abandoned when its job's lease is no longer held for it (released, or held by another
    run), expired more than ``CRON_LOCK_TTL`` ago, or is held by a process of this host that
    is gone. Returns the runs closed, as they are now.
    """
    now = now or timezone.now()
    running = list(JobRun.objects.filter(outcome=RunOutcome.RUNNING, started_at__lt=now - ABANDONED_AFTER))
    leases = {lock.job: lock for lock in JobLock.objects.filter(job__in={run.job for run in running})}
    closed = []
    for run in running:
        lease = leases.get(run.job)
        if lease is None or not lease.token or lease.run_id != run.pk:
            why = "its lock was released or taken by another run"
        elif holder_gone(lease.host, lease.pid):
            why = "its process is gone"
        elif not lease.held_at(now - timedelta(seconds=conf.CRON_LOCK_TTL)):
            # Expired for a whole TTL more: a run whose renewals failed for a while (a database
            # blip) renews again when it can, and is not declared dead for that.
            why = "its lock expired without renewal"
        else:
            continue  # alive: it holds its lease (or renews it late)
        if _mark_abandoned(run.pk, host=run.host, pid=run.pid, why=why, now=now):
            run.refresh_from_db()
            closed.append(run)
    return closed
