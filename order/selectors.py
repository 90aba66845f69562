from __future__ import annotations

from django.db.models import Count, Prefetch, Q, QuerySet, Sum

from order.models import Order, OrderItem, OrderStatus


def orders_of_user(*, user) -> QuerySet[Order]:
    return Order.objects.filter(user=user).prefetch_related(
        Prefetch("items", queryset=OrderItem.objects.select_related("product"))
    )


def order_of_user(*, user, order_number: str) -> Order | None:
    return orders_of_user(user=user).filter(order_number=order_number).first()


def product_sales_annotations() -> dict:
    """Annotations on Product: units ``sold`` and distinct ``buyers`` of paid orders (the home page's figures)."""
    paid = Q(order_items__order__order_status=OrderStatus.PAID)
    return {
        "sold": Sum("order_items__quantity", filter=paid, default=0),
        "buyers": Count("order_items__order__user", filter=paid, distinct=True),
    }
