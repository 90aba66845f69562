"""Small factories for tests: real rows through the real models and services."""
from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.utils import timezone

from basic.models import Coupon, PointsReason, Product, Profile
from basic.services.points import points_change

_seq = itertools.count(1)


def make_user(*, points: int = 0, birthday=None, email: str | None = None, staff: bool = False, password="pw-123456"):
    n = next(_seq)
    user = get_user_model().objects.create_user(
        username=f"user{n}", email=email if email is not None else f"user{n}@example.com", password=password,
        is_staff=staff,
    )
    Profile.objects.create(user=user, birthday=birthday)
    if points:
        points_change(user=user, delta=points, reason=PointsReason.GRANT)
    return user


def make_product(*, price="100.00", stock: int | None = 10, is_course=False, name=None):
    return Product.objects.create(
        name=name or f"product {next(_seq)}", price=Decimal(price), stock=stock, is_course=is_course
    )


def make_coupon(user, *, amount="20.00", valid_days=30):
    return Coupon.objects.create(user=user, amount=Decimal(amount), valid_until=timezone.now() + timedelta(days=valid_days))
