"""The birthday_mail job: one greeting email per user per year, on their birthday in TIME_ZONE.

Rules:

- "today" is the date in ``TIME_ZONE``. A user's birthday is matched on the indexed
  ``Profile.birthday_mmdd`` (month*100 + day); 29 February birthdays are greeted on
  28 February in years without a 29th.
- Catch-up: the days ``[today - BIRTHDAY_MAIL_GRACE_DAYS, today]`` are all considered,
  so a run missed yesterday (cron down, mail server down) is made up today. The
  greeting of a day is for that day's year. Older birthdays are not greeted late.
- At most once per user and year (``BirthdayGreeting``, unique (user, year)), even
  with two runs at once on two hosts:
  1. a row per due user is inserted (``INSERT … IGNORE``-style: an existing row is kept);
  2. before sending, the run *claims* the row with one conditional UPDATE (not sent,
     and not claimed — or claimed so long ago, ``BIRTHDAY_MAIL_CLAIM_STALE_AFTER``
     seconds, that its run must have died); only the run whose UPDATE changed the
     row sends, outside any transaction;
  3. success sets ``sent_time``; an SMTP failure records ``last_error`` and releases
     the claim, so the next run (within the grace days) retries that user only.
  The one case that can mail a user twice is a process killed after the SMTP server
  accepted the message and before ``sent_time`` was written (milliseconds); the
  stale claim is then retried. We prefer that to never greeting them.
- Users without an email address are skipped and counted in the report.
- If any email fails, the others are still sent, each failure is logged, and the run
  ends with ``JobFailed("k of n birthday emails failed: …")``. Only failures of the mail
  server itself (``is_server_failure``) count towards giving up on the batch; a user's
  malformed address fails that user's email alone.
"""
from __future__ import annotations

import calendar
import secrets
import smtplib
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone
from loguru import logger

from basic.models import BirthdayGreeting, Profile

# A claimed row not sent after this long belongs to a run that died; another run may take it.
DEFAULT_CLAIM_STALE_AFTER = 15 * 60
# After this many failures in a row that are not about one recipient (connection lost,
# server unavailable), the run stops; the users not tried yet are left for the next run.
MAX_CONSECUTIVE_SERVER_FAILURES = 3
# SMTP answers about one message or recipient: the connection itself is fine.
RECIPIENT_ERRORS = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError)


def is_server_failure(exc: BaseException) -> bool:
    """Did the mail server or the connection fail (not just this one message)?

    smtplib's errors and socket errors are ``OSError``s; of those, the answers about one
    recipient or message are not the server's fault. Anything else (a malformed address
    or header is a ``ValueError`` raised while the message is built, a template error…)
    is about this one message: it must neither drop a healthy connection nor count
    towards stopping the batch, or a few bad addresses would keep everyone after them
    from being greeted.
    """
    return isinstance(exc, OSError) and not isinstance(exc, RECIPIENT_ERRORS)


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


@dataclass
class BirthdayMailResult:
    days: list[date]
    birthdays: int = 0  # users whose birthday falls in the considered days
    sent: list[str] = field(default_factory=list)
    greeted_before: int = 0  # already sent (by an earlier run)
    claimed_elsewhere: int = 0  # being sent right now by another run
    skipped_no_email: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (user, error)
    not_tried: int = 0  # left for the next run: the mail server was unreachable or kept failing
    server_error: str = ""

    @property
    def due(self) -> int:
        return len(self.sent) + len(self.failed) + self.not_tried

    def summary(self) -> str:
        days = f"{self.days[0]:%Y-%m-%d}" if len(self.days) == 1 else f"{self.days[0]:%Y-%m-%d}..{self.days[-1]:%Y-%m-%d}"
        text = (
            f"sent {len(self.sent)} birthday emails for {days} ({self.birthdays} birthdays; "
            f"{self.greeted_before} greeted before; {len(self.skipped_no_email)} without email skipped"
        )
        if self.claimed_elsewhere:
            text += f"; {self.claimed_elsewhere} being sent by another run"
        return text + ")"

    @property
    def ok(self) -> bool:
        return not self.failed and not self.not_tried

    def failure_summary(self, *, limit: int = 10) -> str:
        shown = [f"{who}: {error}" for who, error in self.failed[:limit]]
        if len(self.failed) > limit:
            shown.append(f"… {len(self.failed) - limit} more")
        if self.not_tried:
            shown.append(f"{self.not_tried} not tried ({self.server_error})")
        return f"{len(self.failed) + self.not_tried} of {self.due} birthday emails failed: " + "; ".join(shown)


