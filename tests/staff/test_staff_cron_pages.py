"""Cron dashboard, job page, Run now, and who may see them."""
from __future__ import annotations

import sys
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.template.loader import render_to_string

from basic.cron_runtime.scheduling.registry import HEARTBEAT_FUNCTION
from basic.cron_runtime.console.charts import ChartSeries, bar_chart, duration_unit
from basic.cron_runtime.models import JobLock, JobRun, RunOutcome, RunTrigger
from tests.cron_runtime.helpers import wait_for

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


def test_customers_cannot_run_jobs_or_regenerate(client, customer, run_now_children):
    client.force_login(customer)
    assert client.post("/staff/cron/flaky/run/").status_code == 403
    assert client.post("/staff/finance/regenerate/", {"month": "2024-01"}).status_code == 403
    assert run_now_children == [] and not JobRun.objects.exists()


def test_dashboard_flags_a_failed_job_and_shows_the_heartbeat(frozen, staff_client, healthy_runs, make_run):
    make_run("flaky", RunOutcome.FAILED, minutes_ago=0.5, seconds=3, items=2, message="ValueError: boom")
    page = staff_client.get("/staff/").content.decode()
    flaky_row = page.split('id="job-flaky"')[1].split("</tr>")[0]
    assert 'class="failed"' in flaky_row and "flag-failed" in flaky_row
    assert "* * * * *" in flaky_row and "3.00 s" in flaky_row
    heartbeat_row = page.split('id="job-heartbeat"')[1].split("</tr>")[0]
    assert "flag-failed" not in heartbeat_row and "正常" in heartbeat_row
    # The engine that started the latest heartbeat, named: the cron daemon, 60 s ago, on host web1.
    assert 'badge-ok" data-engine="cron">调度器上次心跳：1 分钟前，由 cron 守护进程 启动' in page
    assert "（主机 web1，60 秒前；" in page
    assert "last seen" not in page and "`" not in page  # one language per line, no literal backticks
    assert "flaky: failed last time" in page  # the same problem lines as `cronjobs status`


def test_dashboard_flags_overdue_jobs_and_a_stale_heartbeat(frozen, staff_client, staff_cronjobs, make_run):
    make_run("flaky", RunOutcome.SUCCEEDED, minutes_ago=30)
    make_run("heartbeat", RunOutcome.SUCCEEDED, minutes_ago=30)
    page = staff_client.get("/staff/").content.decode()
    assert "flag-overdue" in page.split('id="job-flaky"')[1].split("</tr>")[0]
    assert 'badge badge-bad" data-engine="cron">调度器上次心跳：30 分钟前，由 cron 守护进程 启动' in page


def test_dashboard_warns_about_crontab_drift(staff_client, healthy_runs, monkeypatch):
    monkeypatch.setattr("basic.cron_runtime.console.selectors.crontab_drift",
                        lambda: ["flaky: not in the crontab (run `python manage.py crontab add`)"])
    page = staff_client.get("/staff/").content.decode()
    assert 'id="crontab-drift"' in page and "flaky: not in the crontab" in page


def test_dashboard_mentions_no_widened_line_without_a_crontab_program_and_says_nobody_starts_the_jobs(
        staff_client, settings):
    settings.CRONJOBS = [("30 0 1 * *", "order.cron.monthly_finance"), ("* * * * *", HEARTBEAT_FUNCTION)]
    settings.CRON_HOST_TIME_ZONE = "UTC"  # 00:30 Shanghai time: a widened line, if one were installed
    settings.CRONTAB_EXECUTABLE = "/nonexistent/crontab"
    page = staff_client.get("/staff/").content.decode()
    assert "crontab 中为" not in page and "widened" not in page
    assert ('data-starter="nobody">调度引擎：本机没有任何程序启动任务——没有安装 <code>crontab</code> 程序，'
            "<code>cronjobs serve</code> 也没有运行</p>") in page
    assert "调度器从未心跳" in page


def test_nobody_here_but_a_fresh_heartbeat_from_another_host_is_said_without_alarm(staff_client, healthy_runs,
                                                                                     settings):
    settings.CRONTAB_EXECUTABLE = "/nonexistent/crontab"  # this web host starts nothing; web1 beat a minute ago
    page = staff_client.get("/staff/").content.decode()
    engine = page.split('<p id="engine"')[1].split("</p>")[0]
    assert 'class="muted" data-starter="nobody"' in engine and "任务由别处启动" in engine
    assert "由 cron 守护进程 启动" in page and "（主机 web1，" in page


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


def _finished(run_filter, timeout=60):
    return wait_for(lambda: JobRun.objects.filter(**run_filter).exclude(outcome=RunOutcome.RUNNING).first(),
                    timeout, f"a finished run {run_filter}")


def _row(page: str, run: JobRun) -> str:
    return page.split(f'id="run-{run.pk}"')[1].split("</tr>")[0]


