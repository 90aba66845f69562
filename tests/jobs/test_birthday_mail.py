"""birthday_mail: today in TIME_ZONE, 29 February, catch-up within grace, once per user per year."""
from __future__ import annotations

import email
import email.header
import re
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import connection

from basic import cron
from basic.cron_runtime.running.result import JobFailed, JobReport
from basic.models import BirthdayGreeting, Profile
from basic.services.birthday import birthday_candidates, birthday_mail_send, birthday_mmdds
from tests.factories import make_user
from tests.jobs.helpers import local, run_in_threads
from tests.smtp import free_port


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    settings.BIRTHDAY_MAIL_GRACE_DAYS = 1


def born(month, day, *, year=1990, **kwargs):
    return make_user(birthday=date(year, month, day), **kwargs)


def send_at(when):
    with time_machine.travel(when, tick=False):
        return birthday_mail_send()


def greeted_emails() -> list[str]:
    return sorted(address for m in mail.outbox for address in m.to)


def decoded(raw: bytes) -> tuple[str, str]:
    message = email.message_from_bytes(raw)
    subject = str(email.header.make_header(email.header.decode_header(message["Subject"])))
    text = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    return subject, text.get_payload(decode=True).decode()


@pytest.mark.django_db
def test_today_is_the_date_in_time_zone(settings):
    settings.BIRTHDAY_MAIL_GRACE_DAYS = 0
    june_15 = born(6, 15, email="june15@example.com")
    born(6, 14, email="june14@example.com")

    # 2026-06-14 16:30 UTC is already 06-15 00:30 in Shanghai.
    result = send_at(datetime(2026, 6, 14, 16, 30, tzinfo=UTC))

    assert result.days == [date(2026, 6, 15)]
    assert greeted_emails() == ["june15@example.com"]
    greeting = BirthdayGreeting.objects.get()
    assert (greeting.user_id, greeting.year, greeting.birthday_date) == (june_15.pk, 2026, date(2026, 6, 15))
    assert greeting.sent_time is not None and greeting.last_error == "" and greeting.attempts == 1


@pytest.mark.django_db
def test_29_february_is_greeted_on_28_february_in_common_years_only(settings):
    settings.BIRTHDAY_MAIL_GRACE_DAYS = 0
    born(2, 29, year=2000, email="leap@example.com")
    born(2, 28, email="feb28@example.com")
    born(3, 1, email="mar1@example.com")

    send_at(local(2027, 2, 28, 8, 0))
    assert greeted_emails() == ["feb28@example.com", "leap@example.com"]

    mail.outbox.clear()
    send_at(local(2028, 2, 28, 8, 0))
    assert greeted_emails() == ["feb28@example.com"]
    send_at(local(2028, 2, 29, 8, 0))
    assert greeted_emails() == ["feb28@example.com", "leap@example.com"]
    assert BirthdayGreeting.objects.get(user__email="leap@example.com", year=2028).birthday_date == date(2028, 2, 29)


def test_birthday_mmdds():
    assert birthday_mmdds(date(2027, 2, 28)) == [228, 229]
    assert birthday_mmdds(date(2028, 2, 28)) == [228]
    assert birthday_mmdds(date(2028, 2, 29)) == [229]
    assert birthday_mmdds(date(2027, 12, 31)) == [1231]


@pytest.mark.django_db
def test_a_missed_day_is_caught_up_within_grace_and_not_beyond(settings):
    born(6, 13, email="d13@example.com")
    born(6, 14, email="d14@example.com")
    born(6, 15, email="d15@example.com")

    # cron did not run on 06-14; the 06-15 run makes up for it, but 06-13 is too old.
    result = send_at(local(2026, 6, 15, 8, 0))
    assert result.days == [date(2026, 6, 14), date(2026, 6, 15)]
    assert greeted_emails() == ["d14@example.com", "d15@example.com"]
    assert BirthdayGreeting.objects.get(user__email="d14@example.com").birthday_date == date(2026, 6, 14)

    settings.BIRTHDAY_MAIL_GRACE_DAYS = 2
    mail.outbox.clear()
    send_at(local(2026, 6, 15, 9, 0))
    assert greeted_emails() == ["d13@example.com"]  # the others were greeted already


@pytest.mark.django_db
def test_catch_up_across_new_year_greets_for_the_old_year():
    dec31 = born(12, 31, email="dec31@example.com")
    send_at(local(2027, 1, 1, 8, 0))
    assert greeted_emails() == ["dec31@example.com"]
    assert BirthdayGreeting.objects.get(user=dec31).year == 2026
    send_at(local(2027, 12, 31, 8, 0))  # and again on the 2027 birthday
    assert greeted_emails() == ["dec31@example.com", "dec31@example.com"]


