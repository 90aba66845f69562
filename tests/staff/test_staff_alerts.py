"""ADMINS hear about a job once when it starts failing and once when it recovers."""
from __future__ import annotations

import pytest
from django.core import mail

from basic.cron_runtime.running.alerts import job_alert_after_run
from basic.cron_runtime.models import JobAlertState, RunOutcome


@pytest.fixture(autouse=True)
def admins(settings):
    settings.ADMINS = [("Ops", "ops@example.com")]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def test_one_mail_per_change_of_state_not_per_failed_run(make_run):
    outcomes = ["succeeded", "failed", "failed", "failed", "succeeded", "succeeded", "failed"]
    sent = [job_alert_after_run(make_run("cancel_timeouts", outcome, traceback="ValueError: no"))
            for outcome in outcomes]
    assert sent == [False, True, False, False, True, False, True]
    subjects = [message.subject for message in mail.outbox]
    assert len(subjects) == 3
    assert "cancel_timeouts FAILED" in subjects[0] and "recovered" in subjects[1] and "FAILED" in subjects[2]
    assert mail.outbox[0].to == ["ops@example.com"]
    assert "ValueError: no" in mail.outbox[0].body
    assert JobAlertState.objects.get(job="cancel_timeouts").failing is True


def test_skipped_and_running_runs_change_nothing(make_run):
    job_alert_after_run(make_run("birthday_mail", RunOutcome.FAILED))
    assert job_alert_after_run(make_run("birthday_mail", RunOutcome.SKIPPED)) is False
    assert job_alert_after_run(make_run("birthday_mail", RunOutcome.RUNNING)) is False
    assert len(mail.outbox) == 1
    assert JobAlertState.objects.get(job="birthday_mail").failing is True


def test_jobs_are_tracked_separately(make_run):
    assert job_alert_after_run(make_run("heartbeat", RunOutcome.FAILED))
    assert job_alert_after_run(make_run("monthly_finance", RunOutcome.FAILED))
    assert len(mail.outbox) == 2


def test_a_second_host_seeing_the_same_change_sends_nothing(make_run):
    # Both hosts finished a failed run; the first flipped the state, the second finds it flipped.
    first, second = make_run("heartbeat", RunOutcome.FAILED), make_run("heartbeat", RunOutcome.FAILED)
    assert [job_alert_after_run(first), job_alert_after_run(second)] == [True, False]
    assert len(mail.outbox) == 1


def test_a_mail_that_could_not_be_sent_is_tried_again_after_the_next_run(make_run, monkeypatch):
    def smtp_down(*args, **kwargs):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr("basic.cron_runtime.running.alerts.mail_admins", smtp_down)
    assert job_alert_after_run(make_run("heartbeat", RunOutcome.FAILED)) is False
    monkeypatch.undo()
    assert job_alert_after_run(make_run("heartbeat", RunOutcome.FAILED)) is True
    assert len(mail.outbox) == 1


def test_the_mail_names_the_jobs_real_log_file(make_run, staff_cronjobs):
    """The log path comes from job_log_path (the configured log folder), not a hard-coded logs/crontab."""
    assert job_alert_after_run(make_run("flaky", RunOutcome.FAILED, message="boom"))
    assert f"{staff_cronjobs / 'flaky.log'}" in mail.outbox[0].body


@pytest.mark.django_db(transaction=True)  # each thread has its own connection: committed rows only
def test_hosts_finishing_failed_runs_at_the_same_instant_send_one_mail(make_run):
    """The state flip is one conditional UPDATE: of several hosts seeing the same change at the
    same moment, exactly one mails."""
    from basic.cron_runtime.models import JobAlertState
    from tests.jobs.helpers import run_in_threads

    JobAlertState.objects.create(job="cancel_timeouts", failing=False)
    runs = [make_run("cancel_timeouts", RunOutcome.FAILED) for _ in range(5)]
    sent = run_in_threads(*[lambda run=run: job_alert_after_run(run) for run in runs])
    assert sent.count(True) == 1, sent
    assert len(mail.outbox) == 1
