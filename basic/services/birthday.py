"""The birthday_mail job: one greeting email per user per year, on their birthday in TIME_ZONE.

Days missed within ``BIRTHDAY_MAIL_GRACE_DAYS`` are caught up, each greeting is claimed and sent
once through ``basic.services.mail_batch``, and failed ones are retried by the next run. The
rules (29 February, two runs at once, SMTP failures, the one double-mail window): docs/jobs.md
("birthday_mail").
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import timezone

from basic.cron_runtime.scheduling.schedule import business_tz
from basic.models import BirthdayGreeting, Profile
from basic.services.mail_batch import (
    DEFAULT_CLAIM_STALE_AFTER,
    MailBatchResult,
    PendingMail,
    claimed_mails_send,
    display_name,
)


def birthday_mmdds(day: date) -> list[int]:
    """The ``birthday_mmdd`` values greeted on ``day`` (28 Feb also greets 29 Feb in common years)."""
    mmdds = [day.month * 100 + day.day]
    if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
        mmdds.append(229)
    return mmdds


def birthday_days(today: date, grace_days: int) -> list[date]:
    """The days whose birthdays a run on ``today`` greets, oldest first."""
    return [today - timedelta(days=k) for k in range(max(grace_days, 0), -1, -1)]


def birthday_candidates(*, mmdds: list[int]):
    """Active users whose birthday_mmdd is one of ``mmdds`` — an index lookup on birthday_mmdd."""
    return Profile.objects.filter(birthday_mmdd__in=mmdds, user__is_active=True).values_list(
        "user_id", "birthday_mmdd", "user__email", "user__username", "user__first_name", "user__last_name"
    )


@dataclass
class Candidate:
    user_id: int
    day: date
    email: str
    username: str
    name: str

    @property
    def label(self) -> str:
        return f"{self.username} <{self.email}>" if self.email else self.username


@dataclass(kw_only=True)
class BirthdayMailResult(MailBatchResult):
    days: list[date]
    birthdays: int = 0  # users whose birthday falls in the considered days
    greeted_before: int = 0  # already sent (by an earlier run)
    skipped_no_email: list[str] = field(default_factory=list)

    def summary(self) -> str:
        days = f"{self.days[0]:%Y-%m-%d}" if len(self.days) == 1 else f"{self.days[0]:%Y-%m-%d}..{self.days[-1]:%Y-%m-%d}"
        text = (
            f"sent {len(self.sent)} birthday emails for {days} ({self.birthdays} birthdays; "
            f"{self.greeted_before} greeted before; {len(self.skipped_no_email)} without email skipped"
        )
        if self.claimed_elsewhere:
            text += f"; {self.claimed_elsewhere} being sent by another run"
        return text + ")"

    def failure_summary(self, what: str = "birthday emails", *, limit: int = 10) -> str:
        return super().failure_summary(what, limit=limit)


def birthday_greeting_message(candidate: Candidate) -> EmailMultiAlternatives:
    context = {"name": candidate.name, "day": candidate.day, "site_name": "oms_test"}
    message = EmailMultiAlternatives(
        subject=f"生日快乐，{candidate.name}！",
        body=render_to_string("basic/email/birthday.txt", context),
        to=[candidate.email],
    )
    message.attach_alternative(render_to_string("basic/email/birthday.html", context), "text/html")
    return message


def _due_candidates(days: list[date], result: BirthdayMailResult) -> list[Candidate]:
    day_of_mmdd = {mmdd: day for day in days for mmdd in birthday_mmdds(day)}
    candidates = []
    for user_id, mmdd, email, username, first_name, last_name in birthday_candidates(mmdds=list(day_of_mmdd)):
        result.birthdays += 1
        candidate = Candidate(user_id, day_of_mmdd[mmdd], email.strip(), username,
                              display_name(first_name, last_name, username))
        if candidate.email:
            candidates.append(candidate)
        else:
            result.skipped_no_email.append(username)
    return candidates


def birthday_mail_send(*, now=None) -> BirthdayMailResult:
    """Greet every user whose birthday is in the considered days and who has not been greeted this year."""
    now = now or timezone.now()
    today = timezone.localdate(now, business_tz())
    result = BirthdayMailResult(days=birthday_days(today, settings.BIRTHDAY_MAIL_GRACE_DAYS))
    stale_after = getattr(settings, "BIRTHDAY_MAIL_CLAIM_STALE_AFTER", DEFAULT_CLAIM_STALE_AFTER)
    candidates = _due_candidates(result.days, result)
    if not candidates:
        return result

    BirthdayGreeting.objects.bulk_create(
        (BirthdayGreeting(user_id=c.user_id, year=c.day.year, birthday_date=c.day) for c in candidates),
        ignore_conflicts=True,
        batch_size=500,
    )
    greetings = {
        (g.user_id, g.year): g
        for g in BirthdayGreeting.objects.filter(
            user_id__in=[c.user_id for c in candidates], year__in={c.day.year for c in candidates}
        ).only("id", "user_id", "year", "sent_time")
    }
    pending = []
    for c in candidates:
        greeting = greetings[(c.user_id, c.day.year)]
        if greeting.sent_time is not None:
            result.greeted_before += 1
        else:
            pending.append((c, greeting.pk))
    if not pending:
        return result

    return claimed_mails_send(
        model=BirthdayGreeting,
        pending=(
            PendingMail(greeting_id, candidate.label, lambda c=candidate: birthday_greeting_message(c))
            for candidate, greeting_id in pending
        ),
        log_name="birthday_mail",
        stale_after=stale_after,
        result=result,
    )
