from datetime import timedelta

import pytest
from django.utils import timezone

from order.models import Order, OrderStatus
from order.services.placement import LineRequest, order_place
from tests.factories import make_coupon, make_product, make_user

pytestmark = pytest.mark.django_db


def test_order_list_shows_the_right_button_for_each_state(client, settings):
    user = make_user()
    product = make_product()
    unpaid, paid, timed_out, expired, cancelled = (order_place(user=user, lines=[LineRequest(product.pk, 1)]) for _ in range(5))
    now = timezone.now()
    Order.objects.filter(pk=paid.pk).update(order_status=OrderStatus.PAID, paid_time=now)
    Order.objects.filter(pk=timed_out.pk).update(order_status=OrderStatus.TIMEOUT_CANCELLED, cancelled_time=now)
    Order.objects.filter(pk=expired.pk).update(created_time=now - timedelta(seconds=settings.ORDER_TIMEOUT + 5))
    Order.objects.filter(pk=cancelled.pk).update(order_status=OrderStatus.CANCELLED, cancelled_time=now)
    client.force_login(user)

    html = client.get("/orders/").content.decode()

    def row(order):
        start = html.index(f'data-order-number="{order.order_number}"')
        return html[start: html.index("</tr>", start)]

    assert "去支付" in row(unpaid) and "剩余" in row(unpaid)
    assert "查看订单" in row(paid) and "去学习" not in row(paid)  # not a course: nothing to learn
    assert f'href="/orders/{paid.order_number}/"' in row(paid)
    assert "超时取消" in row(timed_out) and "去支付" not in row(timed_out)
    assert "超时取消" in row(expired) and "去支付" not in row(expired)
    assert "已取消" in row(cancelled)


def test_a_paid_order_without_a_course_shows_paid_on_its_own_page_not_a_button_to_itself(client):
    user = make_user()
    order = order_place(user=user, lines=[LineRequest(make_product().pk, 1)])
    Order.objects.filter(pk=order.pk).update(order_status=OrderStatus.PAID, paid_time=timezone.now())
    client.force_login(user)
    html = client.get(f"/orders/{order.order_number}/").content.decode()
    actions = html[html.index('class="actions"'):]
    actions = actions[: actions.index("</p>")]
    assert "已支付" in actions and "去学习" not in actions and "查看订单" not in actions


def test_users_see_only_their_own_orders(client):
    owner, other = make_user(), make_user()
    order = order_place(user=owner, lines=[LineRequest(make_product().pk, 1)])
    client.force_login(other)
    assert order.order_number not in client.get("/orders/").content.decode()
    assert client.get(f"/orders/{order.order_number}/").status_code == 404
    assert client.post(f"/orders/{order.order_number}/pay/").status_code == 404


def test_pages_need_login(client):
    response = client.get("/orders/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_place_pay_and_cancel_through_the_pages(client):
    user = make_user(points=1000)
    product = make_product(price="100.00", stock=3)
    coupon = make_coupon(user, amount="10.00")
    client.force_login(user)

    response = client.post(
        f"/orders/new/?product={product.pk}",
        {"product": product.pk, "quantity": 2, "coupon": coupon.pk, "points": 500},
    )
    order = Order.objects.get(user=user)
    assert response.status_code == 302 and response["Location"] == f"/orders/{order.order_number}/pay/"
    assert order.pay_amount == 185  # 200 - 10 - 5

    response = client.post(f"/orders/{order.order_number}/pay/", follow=True)
    assert "支付成功" in response.content.decode()
    assert Order.objects.get(pk=order.pk).order_status == OrderStatus.PAID

    second = order_place(user=user, lines=[LineRequest(product.pk, 1)])
    response = client.post(f"/orders/{second.order_number}/cancel/", follow=True)
    assert "订单已取消" in response.content.decode()
    assert Order.objects.get(pk=second.pk).order_status == OrderStatus.CANCELLED


def test_refused_order_shows_why(client):
    user = make_user()
    product = make_product(stock=1)
    client.force_login(user)
    response = client.post(f"/orders/new/?product={product.pk}", {"product": product.pk, "quantity": 5})
    assert "下单失败：库存不足" in response.content.decode()
    assert not Order.objects.exists()


def test_home_page_lists_products(client):
    make_product(name="Django 实战课程", stock=None, is_course=True)
    from django.core.cache import cache

    cache.clear()
    html = client.get("/").content.decode()
    assert "Django 实战课程" in html and "不限量" in html


@pytest.mark.parametrize("query", ["", "?product=abc", "?product=999999"])
def test_order_page_with_a_bad_product_is_a_404_not_a_crash(client, query):
    client.force_login(make_user())
    assert client.get(f"/orders/new/{query}").status_code == 404


def test_buy_button_opens_the_confirmation_with_the_chosen_quantity(client):
    from django.core.cache import cache

    cache.clear()
    product = make_product(stock=5)
    client.force_login(make_user())
    home = client.get("/").content.decode()
    assert 'method="get" action="/orders/new/"' in home
    page = client.get(f"/orders/new/?product={product.pk}&quantity=3").content.decode()
    assert 'name="quantity" value="3"' in page
    assert not Order.objects.exists()  # nothing is placed before the user confirms


def test_order_list_is_paginated_newest_first(client):
    user, product = make_user(), make_product(stock=None)
    orders = [order_place(user=user, lines=[LineRequest(product.pk, 1)]) for _ in range(23)]
    now = timezone.now()
    for age, order in enumerate(reversed(orders)):  # the last placed is the newest
        Order.objects.filter(pk=order.pk).update(created_time=now - timedelta(minutes=age))
    client.force_login(user)

    first, second = client.get("/orders/").content.decode(), client.get("/orders/?page=2").content.decode()

    assert first.count('class="order-row"') == 20 and second.count('class="order-row"') == 3
    assert orders[-1].order_number in first and orders[0].order_number in second
    assert "第 1 / 2 页（共 23 个订单）" in first and "?page=2" in first
