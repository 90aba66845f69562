"""The one retry helper for transactions that lose a lock race (basic.cron_runtime.running.transactions)."""
import threading

import pytest
from django.db import OperationalError, connection
from django.db.models import F

from basic.models import Product
from basic.cron_runtime.running import transactions
from basic.cron_runtime.running.transactions import TransactionRetriesExhausted, atomic_with_retry, lock_conflict
from tests.factories import make_product
from tests.jobs.helpers import run_in_threads
from tests.orders.helpers import SiteLog

DEADLOCK = OperationalError(1213, "Deadlock found when trying to get lock; try restarting transaction")
LOCK_WAIT = OperationalError(1205, "Lock wait timeout exceeded; try restarting transaction")


def test_only_deadlock_and_lock_wait_timeout_are_lock_conflicts():
    assert lock_conflict(DEADLOCK) == "deadlock" and lock_conflict(LOCK_WAIT) == "lock wait timeout"
    assert lock_conflict(OperationalError(2013, "Lost connection to MySQL server during query")) is None
    assert lock_conflict(OperationalError("database is locked")) is None
    assert lock_conflict(ValueError(1213)) is None


@pytest.mark.django_db(transaction=True)
def test_conflicts_are_retried_with_jittered_pauses_then_given_up(monkeypatch):
    pauses = []
    monkeypatch.setattr(transactions.time, "sleep", pauses.append)
    errors = [DEADLOCK, LOCK_WAIT]

    def flaky():
        if errors:
            raise errors.pop(0)
        return "done"

    assert atomic_with_retry(flaky, what="flaky") == "done"
    assert len(pauses) == 2 and all(0 <= p <= transactions.MAX_DELAY for p in pauses)

    calls = []

    def always_deadlocks():
        calls.append(1)
        raise DEADLOCK

    with pytest.raises(TransactionRetriesExhausted, match=r"stuck: gave up after 3 attempts \(deadlock: ") as failed:
        atomic_with_retry(always_deadlocks, what="stuck", attempts=3)
    assert len(calls) == 3 and failed.value.__cause__ is DEADLOCK


@pytest.mark.django_db(transaction=True)
def test_other_errors_are_not_retried(monkeypatch):
    monkeypatch.setattr(transactions.time, "sleep", lambda s: None)
    calls = []

    def broken():
        calls.append(1)
        raise OperationalError(2006, "MySQL server has gone away")

    with pytest.raises(OperationalError, match="gone away"):
        atomic_with_retry(broken, what="broken")
    assert len(calls) == 1


@pytest.mark.django_db
def test_inside_a_callers_transaction_a_conflict_is_left_to_its_owner(monkeypatch):
    """InnoDB rolled the whole outer transaction back: retrying the inner part would be wrong."""
    monkeypatch.setattr(transactions.time, "sleep", lambda s: None)
    calls = []

    def deadlocks():
        calls.append(1)
        raise DEADLOCK

    assert connection.in_atomic_block  # pytest-django's test transaction
    with pytest.raises(OperationalError):
        atomic_with_retry(deadlocks, what="nested")
    assert len(calls) == 1


@pytest.mark.mysql_only  # SQLite serializes writers: it cannot deadlock
@pytest.mark.django_db(transaction=True)
def test_a_real_deadlock_is_retried_and_both_transactions_commit():
    """Two connections lock two rows in opposite order: the server kills one (1213); the
    helper runs it again and both commit exactly once."""
    a, b = make_product(stock=100), make_product(stock=100)
    both_hold_one = threading.Barrier(2, timeout=10)
    attempts = {"a-then-b": 0, "b-then-a": 0}

    def transfer(name, first, second):
        def attempt():
            attempts[name] += 1
            Product.objects.filter(pk=first.pk).update(stock=F("stock") - 1)
            if attempts[name] == 1:
                both_hold_one.wait()  # each now holds one row and asks for the other's
            Product.objects.filter(pk=second.pk).update(stock=F("stock") + 1)
            return name

        return lambda: atomic_with_retry(attempt, what=f"transfer {name}")

    log = SiteLog()
    results = run_in_threads(transfer("a-then-b", a, b), transfer("b-then-a", b, a))

    assert results == ["a-then-b", "b-then-a"]
    assert sorted(attempts.values()) == [1, 2]  # exactly one of them lost the deadlock and ran again
    assert (Product.objects.get(pk=a.pk).stock, Product.objects.get(pk=b.pk).stock) == (100, 100)
    lines = log.new_lines()
    retries = [line for line in lines if "| WARNING  |" in line and "rolled back (deadlock), attempt 1/5" in line]
    assert len(retries) == 1, lines
