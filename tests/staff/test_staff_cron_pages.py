"""Cron dashboard, job page, Run now, and who may see them."""
from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.template.loader import render_to_string

from basic.charts import ChartSeries, bar_chart, duration_unit
from basic.cron_runtime.models import JobRun, RunOutcome, RunTrigger

NOW = datetime(2026, 3, 10, 9, 30, 15, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture
def frozen():
    """The clock stands still (list it before the fixtures that create runs): ages are exact."""
    with time_machine.travel(NOW, tick=False):
        yield NOW


STAFF_PAGES = ["/staff/", "/staff/cron/flaky/", "/staff/finance/", "/staff/finance/export.xlsx"]


@pytest.mark.parametrize("url", STAFF_PAGES)
def test_anonymous_visitors_are_sent_to_login(client, staff_cronjobs, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("url", STAFF_PAGES)
def test_customers_are_refused(client, customer, staff_cronjobs, url):
    client.force_login(customer)
    assert client.get(url).status_code == 403


def test_customers_cannot_run_jobs_or_regenerate(client, customer, staff_cronjobs):
    client.force_login(customer)
    assert client.post("/staff/cron/flaky/run/").status_code == 403
    assert client.post("/staff/finance/regenerate/", {"month": "2024-01"}).status_code == 403
    assert not JobRun.objects.exists()


def test_dashboard_flags_a_failed_job_and_shows_the_heartbeat(frozen, staff_client, healthy_runs, make_run):
    make_run("flaky", RunOutcome.FAILED, minutes_ago=0.5, seconds=3, items=2, message="ValueError: boom")
    page = staff_client.get("/staff/").content.decode()
    flaky_row = page.split('id="job-flaky"')[1].split("</tr>")[0]
    assert 'class="failed"' in flaky_row and "flag-failed" in flaky_row
    assert "* * * * *" in flaky_row and "3.00 s" in flaky_row
    heartbeat_row = page.split('id="job-heartbeat"')[1].split("</tr>")[0]
    assert "flag-failed" not in heartbeat_row and "正常" in heartbeat_row
    assert 'badge-ok">cron 守护进程上次心跳：1 分钟前' in page  # cron started it 60 s ago
    assert "cron daemon last seen 60 s ago" in page
    assert "flaky: failed last time" in page  # the same problem lines as `cronjobs status`


def test_dashboard_flags_overdue_jobs_and_a_stale_heartbeat(frozen, staff_client, staff_cronjobs, make_run):
    make_run("flaky", RunOutcome.SUCCEEDED, minutes_ago=30)
    make_run("heartbeat", RunOutcome.SUCCEEDED, minutes_ago=30)
    page = staff_client.get("/staff/").content.decode()
    assert "flag-overdue" in page.split('id="job-flaky"')[1].split("</tr>")[0]
    assert "badge badge-bad\">cron 守护进程上次心跳：30 分钟前" in page


def test_dashboard_warns_about_crontab_drift(staff_client, healthy_runs, monkeypatch):
    monkeypatch.setattr("basic.cron_runtime.staff_selectors.crontab_drift",
                        lambda: ["flaky: not in the crontab (run `python manage.py crontab add`)"])
    page = staff_client.get("/staff/").content.decode()
    assert 'id="crontab-drift"' in page and "flaky: not in the crontab" in page


def test_job_page_shows_history_chart_traceback_and_log_tail(staff_client, healthy_runs, make_run, staff_cronjobs):
    make_run("flaky", RunOutcome.FAILED, minutes_ago=0.5, message="ValueError: boom",
             traceback="Traceback (most recent call last):\nValueError: <script>boom</script>")
    (staff_cronjobs / "flaky.log").write_text(
        "2024-05-01 08:00:00.000 +08:00 | INFO     | web1 | pid 1 | start\n"
        "2024-05-01 08:00:01.000 +08:00 | ERROR    | web1 | pid 1 | job raised ValueError\n"
        "Traceback (most recent call last):\n"
        "2024-05-01 08:01:00.000 +08:00 | INFO     | web1 | pid 2 | all fine again\n",
        encoding="utf-8",
    )
    page = staff_client.get("/staff/cron/flaky/").content.decode()
    assert 'id="last-failure"' in page
    assert "ValueError: &lt;script&gt;boom&lt;/script&gt;" in page and "<script>boom" not in page
    assert page.count('class="echart"') == 2 and '"#c0392b"' in page  # the failed run's bar is red
    assert page.count('<details class="chart-table">') == 2  # the same numbers without JavaScript
    assert "all fine again" in page and "job raised ValueError" in page

    errors_only = staff_client.get("/staff/cron/flaky/", {"level": "ERROR"}).content.decode()
    log = errors_only.split('id="log-tail"')[1].split("</pre>")[0]
    assert "job raised ValueError" in log and "Traceback" in log and "all fine again" not in log
    searched = staff_client.get("/staff/cron/flaky/", {"q": "FINE AGAIN"}).content.decode()
    assert "all fine again" in searched.split('id="log-tail"')[1] and "| start" not in searched


def test_job_page_filters_and_paginates_the_history(staff_client, staff_cronjobs, make_run):
    for minute in range(30):
        make_run("flaky", RunOutcome.FAILED if minute % 10 == 0 else RunOutcome.SUCCEEDED, minutes_ago=minute + 1)
    first_page = staff_client.get("/staff/cron/flaky/").content.decode()
    assert first_page.count('class="run ') == 25 and "第 1 / 2 页（共 30 条）" in first_page
    assert staff_client.get("/staff/cron/flaky/", {"page": 2}).content.decode().count('class="run ') == 5
    failed = staff_client.get("/staff/cron/flaky/", {"outcome": "failed"}).content.decode()
    assert failed.count('class="run ') == 3


def test_unknown_job_is_404_and_no_path_reaches_the_file_system(staff_client, staff_cronjobs):
    assert staff_client.get("/staff/cron/nope/").status_code == 404
    assert staff_client.get("/staff/cron/..%2F..%2Fsettings/").status_code == 404  # stopped by the URL router
    # these reach the view: a name that is not a job's is never turned into a path
    for name in ("heartbeat.log", "..", "flaky.log", "%2E%2E"):
        assert staff_client.get(f"/staff/cron/{name}/").status_code == 404, name
    assert staff_client.post("/staff/cron/nope/run/").status_code == 404


def test_run_now_goes_through_the_runner_as_manual_by_the_staff_user(staff_client, staff_user, staff_cronjobs):
    response = staff_client.post("/staff/cron/flaky/run/")
    run = JobRun.objects.get(job="flaky")
    assert response.status_code == 302 and response["Location"] == f"/staff/cron/flaky/#run-{run.pk}"
    assert (run.outcome, run.trigger, run.triggered_by, run.items_processed) == (
        RunOutcome.SUCCEEDED, RunTrigger.MANUAL, staff_user, 7)
    assert "7 things done" in (staff_cronjobs / "flaky.log").read_text(encoding="utf-8")
    page = staff_client.get(response["Location"]).content.decode()
    assert f"flaky: run #{run.pk} succeeded" in page and "manual · ops" in page


def test_run_now_records_a_failure(staff_client, staff_cronjobs, settings):
    settings.STAFF_TEST_JOB_FAILS = True
    page = staff_client.post("/staff/cron/flaky/run/", follow=True).content.decode()
    run = JobRun.objects.get(job="flaky")
    assert run.outcome == RunOutcome.FAILED and "the test told this job to fail" in run.traceback
    assert f"run #{run.pk} failed" in page


def test_run_now_needs_post(staff_client, staff_cronjobs):
    assert staff_client.get("/staff/cron/flaky/run/").status_code == 405
    assert not JobRun.objects.exists()


def test_run_now_needs_the_csrf_token(client, staff_user, staff_cronjobs):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(staff_user)
    assert csrf_client.post("/staff/cron/flaky/run/").status_code == 403
    assert not JobRun.objects.exists()


def test_admin_shows_run_records_read_only(client, django_user_model, make_run):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    run = make_run("flaky", RunOutcome.FAILED, message="boom")
    listing = client.get("/admin/cron_runtime/jobrun/", {"outcome__exact": "failed"})
    assert listing.status_code == 200 and "boom" in listing.content.decode()
    assert client.get("/admin/cron_runtime/jobrun/add/").status_code == 403
    detail = client.get(f"/admin/cron_runtime/jobrun/{run.pk}/change/").content.decode()
    assert 'name="_save"' not in detail
    assert client.post(f"/admin/cron_runtime/jobrun/{run.pk}/delete/", {"post": "yes"}).status_code == 403
    assert JobRun.objects.filter(pk=run.pk).exists()


def test_admin_pages_of_the_run_records_under_their_old_app_still_open(client, django_user_model, make_run):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))
    run = make_run("flaky", RunOutcome.FAILED, message="boom")
    moved = client.get(f"/admin/basic/jobrun/{run.pk}/change/", follow=True)
    assert moved.redirect_chain == [(f"/admin/cron_runtime/jobrun/{run.pk}/change/", 302)]
    assert "boom" in moved.content.decode()
    listing = client.get("/admin/basic/jobrun/", {"outcome__exact": "failed"})
    assert listing["Location"] == "/admin/cron_runtime/jobrun/?outcome__exact=failed"


