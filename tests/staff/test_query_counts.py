"""No page issues a query per row: each page's query count at ten times the rows is at most its count at the start.

The pages whose data grows with time: the staff dashboard, a job's page, the timed tasks, finance,
/metrics, /healthz/cron, a customer's /orders/ and the home page (built from a cold cache and
served from a warm one). Rows of every kind grow together: run records of every job (the latest
of one job skipped, of another failed), timed tasks in every status, orders paid and cancelled,
finance months, products.
"""
from __future__ import annotations

import itertools
import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from basic.cron_runtime.models import RunOutcome, TimedTask, TimedTaskStatus
from order.models import FinanceRecord
from order.services.cancellation import order_cancel_by_user
from order.services.payment import payment_callback_handle, payment_sign
from order.services.placement import LineRequest, order_place
from tests.factories import make_product
from tests.staff.helpers import create_run

PAGES = ["/staff/", "/staff/cron/flaky/", "/staff/cron/heartbeat/", "/staff/timed-tasks/", "/staff/finance/",
         "/metrics", "/healthz/cron", "/orders/", "/", "/#warm"]
_months = itertools.count()


def _grow(customer, rows: int) -> None:
    """``rows`` more of everything the pages read."""
    outcomes = [RunOutcome.SUCCEEDED, RunOutcome.FAILED, RunOutcome.SKIPPED, RunOutcome.TERMINATED]
    for i in range(rows):
        create_run("flaky", outcomes[i % 4], minutes_ago=3 + i, items=i)
        create_run("heartbeat", RunOutcome.SUCCEEDED, minutes_ago=3 + i)
    create_run("flaky", RunOutcome.SKIPPED, minutes_ago=1)  # the latest: the lookups must look past it
    now = timezone.now()
    for i in range(rows):
        status = list(TimedTaskStatus)[i % len(TimedTaskStatus)]
        run_at = now + timedelta(minutes=i - rows // 2)
        TimedTask.objects.create(func_path="tests.cron_runtime.timed_tasks.funcs.record_call", name=f"task {i}", run_at=run_at,
                                 next_attempt_at=run_at, status=status,
                                 finish_time=None if status == TimedTaskStatus.PENDING else run_at)
    products = [make_product(stock=None) for _ in range(max(rows // 5, 1))]
    for i in range(rows):
        order = order_place(user=customer, lines=[LineRequest(products[i % len(products)].pk, 1)])
        if i % 3 == 0:
            body = json.dumps({"order_number": order.order_number, "transaction_id": f"T{order.pk}",
                               "amount": str(order.pay_amount)}).encode()
            payment_callback_handle(body=body, signature=payment_sign(body))
        elif i % 3 == 1:
            order_cancel_by_user(user=customer, order_number=order.order_number)
    for _ in range(max(rows // 5, 1)):
        n = next(_months)
        FinanceRecord.objects.create(month=date(2000 + n // 12, 1 + n % 12, 1), orders_created=3, orders_paid=1,
                                     revenue=Decimal("100.00"))


def _get(client, url: str):
    if url == "/":
        cache.clear()  # cold: this request builds the home page
    response = client.get(url.split("#")[0])
    assert response.status_code in (200, 503), (url, response.status_code)
    return response


@pytest.fixture(autouse=True)
def _queries_kept_across_a_request():
    """Django empties the query log at the start of each request (``reset_queries``), which would make
    a count around a request miss the queries logged before it: keep the log for these counts."""
    from django.core.signals import request_started
    from django.db import reset_queries

    request_started.disconnect(reset_queries)
    yield
    request_started.connect(reset_queries)


@pytest.fixture
def locmem_cache(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": "query-counts"}}
    cache.clear()


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES)
def test_a_pages_query_count_does_not_grow_with_its_rows(url, client, staff_user, customer, staff_cronjobs,
                                                        locmem_cache, django_assert_max_num_queries):
    if url.startswith("/staff"):
        client.force_login(staff_user)
    elif url not in ("/metrics", "/healthz/cron"):  # those two are read without a login
        client.force_login(customer)
    warm = url == "/#warm"  # the home page served from the cache: warmed before each counted request
    _grow(customer, 3)
    if warm:
        client.get("/")
    with CaptureQueriesContext(connection) as small:
        _get(client, url)
    queries_at_the_start = len(small)  # now: the context reads the connection's log each time it is asked
    assert queries_at_the_start > 0

    _grow(customer, 30)
    if warm:
        cache.clear()
        client.get("/")

    with django_assert_max_num_queries(queries_at_the_start):
        _get(client, url)
