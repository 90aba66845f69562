"""The runtime's one retry policy for work that loses a race for row locks, used by its jobs and by order.

``atomic_with_retry(fn, what=…)`` runs ``fn`` in its own transaction and, when MySQL/MariaDB
aborts it with a deadlock (1213) or a lock wait timeout (1205), runs it again a bounded number
of times after a short random pause (exponential backoff with full jitter, so two losers do not
collide again in step). Every caller that can meet these errors uses it: the payment callback,
the jobs' chunk transactions, a user's order and cancel. ``with_retries`` is the loop itself,
for work that is not one transaction (the runner recording a stop on a fresh connection).
The story is in docs/payments.md.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import OperationalError, transaction
from loguru import logger

T = TypeVar("T")

# MySQL/MariaDB error codes after which the same transaction may succeed when run again.
# InnoDB rolls the whole transaction back on a deadlock; on a lock wait timeout only the
# statement, but the atomic block then rolls back the rest.
LOCK_CONFLICTS = {1213: "deadlock", 1205: "lock wait timeout"}
DEFAULT_ATTEMPTS = 5
# Pauses before attempts 2, 3, … are random in [0, min(MAX_DELAY, BASE_DELAY * 2**(n-1))] s.
BASE_DELAY = 0.02
MAX_DELAY = 0.5


class TransactionRetriesExhausted(Exception):
    """Every attempt lost a lock race; nothing was committed. The work may be tried again later."""

    def __init__(self, what: str, attempts: int, last: BaseException):
        self.what, self.attempts, self.last = what, attempts, last
        super().__init__(f"{what}: gave up after {attempts} attempts ({lock_conflict(last) or type(last).__name__}: {last})")


def lock_conflict(exc: BaseException) -> str | None:
    """``'deadlock'`` or ``'lock wait timeout'`` when ``exc`` is MySQL's retryable lock error, else None."""
    if isinstance(exc, OperationalError) and exc.args and isinstance(exc.args[0], int):
        return LOCK_CONFLICTS.get(exc.args[0])
    return None


def _jittered_pause(attempt: int) -> float:
    return random.uniform(0, min(MAX_DELAY, BASE_DELAY * 2 ** (attempt - 1)))


def with_retries(
    fn: Callable[[], T],
    *,
    what: str,
    attempts: int,
    retry_if: Callable[[Exception], bool],
    before_retry: Callable[[Exception], None] | None = None,
    pause: Callable[[int], float] = _jittered_pause,
    log_retries: bool = True,
) -> T:
    """Return ``fn()``, called again while it raises an exception ``retry_if`` accepts.

    ``before_retry(exc)`` runs before each new attempt (e.g. to drop a broken connection), after a
    pause of ``pause(attempt)`` seconds; each retry is one WARNING line unless ``log_retries`` is
    False (the caller says what happened in its own words). Other exceptions propagate at once.
    After ``attempts`` failed attempts raises ``TransactionRetriesExhausted`` (from the last error).
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, not {attempts}")
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if not retry_if(exc):
                raise
            if attempt == attempts:
                raise TransactionRetriesExhausted(what, attempts, exc) from exc
            delay = pause(attempt)
            if log_retries:
                logger.warning(
                    "{}: rolled back ({}), attempt {}/{}; retrying in {:.0f} ms",
                    what, lock_conflict(exc) or f"{type(exc).__name__}: {exc}", attempt, attempts, delay * 1000,
                )
            if before_retry is not None:
                before_retry(exc)
            if delay:
                time.sleep(delay)
    raise AssertionError("unreachable")


def atomic_with_retry(
    fn: Callable[[], T],
    *,
    what: str,
    attempts: int = DEFAULT_ATTEMPTS,
    retry_on: tuple[type[BaseException], ...] = (),
    using: str | None = None,
    one_statement: bool = False,
) -> T:
    """Return ``fn()`` run inside ``transaction.atomic()``, retried after a lock conflict.

    ``one_statement``: ``fn`` runs a single statement, atomic by itself, so no transaction is opened
    around it (that saves the round trips of BEGIN, COMMIT and autocommit back on); retried the same.

    ``retry_on``: the caller's own exceptions that also mean "rolled back, try again" (e.g. a
    row changed under the transaction). Other exceptions propagate at once. After ``attempts``
    failed attempts raises ``TransactionRetriesExhausted`` (from the last error).

    Inside a caller's transaction a lock conflict is not retried here: the server has rolled
    back that whole transaction, so only its owner can run it again. ``retry_on`` exceptions
    are still retried there (the inner block is a savepoint).
    """
    nested = transaction.get_connection(using).in_atomic_block

    def retryable(exc: Exception) -> bool:
        if lock_conflict(exc) is not None:
            return not nested
        return isinstance(exc, retry_on)

    def in_transaction() -> T:
        with transaction.atomic(using=using):
            return fn()

    return with_retries(fn if one_statement else in_transaction, what=what, attempts=attempts, retry_if=retryable)
