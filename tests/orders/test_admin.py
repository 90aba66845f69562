"""The Django admin shows orders and payment callbacks but cannot bypass the services."""
import pytest

from basic.models import Coupon, CouponStatus, Product
from order.models import Order, PaymentCallback
from order.services.placement import LineRequest, order_place
from tests.factories import make_coupon, make_product, make_user

pytestmark = pytest.mark.django_db


def test_an_order_cannot_be_deleted_in_the_admin_it_would_keep_stock_and_coupon(admin_client):
    user, product = make_user(), make_product(stock=10)
    coupon = make_coupon(user)
    order = order_place(user=user, lines=[LineRequest(product.pk, 3)], coupon_id=coupon.pk)

    assert admin_client.get(f"/admin/order/order/{order.pk}/change/").status_code == 200
    assert admin_client.post(f"/admin/order/order/{order.pk}/delete/", {"post": "yes"}).status_code == 403
    bulk = admin_client.post("/admin/order/order/", {"action": "delete_selected", "_selected_action": [order.pk],
                                                     "post": "yes"})
    assert bulk.status_code in (200, 302)  # the action is not offered: the list says so, nothing is deleted
    assert Order.objects.filter(pk=order.pk).exists()
    assert Product.objects.get(pk=product.pk).stock == 7
    assert Coupon.objects.get(pk=coupon.pk).status == CouponStatus.USED


def test_payment_callbacks_cannot_be_added_or_deleted_in_the_admin(admin_client):
    user, product = make_user(), make_product()
    order = order_place(user=user, lines=[LineRequest(product.pk, 1)])
    callback = PaymentCallback.objects.create(transaction_id="T-1", order=order, amount=order.pay_amount,
                                              outcome="refund_required", reason="test", payload="{}")

    assert admin_client.get("/admin/order/paymentcallback/").status_code == 200
    assert admin_client.get("/admin/order/paymentcallback/add/").status_code == 403
    assert admin_client.post(f"/admin/order/paymentcallback/{callback.pk}/delete/", {"post": "yes"}).status_code == 403
    assert PaymentCallback.objects.filter(pk=callback.pk).exists()
