"""The shop's side of the gateway's status query: one signed HTTP request to GATEWAY_URL.

Only HTTP: the simulator this site serves and a real gateway look the same from here, so a real
gateway's adapter replaces this module and nothing else. "Not now" answers (429, a timeout, no
connection, a 5xx) raise ``RetryLater`` so the timed task is retried with backoff, not failed.
"""
from __future__ import annotations

import hmac
import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.conf import settings

from basic.cron_runtime.timed_tasks.services import RetryLater
from order.services.payment import payment_sign


class GatewayAnswerInvalid(Exception):
    """The answer is not signed by the gateway, or not the documented shape (one line)."""


@dataclass(frozen=True)
class GatewayStatus:
    paid: bool
    transaction_id: str = ""
    amount: Decimal | None = None
    paid_at: datetime | None = None
    raw: str = ""


def _retry_after(error: urllib.error.HTTPError) -> float | None:
    try:
        return max(float(error.headers.get("Retry-After", "")), 0.5)
    except ValueError:
        return None


def gateway_status(order_number: str) -> GatewayStatus:
    """Ask the gateway whether ``order_number`` was paid."""
    body = json.dumps({"order_number": order_number}).encode()
    request = urllib.request.Request(
        settings.GATEWAY_URL + "query/", data=body, method="POST",
        headers={"Content-Type": "application/json", "X-Signature": payment_sign(body)},
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.GATEWAY_QUERY_TIMEOUT) as response:  # noqa: S310
            payload, signature = response.read(65536), response.headers.get("X-Signature", "")
    except urllib.error.HTTPError as exc:
        if exc.code == 429 or exc.code >= 500:
            raise RetryLater(f"gateway answered HTTP {exc.code}", retry_after=_retry_after(exc)) from None
        raise GatewayAnswerInvalid(f"gateway refused the query: HTTP {exc.code} {exc.read(300)!r}") from None
    except (urllib.error.URLError, TimeoutError, socket.timeout, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RetryLater(f"gateway at {settings.GATEWAY_URL} unreachable: {reason}") from None
    if not hmac.compare_digest(payment_sign(payload).encode(), signature.encode("utf-8", "replace")):
        raise GatewayAnswerInvalid("the gateway's answer is not signed with PAYMENT_SECRET")
    try:
        data = json.loads(payload)
        if data["order_number"] != order_number or data["status"] not in ("paid", "unpaid"):
            raise ValueError(f"answer for {data['order_number']!r}, status {data['status']!r}")
        if data["status"] == "unpaid":
            return GatewayStatus(paid=False, raw=payload.decode())
        return GatewayStatus(paid=True, transaction_id=str(data["transaction_id"]), amount=Decimal(data["amount"]),
                             paid_at=datetime.fromisoformat(data["paid_at"]), raw=payload.decode())
    except (ValueError, KeyError, TypeError, InvalidOperation) as exc:
        raise GatewayAnswerInvalid(f"the gateway's answer is not the documented shape: {exc}") from None
