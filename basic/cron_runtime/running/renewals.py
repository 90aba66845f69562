"""One daemon thread per process renews every job lease held in that process.

A thread of its own per run cost more than a short run's whole bookkeeping on a busy machine
(starting it waits for the new thread to be scheduled, and the release joined it); a worker
process runs thousands of short runs. The thread starts with the first lease, sleeps until the
next renewal is due, and closes its database connection after each round: renewals come every
TTL/3, far apart, and an idle connection would only wait for the server's wait_timeout.
"""
from __future__ import annotations

import os
import threading
import time
from typing import Protocol

from django.db import connection
from loguru import logger


class Renewable(Protocol):
    interval: float  # seconds between renewals

    def renew_due(self) -> bool:
        """Renew now; False when there is nothing to renew any more (the lease was taken over)."""


class _Renewals:
    def __init__(self):
        self._wake = threading.Condition()
        self._due: dict[Renewable, float] = {}  # lease -> when its next renewal is due (monotonic)
        self._busy: dict[Renewable, threading.Lock] = {}  # held while that lease is being renewed
        self._thread: threading.Thread | None = None

    def add(self, lease: Renewable) -> None:
        with self._wake:
            self._due[lease] = time.monotonic() + lease.interval
            self._busy[lease] = threading.Lock()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="lease-renewals", daemon=True)
                self._thread.start()
            self._wake.notify()

    def remove(self, lease: Renewable) -> None:
        """Stop renewing ``lease``; returns once no renewal of it is under way (as joining its thread did)."""
        with self._wake:
            self._due.pop(lease, None)
            busy = self._busy.pop(lease, None)
        if busy is not None:
            with busy:
                pass

    def renewing(self, lease: Renewable) -> bool:
        with self._wake:
            return lease in self._due

    def _run(self) -> None:
        while True:
            with self._wake:
                now = time.monotonic()
                due = [lease for lease, at in self._due.items() if at <= now]
                if not due:
                    self._wake.wait(min(self._due.values(), default=now + 3600) - now)
                    continue
                for lease in due:
                    self._due[lease] = now + lease.interval
                busy = {lease: self._busy[lease] for lease in due}
            try:
                for lease, lock in busy.items():
                    with lock:
                        try:
                            if self.renewing(lease) and not lease.renew_due():
                                self.remove_quietly(lease)
                        except Exception:  # noqa: BLE001 — one lease's fault must not end every lease's renewals
                            logger.exception(f"lease renewal of {lease!r} failed; retried at its next interval")
            finally:
                connection.close()  # this thread's own connection, opened again at the next round

    def remove_quietly(self, lease: Renewable) -> None:
        """Called by the renewal thread itself (it holds the lease's busy lock)."""
        with self._wake:
            self._due.pop(lease, None)
            self._busy.pop(lease, None)

    def after_fork(self) -> None:
        """A forked child (a Celery pool process) has none of its parent's threads, nor its leases."""
        self.__init__()


renewals = _Renewals()
os.register_at_fork(after_in_child=renewals.after_fork)
