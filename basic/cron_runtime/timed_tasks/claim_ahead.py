"""Claiming the next chunk while the current one runs, on a database connection of its own.

A dispatcher's time per task is its own Python (the call, the log line, reading the rows) plus
the database's work on the claim and the outcome, one after the other: the database waits while
the tasks are called, and the calls wait while the next chunk is claimed. ``ClaimAhead`` wraps a
chunk scan's ``take(start)`` so that, as soon as a chunk is claimed, the claim of the next one
(from where this one ended, which is what the scan asks next) starts in a worker thread, whose
database connection waits on the server while the main thread calls the tasks.

Nothing changes in what is claimed or how: the claim is the same statement under the same lease,
so a chunk claimed ahead and never run (a dispatch stopped, or failed) is like the unrun rest of
the current chunk: due again when the lease runs out, or at once when this process is gone.

Only where a second connection sees what the first one does: MySQL/MariaDB (SQLite allows one
writer at a time) and outside a transaction (a second connection would not see its uncommitted rows).
"""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections

Chunk = TypeVar("Chunk")
Due = TypeVar("Due")


def claim_ahead_possible(using: str = DEFAULT_DB_ALIAS) -> bool:
    """A second connection can claim for this one: MySQL/MariaDB, and this one is in no transaction."""
    connection = connections[using]
    return connection.vendor == "mysql" and not connection.in_atomic_block


class ClaimAhead(Generic[Chunk, Due]):
    """``take`` answered one chunk ahead, in a worker thread; use as a context manager (``close`` waits
    for a claim under way and closes the worker's connection)."""

    def __init__(self, take: Callable[[Due | None], tuple[Chunk, Due] | None]):
        self._take = take
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="claim-ahead")
        self._ahead: tuple[Due, Future] | None = None

    def __call__(self, start: Due | None) -> tuple[Chunk, Due] | None:
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == start:
            taken = ahead[1].result()
        else:
            if ahead is not None:  # not what the scan asked for: its chunk stays under the lease
                ahead[1].result()
            taken = self._take(start)
        if taken and taken[0]:
            self._ahead = (taken[1], self._worker.submit(self._take, taken[1]))
        return taken

    def close(self) -> None:
        ahead, self._ahead = self._ahead, None
        try:
            if ahead is not None:
                ahead[1].exception()  # wait for it; whatever it claimed stays under the lease
        finally:
            try:
                self._worker.submit(connections.close_all).result()
            finally:
                self._worker.shutdown()

    def __enter__(self) -> ClaimAhead[Chunk, Due]:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
