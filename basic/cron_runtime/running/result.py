"""What a job function gives back to the runner.

A job function (the thing named in CRONJOBS) returns a ``JobReport`` (or an int,
read as items processed, or None). To fail after doing part of its work (for
example some emails could not be sent) it raises ``JobFailed``; any other exception
fails the run too. The runner records all of it.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class JobReport:
    items_processed: int = 0
    message: str = ""


class JobFailed(Exception):
    """The job did what it could but must be recorded as failed."""

    def __init__(self, message: str, *, items_processed: int = 0):
        super().__init__(message)
        self.items_processed = items_processed


def read_result(result) -> tuple[int, str]:
    """(items processed, message) of what a job function returned."""
    if isinstance(result, JobReport):
        return max(0, result.items_processed), result.message
    if isinstance(result, int) and not isinstance(result, bool):
        return max(0, result), ""
    if result is None:
        return 0, ""
    return 0, str(result)[:2000]