@pytest.mark.django_db
def test_once_per_user_per_year_however_often_it_runs():
    born(6, 15, email="a@example.com")
    for hour in (8, 9, 23):
        send_at(local(2026, 6, 15, hour, 0))
    send_at(local(2026, 6, 16, 8, 0))  # the catch-up day does not greet again either
    assert greeted_emails() == ["a@example.com"]
    send_at(local(2027, 6, 15, 8, 0))
    assert greeted_emails() == ["a@example.com", "a@example.com"]
    assert BirthdayGreeting.objects.count() == 2


@pytest.mark.django_db
def test_users_without_email_are_skipped_and_inactive_users_not_greeted():
    born(6, 15, email="")
    inactive = born(6, 15, email="gone@example.com")
    get_user_model().objects.filter(pk=inactive.pk).update(is_active=False)
    born(6, 15, email="ok@example.com")

    result = send_at(local(2026, 6, 15, 8, 0))

    assert greeted_emails() == ["ok@example.com"]
    assert len(result.skipped_no_email) == 1 and result.birthdays == 2
    assert "1 without email skipped" in result.summary()


@pytest.mark.django_db
def test_greeting_is_in_chinese_with_the_users_name():
    user = born(6, 15, email="zhang@example.com")
    get_user_model().objects.filter(pk=user.pk).update(first_name="伟", last_name="张")
    send_at(local(2026, 6, 15, 8, 0))
    (message,) = mail.outbox
    assert message.subject == "生日快乐，张伟！"
    assert "亲爱的张伟" in message.body and "生日快乐" in message.body
    assert "生日快乐" in message.alternatives[0][0]


@pytest.mark.django_db
def test_job_function_reports(settings):
    born(6, 15)
    born(6, 15)
    with time_machine.travel(local(2026, 6, 15, 8, 0), tick=False):
        report = cron.send_birthday_mail()
        again = cron.send_birthday_mail()
    assert report.items_processed == 2 and isinstance(report, JobReport)
    assert report.message.startswith("sent 2 birthday emails for 2026-06-14..2026-06-15 (2 birthdays; 0 greeted before")
    assert again.items_processed == 0 and "2 greeted before" in again.message


@pytest.mark.django_db
def test_selection_uses_the_birthday_index():
    for i in range(300):
        Profile.objects.filter(user=make_user()).update(birthday_mmdd=101 + (i % 28) + 100 * (i % 12))
    plan = birthday_candidates(mmdds=[615, 616]).explain()
    if connection.vendor == "mysql":  # columns: id select_type table type possible_keys key …
        assert re.search(r"SIMPLE basic_profile (range|ref) \S+ basic_profile_birthday_mmdd", plan), plan
    else:
        assert "SEARCH basic_profile USING INDEX basic_profile_birthday_mmdd" in plan, plan


# --- a real SMTP server on loopback ------------------------------------------------------------


@pytest.mark.django_db
def test_smtp_refusing_some_recipients_fails_the_run_and_the_next_run_mails_only_them(smtp_server):
    users = [born(6, 15, email=f"u{i}@example.com") for i in range(6)]
    get_user_model().objects.filter(pk=users[0].pk).update(first_name="伟", last_name="张")
    smtp_server.refuse = {"u1@example.com": "550 5.1.1 mailbox unavailable", "u4@example.com": "550 5.1.1 no such user"}

    with time_machine.travel(local(2026, 6, 15, 8, 0), tick=False), pytest.raises(JobFailed) as failed:
        cron.send_birthday_mail()

    assert failed.value.items_processed == 4
    assert str(failed.value).startswith("2 of 6 birthday emails failed: user")
    assert "550" in str(failed.value) and "u1@example.com" in str(failed.value)
    assert smtp_server.recipients() == ["u0@example.com", "u2@example.com", "u3@example.com", "u5@example.com"]
    subject, body = decoded(next(raw for rcpt, raw in smtp_server.received if rcpt == ["u0@example.com"]))
    assert subject == "生日快乐，张伟！" and "亲爱的张伟" in body
    refused = BirthdayGreeting.objects.get(user=users[1])
    assert refused.sent_time is None and "550" in refused.last_error and refused.claim_token == ""

    smtp_server.refuse = {}
    with time_machine.travel(local(2026, 6, 16, 8, 0), tick=False):  # the next daily run, within grace
        report = cron.send_birthday_mail()

    assert report.items_processed == 2
    assert smtp_server.recipients() == [f"u{i}@example.com" for i in range(6)]  # each exactly once
    assert BirthdayGreeting.objects.filter(sent_time__isnull=False).count() == 6
    assert BirthdayGreeting.objects.get(user=users[1]).attempts == 2


