from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from basic.models import Coupon, CouponStatus, PointsEntry, Product, Profile
from order.models import Order, OrderStatus
from order.services import OrderRefused
from order.services.placement import LineRequest, order_place
from tests.factories import make_coupon, make_product, make_user

pytestmark = pytest.mark.django_db


def snapshot(user, *products, coupon=None):
    return (
        [Product.objects.get(pk=p.pk).stock for p in products],
        Profile.objects.get(user=user).points,
        Coupon.objects.get(pk=coupon.pk).status if coupon else None,
        Order.objects.count(),
        PointsEntry.objects.count(),
    )


def test_placing_reserves_stock_uses_coupon_and_deducts_points():
    user = make_user(points=1000)
    keyboard, course = make_product(price="100.00", stock=5), make_product(price="50.00", stock=None, is_course=True)
    coupon = make_coupon(user, amount="20.00")

    order = order_place(
        user=user, lines=[LineRequest(keyboard.pk, 2), LineRequest(course.pk, 1)], coupon_id=coupon.pk, points=300
    )

    assert order.order_status == OrderStatus.UNPAID
    assert order.total == Decimal("250.00")
    assert order.coupon_discount == Decimal("20.00")
    assert order.pay_amount == Decimal("227.00")  # 250 - 20 - 300 points (¥3)
    assert Product.objects.get(pk=keyboard.pk).stock == 3
    assert Product.objects.get(pk=course.pk).stock is None  # unlimited stays unlimited
    assert Coupon.objects.get(pk=coupon.pk).status == CouponStatus.USED
    assert Profile.objects.get(user=user).points == 700
    assert PointsEntry.objects.get(order_id=order.pk).delta == -300
    assert order.items.count() == 2


@pytest.mark.parametrize(
    "case, message",
    [
        ("stock", "库存不足"),
        ("coupon_used", "优惠券不可用（已使用）"),
        ("coupon_expired", "优惠券不可用（已过期）"),
        ("coupon_other_user", "优惠券不可用（不存在）"),
        ("points", "积分不足"),
        ("points_beyond_any_column", "积分不足"),
        ("points_over_total", "超过应付金额"),
        ("unknown_product", "商品不存在"),
        ("zero_quantity", "数量必须大于 0"),
    ],
)
def test_refusals_name_the_problem_and_change_nothing(case, message):
    user = make_user(points=100)
    product = make_product(price="10.00", stock=2)
    coupon = make_coupon(user, amount="5.00")
    kwargs = {"lines": [LineRequest(product.pk, 1)]}
    if case == "stock":
        kwargs["lines"] = [LineRequest(product.pk, 3)]
    elif case == "coupon_used":
        Coupon.objects.filter(pk=coupon.pk).update(status=CouponStatus.USED)
        kwargs["coupon_id"] = coupon.pk
    elif case == "coupon_expired":
        coupon = make_coupon(user, valid_days=-1)
        kwargs["coupon_id"] = coupon.pk
    elif case == "coupon_other_user":
        kwargs["coupon_id"] = make_coupon(make_user()).pk
    elif case == "points":
        kwargs["points"] = 101
    elif case == "points_beyond_any_column":  # an order big enough to allow it; MySQL's column would overflow
        kwargs["lines"] = [LineRequest(make_product(price="60000000.00", stock=None).pk, 1)]
        kwargs["points"] = 5_000_000_000
    elif case == "points_over_total":
        user = make_user(points=5000)
        kwargs["points"] = 1001  # ¥10.01 for a ¥10 order
    elif case == "unknown_product":
        kwargs["lines"] = [LineRequest(product.pk, 1), LineRequest(999999, 1)]
    elif case == "zero_quantity":
        kwargs["lines"] = [LineRequest(product.pk, 0)]
    before = snapshot(user, product, coupon=coupon)

    with pytest.raises(OrderRefused, match=message):
        order_place(user=user, **kwargs)

    assert snapshot(user, product, coupon=coupon) == before


def test_database_refuses_impossible_states():
    user = make_user()
    product = make_product(stock=1)
    order = order_place(user=user, lines=[LineRequest(product.pk, 1)])
    for bad_update in (
        lambda: Product.objects.filter(pk=product.pk).update(stock=-1),
        lambda: Order.objects.filter(pk=order.pk).update(order_status=7),
        lambda: Order.objects.filter(pk=order.pk).update(order_status=OrderStatus.PAID),  # paid without paid_time
        lambda: Order.objects.create(
            order_number=order.order_number, user=user, total=1, pay_amount=1
        ),
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            bad_update()