def test_chart_keeps_negative_values_and_escapes_labels():
    """A refund month below zero is drawn below the axis, never clamped; labels reach the page only as JSON."""
    chart = bar_chart(id="c", title="t", labels=["a", "</script><b>", "c"],
                      series=[ChartSeries("s", [-5, 0, 10], "#000")])
    assert chart.data["series"][0]["values"] == [-5, 0, 10]
    assert [row[1] for row in chart.rows] == [["-5"], ["0"], ["10"]]
    html = render_to_string("charts/bar_chart.html", {"chart": chart})
    assert "</script><b>" not in html and "\\u003C/script\\u003E\\u003Cb\\u003E" in html
    assert "&lt;/script&gt;&lt;b&gt;" in html  # the table fallback


@pytest.mark.parametrize(("longest", "name", "raw", "shown"), [
    (0.11, "毫秒", 0.11, "110 ms"), (0, "毫秒", 0, "0 ms"), (42.5, "秒", 42.5, "42.50 s"),
    (119, "秒", 3, "3.00 s"), (120, "分钟", 90, "1.5 min"), (5000, "分钟", 1500, "25.0 min"),
    (7200, "小时", 9000, "2.50 h"),
])
def test_duration_unit_follows_the_longest_run(longest, name, raw, shown):
    unit = duration_unit(longest)
    assert (unit.name, unit.text(raw)) == (name, shown)
