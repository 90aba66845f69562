"""Sending a batch of emails, each at most once, with the same SMTP retry rules for every job.

Each ``ClaimedMail`` row is claimed with one conditional UPDATE before it is sent, then marked
sent or released with its error; one SMTP connection serves the batch. docs/jobs.md ("Each mail
at most once: mail_batch") has the whole story.
"""
from __future__ import annotations

import secrets
import smtplib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from django.core.mail import EmailMessage, get_connection
from django.db.models import F, Q
from django.utils import timezone
from loguru import logger

# A claimed row not sent after this long belongs to a run that died; another run may take it.
DEFAULT_CLAIM_STALE_AFTER = 15 * 60
# After this many failures in a row that are not about one recipient (connection lost,
# server unavailable), the batch stops; the people not tried yet are left for the next run.
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
    from being mailed.
    """
    return isinstance(exc, OSError) and not isinstance(exc, RECIPIENT_ERRORS)


def display_name(first_name: str, last_name: str, username: str) -> str:
    """How a mail greets a user: the full name in Chinese order (family name first), else the username."""
    return f"{last_name}{first_name}".strip() or username


@dataclass
class PendingMail:
    record_id: int  # primary key of the ClaimedMail row
    label: str  # "who" in logs and reports
    build: Callable[[], EmailMessage]


@dataclass
class MailBatchResult:
    sent: list[str] = field(default_factory=list)
    claimed_elsewhere: int = 0  # being sent right now by another run
    failed: list[tuple[str, str]] = field(default_factory=list)  # (who, error)
    not_tried: int = 0  # left for the next run: the mail server was unreachable or kept failing
    server_error: str = ""

    @property
    def ok(self) -> bool:
        return not self.failed and not self.not_tried

    @property
    def due(self) -> int:
        return len(self.sent) + len(self.failed) + self.not_tried

    def failure_summary(self, what: str, *, limit: int = 10) -> str:
        shown = [f"{who}: {error}" for who, error in self.failed[:limit]]
        if len(self.failed) > limit:
            shown.append(f"… {len(self.failed) - limit} more")
        if self.not_tried:
            shown.append(f"{self.not_tried} not tried ({self.server_error})")
        return f"{len(self.failed) + self.not_tried} of {self.due} {what} failed: " + "; ".join(shown)


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


def _claim(model, record_id: int, token: str, stale_after: int) -> bool:
    now = timezone.now()
    return bool(
        model.objects.filter(pk=record_id, sent_time__isnull=True)
        .filter(Q(claim_token="") | Q(claimed_at__lt=now - timedelta(seconds=stale_after)))
        .update(claim_token=token, claimed_at=now, attempts=F("attempts") + 1)
    )


def claimed_mails_send(
    *,
    model,
    pending: Iterable[PendingMail],
    log_name: str,
    stale_after: int = DEFAULT_CLAIM_STALE_AFTER,
    result: MailBatchResult | None = None,
) -> MailBatchResult:
    """Send each pending mail that nobody sent or is sending; see the module docstring for the rules.

    ``result`` lets a job collect its own figures (a subclass of MailBatchResult) beside the batch's.
    """
    pending = list(pending)
    result = result if result is not None else MailBatchResult()
    if not pending:
        return result
    token = secrets.token_hex(16)
    mailer = _Mailer()
    try:
        mailer.open()
    except OSError as exc:  # nothing claimed: everyone is tried again by the next run
        result.not_tried = len(pending)
        result.server_error = f"cannot reach the mail server: {type(exc).__name__}: {exc}"
        logger.error("{}: {}", log_name, result.server_error)
        return result
    try:
        consecutive_server_failures = 0
        for index, mail in enumerate(pending):
            if consecutive_server_failures >= MAX_CONSECUTIVE_SERVER_FAILURES:
                result.not_tried = len(pending) - index
                result.server_error = "the mail server kept failing"
                logger.error("{}: mail server keeps failing; {} left for the next run", log_name, result.not_tried)
                break
            if not _claim(model, mail.record_id, token, stale_after):
                result.claimed_elsewhere += 1
                continue
            try:
                mailer.send(mail.build())
            except Exception as exc:  # noqa: BLE001 - one email's failure is recorded, the batch goes on
                if is_server_failure(exc):
                    consecutive_server_failures += 1
                error = f"{type(exc).__name__}: {exc}"[:1000]
                result.failed.append((mail.label, error))
                logger.error("{}: email to {} failed: {}", log_name, mail.label, error)
                model.objects.filter(pk=mail.record_id, claim_token=token).update(
                    last_error=error, claim_token="", claimed_at=None
                )
                continue
            consecutive_server_failures = 0
            model.objects.filter(pk=mail.record_id, claim_token=token).update(sent_time=timezone.now(), last_error="")
            result.sent.append(mail.label)
            logger.info("{}: mailed {}", log_name, mail.label)
    finally:
        mailer.close()
    return result
