"""A demo customer uses the shop in a real browser (Debian's chromium via Playwright)."""
import math

import pytest

from order.models import Order, OrderStatus
from oms_test.demo import demo_load
from order.services.demo import CUSTOMERS
from order.views import ORDERS_PER_PAGE
from tests.helpers import SCREENSHOT_DIR, browser_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_customer_sees_the_right_buttons_and_pays(browser_page):
    page = browser_page
    demo_load()
    alice = next(c for c in CUSTOMERS if c.username == "alice")
    browser_login(page, alice.username, alice.password)

    orders = {o.order_number: o for o in Order.objects.filter(user__username="alice")}
    pages = math.ceil(len(orders) / ORDERS_PER_PAGE)
    assert pages > 1  # the demo's history is longer than one page: every page is read
    shown, timeout_badges = set(), 0
    for number in range(pages, 0, -1):  # page 1 last: the one the customer pays from
        page.goto(f"/orders/?page={number}")
        rows = page.locator("tr.order-row")
        assert 0 < rows.count() <= ORDERS_PER_PAGE
        shown |= {rows.nth(i).get_attribute("data-order-number") for i in range(rows.count())}
        timeout_badges += page.locator(".action-timeout").count()
        for row in range(rows.count()):
            order = orders[rows.nth(row).get_attribute("data-order-number")]
            has_course = any(item.product.is_course for item in order.items.all())
            expected = {
                OrderStatus.UNPAID: "去支付",
                OrderStatus.PAID: "去学习" if has_course else "查看订单",
                OrderStatus.TIMEOUT_CANCELLED: "超时取消",
                OrderStatus.CANCELLED: "已取消",
            }[order.effective_status()]
            assert expected in rows.nth(row).locator("td.actions").inner_text(), order.order_number
    assert shown == set(orders)  # each order on exactly one of the pages
    # The timed-out ones of the demo's history, and one past its deadline that no job has touched yet.
    timed_out = [o for o in orders.values() if o.effective_status() == OrderStatus.TIMEOUT_CANCELLED]
    assert any(o.order_status == OrderStatus.UNPAID for o in timed_out)
    assert timeout_badges == len(timed_out) > 1
    page.screenshot(path=str(SCREENSHOT_DIR / "orders-before-pay.png"), full_page=True)

    unpaid_row = page.locator("tr.order-row", has=page.get_by_role("link", name="去支付")).first
    number = unpaid_row.get_attribute("data-order-number")
    unpaid_row.get_by_role("link", name="去支付").click()
    page.get_by_role("button", name="确认支付").click()

    page.get_by_text("支付成功").wait_for()
    paid_row = page.locator(f'tr[data-order-number="{number}"]')
    paid = Order.objects.get(order_number=number)
    assert ("去学习" if any(i.product.is_course for i in paid.items.all()) else "查看订单") in paid_row.inner_text()
    assert Order.objects.get(order_number=number).order_status == OrderStatus.PAID
    page.screenshot(path=str(SCREENSHOT_DIR / "orders-after-pay.png"), full_page=True)
