"""Students and courses for the learning tests: real orders paid through the real callback."""
from __future__ import annotations

from order.models import Order
from order.services.payment import payment_simulate
from order.services.placement import LineRequest, order_place
from tests.factories import make_product, make_user


def make_course(**kwargs):
    kwargs.setdefault("stock", None)
    return make_product(is_course=True, **kwargs)


def place(user, *products) -> Order:
    return order_place(user=user, lines=[LineRequest(p.pk, 1) for p in products])


def enrolled_student(course, **user_kwargs):
    """A user who bought ``course`` and paid through the simulated gateway."""
    student = make_user(**user_kwargs)
    callback = payment_simulate(order=place(student, course))
    assert callback.outcome == "applied", callback.reason
    return student
