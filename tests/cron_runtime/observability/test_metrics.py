"""/metrics: Prometheus text read by prometheus_client's own parser, checked against the run records;
who may read it (loopback, bearer token) and who gets 403."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.db.models import Max
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from basic.cron_runtime import conf
from basic.cron_runtime.observability.housekeeping import prune_old_runs
from basic.cron_runtime.observability.metrics import DURATION_BUCKETS
from basic.cron_runtime.models import JobLock, JobRun, JobRunTally, RunOutcome, RunTrigger
from basic.cron_runtime.scheduling.registry import job_by_name
from basic.cron_runtime.observability.run_totals import fold_finished_runs
from basic.cron_runtime.running.runner import run_job
from order.models import CallbackOutcome, OrderStatus
from order.services.cancellation import order_cancel_by_user
from order.services.payment import payment_sign
from order.services.placement import LineRequest, order_place
from tests.cron_runtime.helpers import run_manage
from tests.factories import make_product, make_user

pytestmark = pytest.mark.django_db
TOKEN = "metrics-token-for-tests-0123456789"


@pytest.fixture(autouse=True)
def own_log_folder(tmp_path, monkeypatch):
    import oms_conf.logging

    monkeypatch.setitem(oms_conf.logging._state, "log_dir", tmp_path / "logs")


@pytest.fixture
def loguru_lines():
    """Every loguru line (with its traceback, if any) emitted during the test."""
    from loguru import logger

    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="DEBUG", format="{level} | {message}")
    yield lines
    logger.remove(sink)


def scrape(client, **extra) -> dict[str, dict[tuple, float]]:
    """GET /metrics and parse it: sample name -> {sorted label items: value}."""
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/plain; version=")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples[name][tuple(sorted(labels.items()))]


@pytest.mark.django_db(transaction=True)  # the child process must see (and write) committed rows
def test_job_metrics_match_the_run_records_after_real_runs(client, test_jobs, cron_env, manage_py):
    noop, failing = job_by_name("test_noop"), job_by_name("failing")
    run_job(noop, trigger=RunTrigger.MANUAL)
    run_job(failing, trigger=RunTrigger.MANUAL)
    # Another process, as cron would run it: counted from the database, not from this process.
    proc = run_manage(manage_py, cron_env, "cronjobs", "run", "test_noop")
    assert proc.returncode == 0, proc.stderr
    # A run that meets the lock is recorded as skipped.
    JobLock.objects.update_or_create(job="test_noop", defaults={
        "token": "held", "host": "web-9", "pid": 1, "acquired_at": timezone.now(),
        "expires_at": timezone.now() + timedelta(minutes=5)})
    assert run_job(noop, trigger=RunTrigger.MANUAL).outcome == RunOutcome.SKIPPED

    samples = scrape(client)

    for job in ("test_noop", "failing", "slow", "heartbeat"):
        for outcome in (RunOutcome.SUCCEEDED, RunOutcome.FAILED, RunOutcome.SKIPPED):
            expected = JobRun.objects.filter(job=job, outcome=outcome).count()
            assert value(samples, "oms_cron_job_runs_total", job=job, outcome=outcome) == expected, (job, outcome)
    assert value(samples, "oms_cron_job_runs_total", job="test_noop", outcome="succeeded") == 2
    assert value(samples, "oms_cron_job_runs_total", job="test_noop", outcome="skipped") == 1
    assert value(samples, "oms_cron_job_runs_total", job="failing", outcome="failed") == 1
    assert value(samples, "oms_cron_job_running", job="test_noop") == 0

    last_ok = JobRun.objects.filter(job="test_noop", outcome="succeeded").aggregate(m=Max("finished_at"))["m"]
    assert value(samples, "oms_cron_job_last_success_timestamp_seconds", job="test_noop") == pytest.approx(
        last_ok.timestamp(), abs=1e-3)
    assert ("job", "failing") not in {key[0] for key in samples["oms_cron_job_last_success_timestamp_seconds"]}

    # Last duration: the latest run that worked (the skipped attempt is not one).
    latest = JobRun.objects.filter(job="test_noop", outcome="succeeded").order_by("-started_at").first()
    assert value(samples, "oms_cron_job_last_duration_seconds", job="test_noop") == pytest.approx(
        latest.duration.total_seconds(), abs=1e-3)

    # Histogram: both successes of test_noop, not the skipped attempt.
    worked = [run.duration.total_seconds() for run in
              JobRun.objects.filter(job="test_noop", outcome="succeeded")]
    assert value(samples, "oms_cron_job_duration_seconds_count", job="test_noop") == len(worked) == 2
    assert value(samples, "oms_cron_job_duration_seconds_sum", job="test_noop") == pytest.approx(sum(worked), abs=1e-3)
    assert value(samples, "oms_cron_job_duration_seconds_bucket", job="test_noop", le="+Inf") == 2


def test_histogram_buckets_and_heartbeat_age(client, test_jobs):
    now = timezone.now()
    for seconds in (0.05, 2, 20, 400, 7200):
        JobRun.objects.create(job="slow", trigger="cron", host="h", pid=1, outcome="succeeded",
                              started_at=now - timedelta(hours=3), finished_at=now - timedelta(hours=3, seconds=-seconds))
    JobRun.objects.create(job="heartbeat", trigger="cron", host="h", pid=1, outcome="succeeded",
                          started_at=now - timedelta(seconds=42), finished_at=now - timedelta(seconds=41))

    with time_machine.travel(now, tick=False):
        samples = scrape(client)

    durations = (0.05, 2, 20, 400, 7200)
    for bound in DURATION_BUCKETS:
        assert value(samples, "oms_cron_job_duration_seconds_bucket", job="slow", le=str(float(bound))) == \
            sum(1 for d in durations if d <= bound), bound
    assert value(samples, "oms_cron_job_duration_seconds_bucket", job="slow", le="+Inf") == 5
    assert value(samples, "oms_cron_job_duration_seconds_sum", job="slow") == pytest.approx(sum(durations))
    assert value(samples, "oms_cron_heartbeat_age_seconds") == pytest.approx(42)
    assert value(samples, "oms_cron_heartbeat_stale") == 0


def _callback(client, order, transaction_id: str):
    body = json.dumps({"order_number": order.order_number, "transaction_id": transaction_id,
                       "amount": str(order.pay_amount)}).encode()
    return client.post("/payment/callback/", body, content_type="application/json",
                       headers={"X-Signature": payment_sign(body)})


def test_orders_cancelled_and_callbacks_by_outcome(client, settings):
    user, product = make_user(), make_product(stock=None)
    orders = [order_place(user=user, lines=[LineRequest(product.pk, 1)]) for _ in range(5)]
    order_cancel_by_user(user=user, order_number=orders[0].order_number)
    assert _callback(client, orders[1], "TX-1").json()["outcome"] == CallbackOutcome.APPLIED
    assert _callback(client, orders[1], "TX-1").status_code == 200  # a replay: answered, recorded once
    assert _callback(client, orders[1], "TX-2").json()["outcome"] == CallbackOutcome.REFUND_REQUIRED
    with time_machine.travel(timezone.now() + timedelta(seconds=settings.ORDER_TIMEOUT + 5)):
        run = run_job(job_by_name("cancel_timeouts"), trigger=RunTrigger.MANUAL)
    assert run.outcome == RunOutcome.SUCCEEDED and run.items_processed == 3

    samples = scrape(client)

    assert value(samples, "oms_orders_cancelled_total", reason="timeout") == 3
    assert value(samples, "oms_orders_cancelled_total", reason="user") == 1
    assert value(samples, "oms_payment_callbacks_total", outcome="applied") == 1
    assert value(samples, "oms_payment_callbacks_total", outcome="refund_required") == 1
    assert value(samples, "oms_payment_callbacks_total", outcome="duplicate") == 0
    assert orders[0].__class__.objects.filter(order_status=OrderStatus.TIMEOUT_CANCELLED).count() == 3


@pytest.mark.parametrize("headers", [{}, {"HTTP_AUTHORIZATION": "Bearer wrong-token-0123456789"},
                                     {"HTTP_AUTHORIZATION": f"Basic {TOKEN}"}])
def test_a_remote_client_without_the_token_gets_403_and_one_warning_line(client, settings, headers, loguru_lines):
    settings.METRICS_TOKEN = TOKEN
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.7", **headers)
    assert response.status_code == 403
    assert b"oms_cron" not in response.content
    lines = [line for line in loguru_lines if "/metrics" in line]
    assert len(lines) == 1 and "WARNING" in lines[0] and "203.0.113.7" in lines[0], loguru_lines
    assert "Traceback" not in "".join(loguru_lines)


def test_a_remote_client_with_the_token_gets_the_metrics(client, settings, test_jobs):
    settings.METRICS_TOKEN = TOKEN
    samples = scrape(client, REMOTE_ADDR="203.0.113.7", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert "oms_cron_job_runs_total" in samples


def test_loopback_is_allowed_unless_it_came_through_a_proxy(client, settings, test_jobs):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::ffff:127.0.0.1").status_code == 200
    # A reverse proxy on this host: REMOTE_ADDR is loopback, the visitor is not.
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.4").status_code == 403
    # With no METRICS_TOKEN set, no token opens it.
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.7", HTTP_AUTHORIZATION="Bearer ").status_code == 403


def test_folding_and_pruning_old_run_records_never_change_a_counter(client, test_jobs, settings):
    """The heartbeat folds finished runs into the tally, then prunes records past
    CRON_RUN_RETENTION_DAYS; Prometheus would read a lower counter as a reset (and a huge
    increase), so what a scrape says must not move through either."""
    now = timezone.now()
    old = now - timedelta(days=conf.CRON_RUN_RETENTION_DAYS + 5)
    for index, (outcome, seconds) in enumerate([("succeeded", 0.2), ("failed", 3), ("skipped", 0),
                                                 ("succeeded", 40), ("succeeded", 0.05)]):
        started = old + timedelta(minutes=index)
        JobRun.objects.create(job="test_noop", trigger="cron", host="h", pid=1, outcome=outcome,
                              started_at=started, finished_at=started + timedelta(seconds=seconds))
    recent = JobRun.objects.create(job="test_noop", trigger="cron", host="h", pid=1, outcome="failed",
                                   started_at=now - timedelta(minutes=1), finished_at=now - timedelta(seconds=59))
    counters = ("oms_cron_job_runs_total", "oms_cron_job_duration_seconds_bucket",
                "oms_cron_job_duration_seconds_count", "oms_cron_job_duration_seconds_sum",
                "oms_cron_job_last_success_timestamp_seconds")
    before = scrape(client)

    assert fold_finished_runs() == 5  # the recent run is not old enough yet
    assert JobRunTally.objects.get(job="test_noop").through_id == recent.pk - 1
    folded = scrape(client)
    assert prune_old_runs() == 5 and list(JobRun.objects.filter(job="test_noop")) == [recent]
    pruned = scrape(client)

    for name in counters:
        assert folded[name] == pytest.approx(before[name]), name
        assert pruned[name] == pytest.approx(before[name]), name
    assert value(pruned, "oms_cron_job_runs_total", job="test_noop", outcome="succeeded") == 3
    assert value(pruned, "oms_cron_job_runs_total", job="test_noop", outcome="failed") == 2
    assert value(pruned, "oms_cron_job_duration_seconds_count", job="test_noop") == 5  # the skipped one is not timed
    assert value(pruned, "oms_cron_job_duration_seconds_bucket", job="test_noop", le="0.5") == 2

    # Nothing left to fold or prune; a new run counts on from there.
    assert fold_finished_runs() == 0 and prune_old_runs() == 0
    run_job(job_by_name("test_noop"), trigger=RunTrigger.MANUAL)
    assert value(scrape(client), "oms_cron_job_runs_total", job="test_noop", outcome="succeeded") == 4


def test_an_open_run_holds_the_watermark_until_it_finishes(client, test_jobs, settings):
    """A run still `running` will change its outcome: it and every later run stay out of the tally."""
    long_ago = timezone.now() - timedelta(days=conf.CRON_RUN_RETENTION_DAYS + 5)
    runs = [JobRun.objects.create(job="slow", trigger="cron", host="h", pid=1, outcome=outcome,
                                  started_at=long_ago + timedelta(minutes=index),
                                  finished_at=None if outcome == "running" else long_ago + timedelta(minutes=index, seconds=2))
            for index, outcome in enumerate(["succeeded", "running", "succeeded"])]

    assert fold_finished_runs() == 1 and JobRunTally.objects.get(job="slow").through_id == runs[0].pk
    assert prune_old_runs() == 1  # runs[0], folded; the open run and the one after it are not
    samples = scrape(client)
    assert value(samples, "oms_cron_job_runs_total", job="slow", outcome="succeeded") == 2
    assert value(samples, "oms_cron_job_running", job="slow") == 1

    JobRun.objects.filter(pk=runs[1].pk).update(outcome="failed", finished_at=long_ago + timedelta(minutes=2))
    assert fold_finished_runs() == 2 and JobRunTally.objects.get(job="slow").through_id == runs[2].pk
    samples = scrape(client)
    assert value(samples, "oms_cron_job_runs_total", job="slow", outcome="succeeded") == 2
    assert value(samples, "oms_cron_job_runs_total", job="slow", outcome="failed") == 1
    assert value(samples, "oms_cron_job_running", job="slow") == 0
