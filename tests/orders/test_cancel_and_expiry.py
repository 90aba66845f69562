from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from basic.models import Coupon, CouponStatus, PointsEntry, PointsReason, Product, Profile
from order.models import Order, OrderStatus
from order.services import OrderRefused
from order.services.cancellation import order_cancel_by_user
from order.services.placement import LineRequest, order_place
from tests.factories import make_coupon, make_product, make_user

pytestmark = pytest.mark.django_db


def test_user_cancel_gives_everything_back_exactly_once():
    user = make_user(points=1000)
    product = make_product(stock=5)
    coupon = make_coupon(user)
    order = order_place(user=user, lines=[LineRequest(product.pk, 2)], coupon_id=coupon.pk, points=400)

    restored = order_cancel_by_user(user=user, order_number=order.order_number)

    assert (restored.orders, restored.stock_units, restored.coupons, restored.points) == (1, 2, 1, 400)
    order.refresh_from_db()
    assert order.order_status == OrderStatus.CANCELLED and order.cancelled_time is not None
    assert Product.objects.get(pk=product.pk).stock == 5
    assert Coupon.objects.get(pk=coupon.pk).status == CouponStatus.UNUSED
    assert Profile.objects.get(user=user).points == 1000
    assert PointsEntry.objects.filter(order_id=order.pk, reason=PointsReason.ORDER_REFUND).count() == 1

    with pytest.raises(OrderRefused, match="订单已取消"):
        order_cancel_by_user(user=user, order_number=order.order_number)
    assert Product.objects.get(pk=product.pk).stock == 5
    assert Profile.objects.get(user=user).points == 1000


def test_coupon_that_expired_meanwhile_comes_back_expired():
    user = make_user()
    coupon = make_coupon(user, valid_days=1)
    order = order_place(user=user, lines=[LineRequest(make_product().pk, 1)], coupon_id=coupon.pk)
    Coupon.objects.filter(pk=coupon.pk).update(valid_until=timezone.now() - timedelta(seconds=1))
    order_cancel_by_user(user=user, order_number=order.order_number)
    assert Coupon.objects.get(pk=coupon.pk).status == CouponStatus.EXPIRED


def test_user_cannot_cancel_someone_elses_order():
    owner, other = make_user(), make_user()
    order = order_place(user=owner, lines=[LineRequest(make_product().pk, 1)])
    with pytest.raises(OrderRefused, match="订单不存在"):
        order_cancel_by_user(user=other, order_number=order.order_number)
    assert Order.objects.get(pk=order.pk).order_status == OrderStatus.UNPAID


def test_order_past_deadline_is_expired_at_once_without_any_job(settings, client):
    settings.ORDER_TIMEOUT = 600
    user = make_user()
    client.force_login(user)
    order = order_place(user=user, lines=[LineRequest(make_product().pk, 1)])
    assert order.effective_status() == OrderStatus.UNPAID

    with time_machine.travel(timezone.now() + timedelta(seconds=601)):
        order.refresh_from_db()
        assert order.order_status == OrderStatus.UNPAID  # no job has run
        assert order.effective_status() == OrderStatus.TIMEOUT_CANCELLED
        page = client.get("/orders/").content.decode()
        assert "超时取消" in page and "去支付" not in page
        with pytest.raises(OrderRefused, match="超时"):
            order_cancel_by_user(user=user, order_number=order.order_number)
        response = client.post(f"/orders/{order.order_number}/pay/", follow=True)
        assert "无法支付：订单已超时取消" in response.content.decode()
    order.refresh_from_db()
    assert order.order_status == OrderStatus.UNPAID and order.paid_time is None


def test_cancel_gives_back_only_the_stock_that_was_taken():
    """A product unlimited when ordered that gets a stock later receives nothing back."""
    user = make_user()
    course = make_product(stock=None)
    keyboard = make_product(stock=5)
    order = order_place(user=user, lines=[LineRequest(course.pk, 3), LineRequest(keyboard.pk, 2)])
    Product.objects.filter(pk=course.pk).update(stock=10)  # staff starts counting the course

    restored = order_cancel_by_user(user=user, order_number=order.order_number)

    assert Product.objects.get(pk=course.pk).stock == 10
    assert Product.objects.get(pk=keyboard.pk).stock == 5
    assert restored.stock_by_product == {keyboard.pk: 2}
