"""A dispatch's database work done beside its calls, on connections of their own.

A dispatcher's time per task is its own Python (the call, the log line, reading the rows) plus the
database's work on the claim and the outcome, one after the other: the server waits while the
tasks are called, and the calls wait while a chunk is recorded and the next one claimed.
``ChunkPipeline`` gives that database work to two worker threads, each with its own connection,
which wait on the server while the main thread calls the tasks:
- ``take(start)``: a chunk scan's claim, answered one chunk ahead. As soon as a chunk is claimed,
  the claim of the next one (from where this one ended: what the scan asks next) starts;
- ``record(write)``: a chunk's outcome, written while the next chunk's tasks are called.
A claim and a recording are each a chain of round trips; on one connection each would wait for
the other, on two the server works on both at once.

Nothing changes in what is claimed or written: the same statements under the same lease. A chunk
claimed ahead and never run (a dispatch stopped or failed) is like the unrun rest of the current
chunk: due again when the lease runs out, or at once when this process is gone.

Only where a second connection sees what the first one does: MySQL/MariaDB (SQLite allows one
writer at a time) and outside a transaction (another connection would not see its uncommitted
rows). Elsewhere both run at once, in the caller's thread.
"""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections

Chunk = TypeVar("Chunk")
Due = TypeVar("Due")
Result = TypeVar("Result")


def pipelining_possible(using: str = DEFAULT_DB_ALIAS) -> bool:
    """A second connection can work for this one: MySQL/MariaDB, and this one is in no transaction."""
    connection = connections[using]
    return connection.vendor == "mysql" and not connection.in_atomic_block


class ChunkPipeline(Generic[Chunk, Due]):
    """Use as a context manager: its end waits for the workers' jobs and closes their connections."""

    def __init__(self, take: Callable[[Due | None], tuple[Chunk, Due] | None]):
        self._take = take
        beside = pipelining_possible()
        self._claimer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chunk-pipeline-claim") if beside else None
        self._recorder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chunk-pipeline-record") if beside else None
        self._ahead: tuple[Due, Future] | None = None

    def take(self, start: Due | None) -> tuple[Chunk, Due] | None:
        if self._claimer is None:
            return self._take(start)
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == start:
            taken = ahead[1].result()
        else:
            if ahead is not None:  # not what the scan asked for: its chunk stays under the lease
                ahead[1].result()
            taken = self._take(start)
        if taken and taken[0]:
            self._ahead = (taken[1], self._claimer.submit(self._take, taken[1]))
        return taken

    def record(self, write: Callable[[], Result]) -> Future:
        """``write()`` on the recording worker, after the writes given before (at once, where there is none); its future."""
        if self._recorder is not None:
            return self._recorder.submit(write)
        done: Future = Future()
        done.set_result(write())
        return done

    def close(self) -> None:
        self._ahead = None  # whatever it claimed stays under the lease
        for worker in (self._claimer, self._recorder):
            if worker is not None:
                try:
                    worker.submit(connections.close_all).result()  # after every job given before
                finally:
                    worker.shutdown()

    def __enter__(self) -> ChunkPipeline[Chunk, Due]:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
