"""Points: every change is a ledger row, and the balance moves in the same transaction."""
from __future__ import annotations

from django.db import transaction
from django.db.models import F

from basic.models import PointsEntry, Profile


class InsufficientPoints(Exception):
    @classmethod
    def needing(cls, points: int) -> InsufficientPoints:
        return cls(f"积分不足：需要 {points} 积分")


def points_change(*, user, delta: int, reason: str, order_id: int | None = None) -> PointsEntry:
    """Add (or with a negative delta, take) points; refuses to go below zero."""
    with transaction.atomic():
        balance = Profile.objects.filter(user=user)
        if delta < 0:
            balance = balance.filter(points__gte=-delta)
        if balance.update(points=F("points") + delta) != 1:
            raise InsufficientPoints.needing(-delta)
        return PointsEntry.objects.create(user=user, delta=delta, reason=reason, order_id=order_id)
