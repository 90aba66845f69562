"""Helpers shared by several test packages (import them from here, never from a conftest)."""
from __future__ import annotations

import socket
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RecordingSMTPHandler:
    """An aiosmtpd handler that refuses chosen recipients and records what it accepted."""

    def __init__(self):
        self.refuse: dict[str, str] = {}  # address → SMTP reply, e.g. "550 5.1.1 mailbox unavailable"
        self.received: list[tuple[list[str], bytes]] = []
        self.port: int | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append((list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"

    def recipients(self) -> list[str]:
        return sorted(r for rcpt_tos, _ in self.received for r in rcpt_tos)


@contextmanager
def smtp_server_on_loopback():
    """A real SMTP server (aiosmtpd) on a free loopback port; yields its handler (``.port``, ``.received``)."""
    from aiosmtpd.controller import Controller

    handler = RecordingSMTPHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port, handler.controller = controller.port, controller
    try:
        yield handler
    finally:
        controller.stop()
