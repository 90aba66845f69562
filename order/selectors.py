from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.db.models.functions import Coalesce
from django.urls import reverse

from order.models import Order, OrderItem


def orders_of_user(*, user) -> QuerySet[Order]:
    return Order.objects.filter(user=user).prefetch_related(
        Prefetch("items", queryset=OrderItem.objects.select_related("product"))
    )


def order_of_user(*, user, order_number: str) -> Order | None:
    return orders_of_user(user=user).filter(order_number=order_number).first()


def product_sales_annotations() -> dict:
    """Annotations on Product: units ``sold`` and distinct ``buyers`` of paid orders (the home page's figures).

    Read from the summary the payment transaction keeps (order/services/totals.py): one row per
    product, so the home page's refresh costs the same however many orders were ever placed.
    """
    return {"sold": Coalesce("sales__units_sold", 0), "buyers": Coalesce("sales__buyers", 0)}


def order_learn_url(order: Order) -> str | None:
    """Where 去学习 of a paid order leads: its course, my courses when it bought several; None without
    a course (the order shows 查看订单 instead: there is nothing to learn)."""
    course_ids = sorted({item.product_id for item in order.items.all() if item.product.is_course})
    if len(course_ids) == 1:
        return reverse("course:detail", args=[course_ids[0]])
    if course_ids:
        return reverse("course:list")
    return None
