"""Alerts to the channels staff read (ALERT_URLS, Apprise), received by a real HTTP server on loopback."""
import json

import pytest
from django.utils import timezone

from basic.cron_runtime import conf
from basic.cron_runtime.running.alerts import job_alert_after_run
from basic.cron_runtime.models import JobRun, RunOutcome
from tests.alert_robot import robot  # noqa: F401 — the fixture

pytestmark = pytest.mark.django_db


def _run(outcome: str) -> JobRun:
    return JobRun.objects.create(job="birthday_mail", trigger="cron", host="web-1", pid=7, started_at=timezone.now(),
                                 finished_at=timezone.now(), outcome=outcome, message="SMTP 554")


def test_dingtalk_and_slack_robots_get_one_message_per_change(robot, settings, monkeypatch):
    from apprise.plugins.dingtalk import NotifyDingTalk
    from apprise.plugins.slack import NotifySlack

    port, received = robot
    # Apprise's own DingTalk and Slack plugins build the robots' JSON; only their endpoints point at loopback.
    monkeypatch.setattr(NotifyDingTalk, "notify_url", f"http://127.0.0.1:{port}/robot/send?access_token={{token}}")
    monkeypatch.setattr(NotifySlack, "webhook_url", f"http://127.0.0.1:{port}/services")
    settings.ALERT_URLS = ["dingtalk://abc123token/", "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7"]
    settings.ADMINS = []

    assert job_alert_after_run(_run(RunOutcome.FAILED)) is False  # no ADMINS: the robots still hear of it
    assert job_alert_after_run(_run(RunOutcome.FAILED)) is False  # still failing: nothing more
    job_alert_after_run(_run(RunOutcome.SUCCEEDED))
    ding = [body for path, body in received if path.startswith("/robot/send?access_token=abc123token")]
    slack = [body for path, body in received if path.startswith("/services/T1JJ3T3L2/")]
    assert len(ding) == 2 and len(slack) == 2  # failing, then recovered: one message each
    assert ding[0]["msgtype"] in ("text", "markdown") and "birthday_mail" in json.dumps(ding[0], ensure_ascii=False)
    assert "FAILED" in json.dumps(ding[0]) and "recovered" in json.dumps(ding[1])
    assert "birthday_mail" in json.dumps(slack[0]) and ("attachments" in slack[0] or "blocks" in slack[0])


def test_an_unreachable_channel_is_logged_once_and_stops_neither_the_others_nor_the_job(robot, settings, caplog):
    from loguru import logger

    port, received = robot
    settings.ALERT_URLS = ["json://127.0.0.1:9/down", f"json://127.0.0.1:{port}/up"]  # port 9: nothing listens
    settings.ADMINS = []
    lines = []
    sink = logger.add(lambda message: lines.append(str(message)), level="ERROR")
    try:
        job_alert_after_run(_run(RunOutcome.FAILED))
        job_alert_after_run(_run(RunOutcome.SUCCEEDED))
    finally:
        logger.remove(sink)
    assert [path for path, _ in received] == ["/up", "/up"]  # the other channel got both
    outage = [line for line in lines if "alert channel" in line and "unreachable" in line]
    assert len(outage) == 1 and "127.0.0.1:9" in outage[0], lines


def test_a_mail_server_down_does_not_stop_the_chat_channel_nor_repeat_its_message(robot, settings):
    from tests.smtp import free_port

    port, received = robot
    settings.ALERT_URLS = [f"json://127.0.0.1:{port}/ops"]
    settings.ADMINS = [("Ops", "ops@example.com")]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2  # nothing listens
    assert job_alert_after_run(_run(RunOutcome.FAILED)) is False  # the mail failed...
    assert job_alert_after_run(_run(RunOutcome.FAILED)) is False
    assert [path for path, _ in received] == ["/ops"]  # ...the channel got it once, not once per run


def test_check_refuses_an_alert_url_apprise_cannot_use(settings):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.ALERT_URLS = ["dingtalk://abc123token/", "nosuchrobot://secret@host/"]
    with pytest.raises(SystemCheckError, match=r"cronjobs.E008.*nosuchrobot://… is not an Apprise URL it can use"):
        call_command("check")


def test_a_stale_heartbeat_is_told_once_by_its_watchers_and_its_next_beat_says_it_is_back(robot, settings, client):
    from datetime import timedelta

    from django.core.management import call_command
    from django.core.management.base import CommandError

    from basic.cron_runtime.models import RunTrigger
    from basic.cron_runtime.scheduling.registry import job_by_name
    from basic.cron_runtime.running.runner import run_job
    from basic.cron_runtime.scheduling.ticks import HEARTBEAT_JOB

    port, received = robot
    settings.ALERT_URLS = [f"json://127.0.0.1:{port}/ops"]
    settings.ADMINS = []
    beat = timezone.now() - timedelta(seconds=conf.CRON_HEARTBEAT_STALE_AFTER + 60)
    JobRun.objects.create(job=HEARTBEAT_JOB, trigger=RunTrigger.CRON, host="web-1", pid=7, started_at=beat,
                          finished_at=beat, outcome=RunOutcome.SUCCEEDED)

    assert client.get("/healthz/cron").status_code == 503  # a monitor's poll finds it stale: one alert
    assert client.get("/healthz/cron").status_code == 503  # the next polls add nothing
    with pytest.raises(CommandError):
        call_command("cronjobs", "status")
    assert [path for path, _ in received] == ["/ops"]
    assert "no heartbeat" in json.dumps(received[0][1]) and "beat" in received[0][1]["message"]

    run_job(job_by_name(HEARTBEAT_JOB), trigger=RunTrigger.TICKER, slot=timezone.now().replace(second=0,
                                                                                                microsecond=0))
    assert [path for path, _ in received] == ["/ops", "/ops"]  # the scheduler beats again: said once
    assert "beats again" in json.dumps(received[1][1])
    run_job(job_by_name(HEARTBEAT_JOB), trigger=RunTrigger.MANUAL)
    assert len(received) == 2  # later beats say nothing more