@pytest.mark.django_db
def test_mail_server_down_claims_nobody_and_the_next_run_sends_all(smtp_server, settings):
    born(6, 15, email="a@example.com")
    born(6, 15, email="b@example.com")
    real_port = settings.EMAIL_PORT
    settings.EMAIL_PORT = free_port()  # nothing listens there

    with (
        time_machine.travel(local(2026, 6, 15, 8, 0), tick=False),
        pytest.raises(JobFailed, match=r"2 of 2 birthday emails failed: 2 not tried \(cannot reach the mail server"),
    ):
        cron.send_birthday_mail()
    assert not BirthdayGreeting.objects.filter(sent_time__isnull=False).exists()
    assert not BirthdayGreeting.objects.exclude(claim_token="").exists()

    settings.EMAIL_PORT = real_port
    with time_machine.travel(local(2026, 6, 15, 8, 5), tick=False):
        assert cron.send_birthday_mail().items_processed == 2
    assert smtp_server.recipients() == ["a@example.com", "b@example.com"]


@pytest.mark.django_db
def test_mail_server_failing_for_everyone_stops_the_batch_early(smtp_server, monkeypatch):
    for i in range(8):
        born(6, 15, email=f"x{i}@example.com")
    calls = {"n": 0}

    def lost_connection(self, messages):
        calls["n"] += 1
        raise ConnectionResetError("connection reset by peer")

    monkeypatch.setattr("django.core.mail.backends.smtp.EmailBackend.send_messages", lost_connection)
    result = send_at(local(2026, 6, 15, 8, 0))
    assert calls["n"] == 3 and result.not_tried == 5 and not result.ok
    assert result.failure_summary().startswith("8 of 8 birthday emails failed")
    assert BirthdayGreeting.objects.filter(attempts=1).count() == 3


@pytest.mark.django_db
def test_a_claim_left_by_a_crashed_run_is_retried_a_live_one_is_not(settings):
    settings.BIRTHDAY_MAIL_CLAIM_STALE_AFTER = 900
    crashed = born(6, 15, email="crashed@example.com")
    busy = born(6, 15, email="busy@example.com")
    now = local(2026, 6, 15, 8, 0)
    BirthdayGreeting.objects.create(user=crashed, year=2026, birthday_date=date(2026, 6, 15), claim_token="dead",
                                    claimed_at=now - timedelta(hours=1), attempts=1)
    BirthdayGreeting.objects.create(user=busy, year=2026, birthday_date=date(2026, 6, 15), claim_token="alive",
                                    claimed_at=now - timedelta(minutes=1), attempts=1)

    result = send_at(now)

    assert greeted_emails() == ["crashed@example.com"]
    assert result.claimed_elsewhere == 1 and result.ok
    assert BirthdayGreeting.objects.get(user=busy).sent_time is None


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_never_mail_a_user_twice(smtp_server):
    emails = [born(6, 15, email=f"p{i}@example.com").email for i in range(30)]
    with time_machine.travel(local(2026, 6, 15, 8, 0), tick=False):
        first, second = run_in_threads(birthday_mail_send, birthday_mail_send)
    assert len(first.sent) + len(second.sent) == 30
    assert smtp_server.recipients() == sorted(emails)  # each exactly once
    if connection.vendor == "mysql":
        assert first.sent and second.sent, "both runs took a share of the work"
    assert BirthdayGreeting.objects.filter(sent_time__isnull=False).count() == 30


@pytest.mark.django_db
def test_malformed_addresses_fail_only_their_own_emails(smtp_server):
    """A bad address is refused while the message is built (no SMTP involved): it must not count as
    the mail server failing, or a few of them would stop the batch before everyone after them."""
    bad = [born(6, 15, email=f"bad{i}@exa mple.com") for i in range(4)]
    good = [born(6, 15, email=f"good{i}@example.com") for i in range(3)]

    with time_machine.travel(local(2026, 6, 15, 8, 0), tick=False), pytest.raises(JobFailed) as failed:
        cron.send_birthday_mail()

    assert failed.value.items_processed == 3
    assert str(failed.value).startswith("4 of 7 birthday emails failed: user")
    assert "<bad0@exa mple.com>" in str(failed.value) and "not tried" not in str(failed.value)
    assert smtp_server.recipients() == [f"good{i}@example.com" for i in range(3)]
    assert all(BirthdayGreeting.objects.get(user=u).sent_time is not None for u in good)
    for user in bad:
        greeting = BirthdayGreeting.objects.get(user=user)
        assert greeting.sent_time is None and greeting.claim_token == "" and greeting.last_error
