"""What a job tells the runner while it works, so that a stopped run says how far it got.

A job that works in chunks calls ``report_progress(chunks=1, items=n, unit="orders")`` after
each chunk commits (inside the same ``uninterrupted()`` block, so a stop never falls between
the commit and its count). When SIGTERM or Ctrl-C stops the run, the run record and the
process's one line carry the totals: "terminated by SIGTERM after 3 chunks (3,000 orders)".
Outside a run (a test or a shell calling the service) reporting does nothing.

The runner also gives the job its run's moment: ``run_now()`` is the time the run started, the
one ``now`` a job passes down to its services, so that everything one run writes agrees on when
it happened (the orders it cancels and the finance it settles). Outside a run it is the clock.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone


@dataclass
class RunProgress:
    items: int = 0
    chunks: int = 0
    unit: str = "items"
    started_at: datetime | None = None  # the run's moment (run_now), set by the runner
    step: str = "chunk"  # what a chunk is called: an interval job's run counts calls (beats.py)

    def describe(self) -> str:
        """'3 chunks (3,000 orders)', or '1,200 items' for a job that reports no chunks."""
        items = f"{self.items:,} {self.unit}"
        if not self.chunks and self.step == "chunk":  # (an interval run says "0 calls": none finished)
            return items
        return f"{self.chunks:,} {self.step}{'' if self.chunks == 1 else 's'} ({items})"


_current: ContextVar[RunProgress | None] = ContextVar("cron_runtime_progress", default=None)


def report_progress(*, items: int = 0, chunks: int = 0, unit: str | None = None) -> None:
    """Add work done to the current run's totals (``unit`` names the items, e.g. "orders")."""
    progress = _current.get()
    if progress is None:
        return
    progress.items += items
    progress.chunks += chunks
    if unit:
        progress.unit = unit


def run_now() -> datetime:
    """The current run's moment (when it started); outside a run, the current time."""
    progress = _current.get()
    if progress is None or progress.started_at is None:
        return timezone.now()
    return progress.started_at


@contextmanager
def tracking_progress():
    """The runner's side: the totals the job reports inside the block."""
    progress = RunProgress()
    token = _current.set(progress)
    try:
        yield progress
    finally:
        _current.reset(token)
