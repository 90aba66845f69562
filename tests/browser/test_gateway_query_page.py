"""A customer whose payment's callback was lost presses 我已支付，查询结果 in a real browser: the page
says it is asking, polls once a second, and shows 去学习 once a dispatcher process has the answer."""
import pytest

from order.models import Order, OrderStatus
from order.services.placement import LineRequest, order_place
from tests.factories import make_product, make_user
from tests.gateway_queue.helpers import dispatcher_env, finish, fresh_gateway_window, start_dispatcher
from tests.helpers import SCREENSHOT_DIR, browser_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_query_button_polls_until_the_gateway_answers_paid(browser_page, live_server, settings, monkeypatch,
                                                               subprocess_env, manage_py):
    page = browser_page
    fresh_gateway_window(monkeypatch)
    settings.GATEWAY_QUERY_BEFORE = 120
    user = make_user(password="pw-123456")
    course = make_product(stock=None, is_course=True, name="Python 入门课程")
    order = order_place(user=user, lines=[LineRequest(product_id=course.pk, quantity=1)])
    browser_login(page, user.username, "pw-123456")

    page.goto(f"/orders/{order.order_number}/pay/")
    page.get_by_label("模拟：已扣款，但回调没有送达商户").check()
    page.get_by_role("button", name="确认支付").click()
    page.get_by_role("button", name="我已支付，查询结果").wait_for()
    assert "去支付" in page.locator("p.actions").inner_text()  # the shop has not heard of the payment
    page.get_by_role("button", name="我已支付，查询结果").click()
    page.get_by_text("正在向支付平台查询…").wait_for()
    page.screenshot(path=str(SCREENSHOT_DIR / "gateway-query-asking.png"), full_page=True)

    dispatcher = start_dispatcher(manage_py, dispatcher_env(subprocess_env, live_server, rate=2, host="web-1"),
                                  "--for", "8")
    try:
        page.locator("p.actions").get_by_text("去学习").wait_for(timeout=20_000)  # the page's own polling
    finally:
        finish(dispatcher)
    assert Order.objects.get(pk=order.pk).order_status == OrderStatus.PAID
    assert page.get_by_text("正在向支付平台查询…").count() == 0
    page.screenshot(path=str(SCREENSHOT_DIR / "gateway-query-paid.png"), full_page=True)
