from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from order.models import Order, OrderItem


def orders_of_user(*, user) -> QuerySet[Order]:
    return Order.objects.filter(user=user).prefetch_related(
        Prefetch("items", queryset=OrderItem.objects.select_related("product"))
    )


def order_of_user(*, user, order_number: str) -> Order | None:
    return orders_of_user(user=user).filter(order_number=order_number).first()