@pytest.mark.django_db(transaction=True)  # the child records its run in the test's database
def test_run_now_answers_at_once_and_the_child_records_the_run(staff_client, staff_user, run_now_children,
                                                               staff_cronjobs, monkeypatch):
    monkeypatch.setenv("TEST_SLOW_JOB_SECONDS", "6")
    began = time.monotonic()
    response = staff_client.post("/staff/cron/slow/run/")
    answered_in = time.monotonic() - began
    assert answered_in < 3, f"the request took {answered_in:.1f} s: it waited for the 6 s job"
    assert response.status_code == 302 and response["Location"] == "/staff/cron/slow/#runs"
    [started] = run_now_children
    page = staff_client.get(response["Location"]).content.decode()
    assert f"slow：已在后台启动（pid {started.pid}），完成后刷新本页查看结果" in page

    # In the history as running once the child has recorded it; finished on a later reload.
    run = wait_for(lambda: JobRun.objects.filter(job="slow").first(), 30, "the child to record its run")
    assert (run.outcome, run.pid) == (RunOutcome.RUNNING, started.pid)
    running_row = _row(staff_client.get("/staff/cron/slow/").content.decode(), run)
    assert '">running</span>' in running_row and "manual · ops" in running_row
    run = _finished({"pk": run.pk})
    assert (run.outcome, run.trigger, run.triggered_by, run.slot, run.items_processed, run.message) == (
        RunOutcome.SUCCEEDED, RunTrigger.MANUAL, staff_user, None, 1, "slept 6.0 s")
    assert "slow job sleeping 6.0 s" in (staff_cronjobs / "slow.log").read_text(encoding="utf-8")
    assert '">succeeded</span>' in _row(staff_client.get("/staff/cron/slow/").content.decode(), run)


@pytest.mark.django_db(transaction=True)
def test_run_now_of_a_failing_job_is_recorded_failed(staff_client, run_now_children, staff_cronjobs, monkeypatch):
    monkeypatch.setenv("STAFF_TEST_JOB_FAILS", "1")
    staff_client.post("/staff/cron/flaky/run/")
    run = _finished({"job": "flaky"})
    assert run.outcome == RunOutcome.FAILED and "the test told this job to fail" in run.traceback
    [started] = run_now_children
    assert started.wait(30) and started.returncode == 1
    # The child's own output (its one-line failure) goes to a file named for a manual run, not cron's.
    assert f"flaky: failed (run #{run.pk}" in (staff_cronjobs / "manual-flaky.out").read_text(encoding="utf-8")
    assert not (staff_cronjobs / "cron-flaky.out").exists()
    page = staff_client.get("/staff/cron/flaky/").content.decode()
    assert 'class="run failed"' in page and "the test told this job to fail" in _row(page, run)


@pytest.mark.django_db(transaction=True)
def test_run_now_while_a_run_is_going_records_a_skipped_run(staff_client, staff_user, run_now_children,
                                                            monkeypatch):
    monkeypatch.setenv("TEST_SLOW_JOB_SECONDS", "60")  # sent SIGTERM by run_now_children at the end
    staff_client.post("/staff/cron/slow/run/")
    first = wait_for(lambda: JobRun.objects.filter(job="slow").first(), 30, "the first child to record its run")
    wait_for(lambda: JobLock.objects.filter(job="slow", pid=first.pid).exclude(token="").exists(), 30,
             "the first run to hold the job's lease")
    staff_client.post("/staff/cron/slow/run/")
    second = _finished({"job": "slow", "pk__gt": first.pk})
    assert (second.outcome, second.trigger, second.triggered_by) == (RunOutcome.SKIPPED, RunTrigger.MANUAL, staff_user)
    assert f"already running on {first.host} pid {first.pid}" in second.message
    assert JobRun.objects.get(pk=first.pk).outcome == RunOutcome.RUNNING


@pytest.mark.parametrize("broken", ["python", "output file"])
def test_run_now_that_cannot_start_the_process_says_why(staff_client, run_now_children, settings, monkeypatch,
                                                        tmp_path, broken):
    if broken == "python":
        monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    else:
        settings.CRON_LOG_DIR = tmp_path / "no-such-folder"
    response = staff_client.post("/staff/cron/flaky/run/", follow=True)
    assert response.status_code == 200 and response.redirect_chain == [("/staff/cron/flaky/#runs", 302)]
    page = response.content.decode()
    assert '<li class="error">flaky：无法在后台启动（FileNotFoundError: ' in page
    assert [started.process for started in run_now_children] == [None]
    assert not JobRun.objects.exists()


def test_run_now_needs_post(staff_client, run_now_children):
    assert staff_client.get("/staff/cron/flaky/run/").status_code == 405
    assert run_now_children == [] and not JobRun.objects.exists()


def test_run_now_needs_the_csrf_token(client, staff_user, run_now_children):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(staff_user)
    assert csrf_client.post("/staff/cron/flaky/run/").status_code == 403
    assert run_now_children == [] and not JobRun.objects.exists()


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


def test_the_dashboard_and_the_job_page_describe_an_interval_job(staff_client, staff_cronjobs, settings):
    settings.CRONJOBS = [*settings.CRONJOBS, ("every 10s", "tests.cron_runtime.jobs.records_beats")]
    for url in ("/staff/", "/staff/cron/records_beats/"):
        page = staff_client.get(url).content.decode()
        assert "<code>every 10s</code>" in page and "每 10 秒" in page, url  # the staff pages speak Chinese
