"""A real SMTP server on loopback (aiosmtpd) for tests that send mail; conftests import the fixture."""
import pytest


class RecordingSMTPHandler:
    """An aiosmtpd handler that refuses chosen recipients and records what it accepted."""

    def __init__(self):
        self.refuse: dict[str, str] = {}  # address → SMTP reply, e.g. "550 5.1.1 mailbox unavailable"
        self.received: list[tuple[list[str], bytes]] = []

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


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on loopback; Django's SMTP backend is pointed at it."""
    from aiosmtpd.controller import Controller

    handler = RecordingSMTPHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    handler.controller = controller
    try:
        yield handler
    finally:
        controller.stop()
