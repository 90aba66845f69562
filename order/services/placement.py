from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from basic.models import Coupon, CouponStatus, PointsReason, Product, Profile
from basic.services.points import InsufficientPoints, points_change
from basic.cron_runtime.running.transactions import atomic_with_retry
from order.models import Order, OrderItem
from order.services import OrderRefused
from order.services.gateway_query import gateway_query_schedule
from order.services.reminders import order_reminder_schedule


@dataclass(frozen=True)
class LineRequest:
    product_id: int
    quantity: int


def new_order_number(now) -> str:
    """Date and time in TIME_ZONE (what staff and customers read), then 12 random digits."""
    return f"{timezone.localtime(now):%Y%m%d%H%M%S}{secrets.randbelow(10**12):012d}"


def order_place(*, user, lines: list[LineRequest], coupon_id: int | None = None, points: int = 0) -> Order:
    """Place an order: reserve stock, use the coupon and deduct points in one transaction,
    and schedule its unpaid-order reminder in the same one.

    Refuses with ``OrderRefused`` (and changes nothing) when a product is unknown,
    stock is short, the coupon is not the user's/unused/valid, or points are short.
    """
    if not lines:
        raise OrderRefused("订单里没有商品")
    quantities: dict[int, int] = {}
    for line in lines:
        if line.quantity <= 0:
            raise OrderRefused("数量必须大于 0")
        quantities[line.product_id] = quantities.get(line.product_id, 0) + line.quantity
    if points < 0:
        raise OrderRefused("积分不能为负数")
    if points and not Profile.objects.filter(user=user, points__gte=points).exists():
        # Checked again, under lock, when the points are taken; refusing early also keeps an
        # absurd number from reaching the orders table (an out-of-range error on MySQL).
        raise OrderRefused(str(InsufficientPoints.needing(points)))

    now = timezone.now()

    def attempt() -> Order:
        products = Product.objects.in_bulk(list(quantities))
        missing = set(quantities) - set(products)
        if missing:
            raise OrderRefused(f"商品不存在：{sorted(missing)}")
        for product_id, quantity in sorted(quantities.items()):  # sorted: same lock order everywhere
            product = products[product_id]
            if product.stock is None:
                continue
            reserved = Product.objects.filter(pk=product_id, stock__gte=quantity).update(stock=F("stock") - quantity)
            if not reserved:
                product.refresh_from_db(fields=["stock"])
                raise OrderRefused(f"库存不足：{product.name} 只剩 {product.stock} 件，需要 {quantity} 件")

        total = sum((products[pid].price * qty for pid, qty in quantities.items()), Decimal(0))
        coupon_discount = Decimal(0)
        if coupon_id is not None:
            coupon = Coupon.objects.filter(pk=coupon_id, user=user).first()
            taken = Coupon.objects.filter(
                pk=coupon_id, user=user, status=CouponStatus.UNUSED, valid_until__gt=now
            ).update(status=CouponStatus.USED)
            if not taken:
                reason = "不存在" if coupon is None else ("已过期" if coupon.valid_until <= now else "已使用")
                raise OrderRefused(f"优惠券不可用（{reason}）")
            coupon_discount = min(coupon.amount, total)

        points_value = Decimal(points) / settings.POINTS_PER_YUAN
        if points_value > total - coupon_discount:
            raise OrderRefused(f"积分抵扣（{points} 积分 = ¥{points_value}）超过应付金额 ¥{total - coupon_discount}")

        order = Order.objects.create(
            order_number=new_order_number(now),
            user=user,
            total=total,
            coupon_id=coupon_id,
            coupon_discount=coupon_discount,
            points_used=points,
            pay_amount=total - coupon_discount - points_value,
            created_time=now,
        )
        OrderItem.objects.bulk_create(
            OrderItem(
                order=order, product_id=pid, quantity=qty, unit_price=products[pid].price,
                stock_reserved=products[pid].stock is not None,
            )
            for pid, qty in quantities.items()
        )
        if points:
            try:
                points_change(user=user, delta=-points, reason=PointsReason.ORDER_DEDUCT, order_id=order.pk)
            except InsufficientPoints as exc:
                raise OrderRefused(str(exc)) from exc
        order_reminder_schedule(order=order)  # a task exists if and only if the order does
        gateway_query_schedule(order=order)  # likewise the question to the gateway before the deadline
        return order

    # A deadlock with the timeout job or another customer costs a retry, not a 500.
    return atomic_with_retry(attempt, what="order placement")