def _display_name(first_name: str, last_name: str, username: str) -> str:
    return f"{last_name}{first_name}".strip() or username  # Chinese order: family name first


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
                              _display_name(first_name, last_name, username))
        if candidate.email:
            candidates.append(candidate)
        else:
            result.skipped_no_email.append(username)
    return candidates


class _Mailer:
    """One SMTP connection for the batch, reopened after a server-level failure."""

    def __init__(self):
        self.connection = get_connection(fail_silently=False)
        self.broken = False

    def open(self) -> None:
        self.connection.open()  # OSError when the server is unreachable

    def close(self) -> None:
        try:
            self.connection.close()
        except OSError:
            pass  # the server is gone; there is nothing left to tell it

    def send(self, message) -> None:
        if self.broken:
            self.open()
            self.broken = False
        try:
            self.connection.send_messages([message])
        except Exception as exc:
            if is_server_failure(exc):  # otherwise it is about this message only; the connection is still good
                self.broken = True
                self.close()
            raise


def _claim(greeting_id: int, token: str, stale_after: int) -> bool:
    now = timezone.now()
    return bool(
        BirthdayGreeting.objects.filter(pk=greeting_id, sent_time__isnull=True)
        .filter(Q(claim_token="") | Q(claimed_at__lt=now - timedelta(seconds=stale_after)))
        .update(claim_token=token, claimed_at=now, attempts=F("attempts") + 1)
    )


def birthday_mail_send(*, now=None) -> BirthdayMailResult:
    """Greet every user whose birthday is in the considered days and who has not been greeted this year."""
    now = now or timezone.now()
    today = timezone.localdate(now, timezone.get_default_timezone())
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

    token = secrets.token_hex(16)
    mailer = _Mailer()
    try:
        mailer.open()
    except OSError as exc:  # nothing claimed: every pending user is tried again by the next run
        result.not_tried = len(pending)
        result.server_error = f"cannot reach the mail server: {type(exc).__name__}: {exc}"
        logger.error("birthday_mail: {}", result.server_error)
        return result
    try:
        consecutive_server_failures = 0
        for index, (candidate, greeting_id) in enumerate(pending):
            if consecutive_server_failures >= MAX_CONSECUTIVE_SERVER_FAILURES:
                result.not_tried = len(pending) - index
                result.server_error = "the mail server kept failing"
                logger.error("birthday_mail: mail server keeps failing; {} users left for the next run", result.not_tried)
                break
            if not _claim(greeting_id, token, stale_after):
                result.claimed_elsewhere += 1
                continue
            try:
                mailer.send(birthday_greeting_message(candidate))
            except Exception as exc:  # noqa: BLE001 - one email's failure is recorded, the batch goes on
                if is_server_failure(exc):
                    consecutive_server_failures += 1
                error = f"{type(exc).__name__}: {exc}"[:1000]
                result.failed.append((candidate.label, error))
                logger.error("birthday_mail: email to {} failed: {}", candidate.label, error)
                BirthdayGreeting.objects.filter(pk=greeting_id, claim_token=token).update(
                    last_error=error, claim_token="", claimed_at=None
                )
                continue
            consecutive_server_failures = 0
            BirthdayGreeting.objects.filter(pk=greeting_id, claim_token=token).update(
                sent_time=timezone.now(), last_error=""
            )
            result.sent.append(candidate.label)
            logger.info("birthday_mail: greeted {} (birthday {:%Y-%m-%d})", candidate.label, candidate.day)
    finally:
        mailer.close()
    return result
