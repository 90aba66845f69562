"""The one way the runtime and its jobs walk a backlog under row locks: chunks, then a final sweep.

A caller's ``take(start)`` locks and handles one chunk with ``SELECT … ORDER BY <due column>, id
LIMIT n FOR UPDATE SKIP LOCKED`` (rows someone else holds are skipped, not waited for), starting
at ``start`` (None: from the beginning), and returns what it took with the newest due value of
the chunk. The scan then goes on:
- each chunk starts at the due value where the previous one ended, inclusive (rows with equal
  values split across two chunks are still taken). Starting from the beginning every time would
  make InnoDB wade through the delete-marked index entries of every earlier chunk until it purges
  them: the locking read grew from 5 to 20–30 ms per chunk over a 100,000-order backlog;
- when the forward scan finds nothing more, one last scan from the beginning takes the rows that
  were skipped because someone held them at that moment; rows still held then wait for the next run.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

Chunk = TypeVar("Chunk")
Due = TypeVar("Due")


def chunks_with_final_sweep(take: Callable[[Due | None], tuple[Chunk, Due] | None]) -> Iterator[Chunk]:
    """Yield ``take(start)``'s chunks until a forward scan and then a sweep from the beginning find nothing.

    ``take`` returns None (or an empty chunk) when it found nothing, else ``(chunk, newest due value)``.
    The next chunk is taken only when the caller asks for it, after it has dealt with this one.
    """
    start, swept = None, False
    while True:
        taken = take(start)
        if not taken or not taken[0]:
            if swept or start is None:
                return
            start, swept = None, True
            continue
        chunk, start = taken
        yield chunk
