"""Functions the timed-task dispatcher calls for courses (thin: each calls one service)."""
from __future__ import annotations

from order.learning.services.live_classes import live_class_reminders_send


def live_class_reminder(live_class_id: int) -> None:
    """Mail every student enrolled in the class's course that it starts soon (once each)."""
    live_class_reminders_send(live_class_id=live_class_id)
