"""The pay page sends the customer to the gateway's cashier with a signed request, and applies the
signed callback they bring back: nothing else takes or applies a payment."""
from urllib.parse import parse_qs, urlsplit

import pytest

from oms_test.gateway.models import GatewayPayment
from order.models import Order, OrderStatus
from order.services.placement import LineRequest, order_place
from tests.factories import make_product, make_user

pytestmark = pytest.mark.django_db


def _to_the_cashier(client, order) -> str:
    response = client.post(f"/orders/{order.order_number}/pay/")
    assert response.status_code == 307  # the same POST goes on to the gateway
    return response["Location"]


def _paying_customer(client):
    order = order_place(user=make_user(), lines=[LineRequest(make_product(price="100.00").pk, 1)])
    client.force_login(order.user)
    return order


def test_the_cashier_refuses_a_request_the_shop_did_not_sign(client):
    order = _paying_customer(client)
    url = _to_the_cashier(client, order)
    cheaper = url.replace("amount=100.00", "amount=0.01")
    assert cheaper != url
    response = client.post(cheaper)
    assert response.status_code == 403 and "signature" in response.content.decode()
    assert not GatewayPayment.objects.exists()


def test_the_cashier_takes_the_payment_and_the_customer_brings_the_callback_back(client):
    order = _paying_customer(client)
    response = client.post(_to_the_cashier(client, order))
    back = urlsplit(response["Location"])
    assert (response.status_code, back.path) == (302, f"/orders/{order.order_number}/pay/return/")
    assert GatewayPayment.objects.get(order_number=order.order_number).callback_sent
    query = parse_qs(back.query)
    tampered = {"body": query["body"][0].replace("100.00", "1.00"), "signature": query["signature"][0]}
    refused = client.get(back.path, tampered, follow=True).content.decode()
    assert "支付结果无效：signature does not match the body" in refused
    assert Order.objects.get(pk=order.pk).order_status == OrderStatus.UNPAID
    assert "支付成功" in client.get(response["Location"], follow=True).content.decode()
    assert Order.objects.get(pk=order.pk).order_status == OrderStatus.PAID
    # Coming back twice (reload, back button) applies it once.
    again = client.get(response["Location"], follow=True).content.decode()
    assert Order.objects.get(pk=order.pk).order_status == OrderStatus.PAID and "支付成功" in again
