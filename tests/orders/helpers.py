"""Helpers for the order tests: signed gateway callbacks and the site log."""
from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings

from order.services.payment import payment_sign

CALLBACK_URL = "/payment/callback/"


def callback_body(order_number: str, transaction_id: str, amount) -> bytes:
    return json.dumps({"order_number": order_number, "transaction_id": transaction_id, "amount": str(amount)}).encode()


def post_signed(client, body: bytes, *, signature: str | None = None, **extra):
    """POST ``body`` to the callback URL, signed with PAYMENT_SECRET unless ``signature`` is given."""
    return client.post(
        CALLBACK_URL, body, content_type="application/json",
        headers={"X-Signature": signature if signature is not None else payment_sign(body)}, **extra,
    )


def callback(client, order, *, transaction_id="T1", amount=None, signature=None):
    body = callback_body(order.order_number, transaction_id, amount or order.pay_amount)
    return post_signed(client, body, signature=signature)


class SiteLog:
    """The lines ``logs/oms.log`` gained since this object was made."""

    def __init__(self):
        self.path = Path(settings.LOG_DIR) / "oms.log"
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def new_lines(self) -> list[str]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as f:
            f.seek(self.offset)
            return f.read().decode("utf-8").splitlines()
