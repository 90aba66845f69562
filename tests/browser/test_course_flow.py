"""A student buys a course in a real browser (Debian's chromium), pays, and 去学习 opens it."""
from datetime import timedelta

import pytest
from django.utils import timezone

from order.learning.models import Enrollment, Lesson, LiveClass
from tests.factories import make_user
from tests.helpers import SCREENSHOT_DIR, browser_login
from tests.learning.helpers import make_course

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_student_pays_for_a_course_and_learns_another_student_cannot(browser_page):
    page = browser_page
    course = make_course(name="浏览器里的 Django 课", price="199.00")
    Lesson.objects.create(course=course, position=1, title="第一课：从下单到支付")
    LiveClass.objects.create(course=course, title="直播：开课答疑", start_time=timezone.now() + timedelta(hours=2))
    student = make_user(password="student-pw-1")
    other = make_user(password="other-pw-1")

    browser_login(page, student.username, "student-pw-1")
    page.goto(f"/orders/new/?product={course.pk}")
    page.get_by_role("button", name="提交订单").click()
    page.get_by_role("button", name="确认支付").click()  # the simulated gateway sends a signed callback
    page.get_by_text("支付成功").wait_for()

    page.get_by_role("link", name="去学习").click()
    page.wait_for_url(f"**/courses/{course.pk}/")
    assert page.locator("h1.course-title").inner_text() == "浏览器里的 Django 课"
    assert page.get_by_text("第一课：从下单到支付").is_visible()
    assert page.get_by_text("直播：开课答疑").is_visible()
    page.screenshot(path=str(SCREENSHOT_DIR / "course-after-learn.png"), full_page=True)
    assert Enrollment.objects.filter(user=student, course=course).count() == 1

    page.get_by_role("link", name="我的课程", exact=True).click()
    assert page.locator(f'.course-card[data-course-id="{course.pk}"]').is_visible()

    page.context.clear_cookies()
    browser_login(page, other.username, "other-pw-1")
    response = page.goto(f"/courses/{course.pk}/")
    assert response.status == 404
    assert "第一课" not in page.content()
    page.goto("/courses/")
    assert page.locator(".course-card").count() == 0
