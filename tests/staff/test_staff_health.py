"""/healthz/cron: 200 when `cronjobs status` would pass, 503 when it would fail."""
from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from basic.cron_runtime.models import RunOutcome

URL = "/healthz/cron"


def status_command_passes() -> bool:
    try:
        call_command("cronjobs", "status")
    except CommandError:
        return False
    return True


def test_healthy_jobs_answer_200_without_login(client, healthy_runs, monkeypatch):
    # the command prints the drift: keep it off the real `crontab -l` (the name it imported)
    monkeypatch.setattr("basic.cron_runtime.management.commands.cronjobs.crontab_drift", list)
    response = client.get(URL)
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    body = response.json()
    assert body["healthy"] is True and body["problems"] == []
    assert 55 <= body["heartbeat_age_seconds"] <= 70
    jobs = {job["name"]: job for job in body["jobs"]}
    assert set(jobs) == {"flaky", "heartbeat"}
    assert jobs["flaky"]["last_outcome"] == "succeeded" and jobs["flaky"]["failed"] is False
    assert jobs["flaky"]["overdue"] is False and jobs["flaky"]["schedule"] == "* * * * *"
    assert jobs["flaky"]["next_run"].endswith("+08:00")  # TIME_ZONE Asia/Shanghai
    assert "no-cache" in response["Cache-Control"]
    assert status_command_passes()


def test_a_failed_last_run_answers_503(client, healthy_runs, make_run, monkeypatch):
    monkeypatch.setattr("basic.cron_runtime.management.commands.cronjobs.crontab_drift", list)
    run = make_run("flaky", RunOutcome.FAILED, minutes_ago=0.5, message="ValueError: boom at /srv/secret.py",
                   traceback="Traceback ...")
    response = client.get(URL)
    assert response.status_code == 503
    body = response.json()
    assert body["healthy"] is False
    # anonymous: the job, the fact and the run, never the exception text
    failed = [line for line in body["problems"] if line.startswith("flaky: failed last time")]
    assert len(failed) == 1 and failed[0].endswith(f"run #{run.pk})")
    assert "boom" not in response.content.decode() and "secret.py" not in response.content.decode()
    assert {job["name"]: job["failed"] for job in body["jobs"]} == {"flaky": True, "heartbeat": False}
    assert not status_command_passes()


def test_a_stale_heartbeat_answers_503(client, staff_cronjobs, make_run):
    make_run("flaky", RunOutcome.SUCCEEDED, minutes_ago=0.5)
    make_run("heartbeat", RunOutcome.SUCCEEDED, minutes_ago=10)  # the cron daemon stopped 10 minutes ago
    response = client.get(URL)
    assert response.status_code == 503
    body = response.json()
    assert body["heartbeat_age_seconds"] > 500
    assert any(line.startswith("heartbeat: last beat") for line in body["problems"])
    assert not status_command_passes()


def test_a_heartbeat_that_never_beat_answers_503(client, staff_cronjobs, make_run):
    make_run("flaky", RunOutcome.SUCCEEDED, minutes_ago=0.5)
    response = client.get(URL)
    assert response.status_code == 503
    assert response.json()["heartbeat_age_seconds"] is None
    assert any(line.startswith("heartbeat: never beat") for line in response.json()["problems"])


def test_no_secrets_and_no_login(client, healthy_runs, settings):
    body = client.get(URL).content.decode()
    for secret in (settings.SECRET_KEY, settings.PAYMENT_SECRET):
        assert secret not in body
    assert "traceback" not in json.loads(body)["jobs"][0]


def test_staff_users_get_the_failure_message(staff_client, healthy_runs, make_run):
    run = make_run("flaky", RunOutcome.FAILED, minutes_ago=0.5, message="ValueError: boom\nsecond line")
    response = staff_client.get(URL)
    assert response.status_code == 503
    assert any(line.endswith(f"run #{run.pk}): ValueError: boom") for line in response.json()["problems"])


def test_post_is_refused_head_is_answered(client, healthy_runs):
    assert client.post(URL).status_code == 405
    head = client.head(URL)
    assert head.status_code == 200 and head.content == b""


def test_a_database_error_is_a_503_with_a_reason_not_a_500(client, staff_cronjobs, monkeypatch):
    from django.db import OperationalError

    def down(*args, **kwargs):
        raise OperationalError("(2003, \"Can't connect to MySQL server on 'db.internal'\")")

    monkeypatch.setattr("basic.cron_runtime.observability.health.job_states", down)
    response = client.get(URL)
    assert response.status_code == 503 and response["Content-Type"] == "application/json"
    body = response.json()
    assert body["healthy"] is False and body["problems"][0].startswith("database:")
    assert "db.internal" not in response.content.decode()


def test_a_heartbeat_running_or_skipped_recently_is_healthy(client, staff_cronjobs, make_run):
    """A long catch-up keeps the heartbeat's run `running` and the next beats `skipped`: cron is alive."""
    make_run("flaky", RunOutcome.SUCCEEDED, minutes_ago=0.5)
    make_run("heartbeat", RunOutcome.SUCCEEDED, minutes_ago=30)
    make_run("heartbeat", RunOutcome.RUNNING, minutes_ago=20)  # still catching up
    response = client.get(URL)
    assert response.status_code == 503  # the running one is 20 minutes old and nothing since
    make_run("heartbeat", RunOutcome.SKIPPED, minutes_ago=1, message="skipped: already running")
    response = client.get(URL)
    assert response.json()["heartbeat_age_seconds"] < 120 and not any(
        line.startswith("heartbeat") for line in response.json()["problems"])


def test_a_manual_heartbeat_does_not_mask_a_dead_daemon(client, staff_cronjobs, make_run):
    make_run("flaky", RunOutcome.SUCCEEDED, minutes_ago=0.5)
    make_run("heartbeat", RunOutcome.SUCCEEDED, minutes_ago=10)
    make_run("heartbeat", RunOutcome.SUCCEEDED, minutes_ago=0.2, trigger="manual")  # staff pressed "Run now"
    body = client.get(URL).json()
    assert body["heartbeat_age_seconds"] > 500
    assert any(line.startswith("heartbeat: last beat") for line in body["problems"])


@pytest.mark.django_db
def test_malformed_cronjobs_is_a_503_naming_the_fix_not_a_500(client, settings):
    settings.CRONJOBS = [("* * * * *",)]  # no function
    response = client.get(URL)
    assert response.status_code == 503
    assert response.json()["problems"] == [
        "settings.CRONJOBS is malformed (python manage.py check shows what to fix)"
    ]
