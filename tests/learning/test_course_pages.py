"""/courses/ and /courses/<id>/: a course is for its students only; 去学习 leads there."""
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from basic.models import Product
from order.learning.models import Lesson, LiveClass
from order.services.payment import payment_simulate
from tests.factories import make_product, make_user
from tests.learning.helpers import enrolled_student, make_course, place

pytestmark = pytest.mark.django_db


@pytest.fixture
def course():
    course = make_course(name="Django 实战")
    Product.objects.filter(pk=course.pk).update(description="从零搭一个订单系统。")
    Lesson.objects.create(course=course, position=2, title="第二课：支付回调", body="HMAC 签名")
    Lesson.objects.create(course=course, position=1, title="第一课：模型")
    now = timezone.now()
    LiveClass.objects.create(course=course, title="直播：答疑", start_time=now + timedelta(days=1))
    LiveClass.objects.create(course=course, title="直播：已结束", start_time=now - timedelta(hours=1))
    return course


def test_a_student_sees_the_course_lessons_and_upcoming_live_classes(client, course):
    client.force_login(enrolled_student(course))

    html = client.get(f"/courses/{course.pk}/").content.decode()

    assert "Django 实战" in html and "从零搭一个订单系统。" in html
    assert html.index("第一课：模型") < html.index("第二课：支付回调") and "HMAC 签名" in html
    assert "直播：答疑" in html and "直播：已结束" not in html


@pytest.mark.parametrize("who", ["other student", "unpaid buyer", "staff"])
def test_anyone_not_enrolled_gets_404_never_the_content(client, course, who):
    other_course = make_course()
    user = {
        "other student": lambda: enrolled_student(other_course),
        "unpaid buyer": lambda: place(make_user(), course).user,
        "staff": lambda: make_user(staff=True),
    }[who]()
    client.force_login(user)

    response = client.get(f"/courses/{course.pk}/")

    assert response.status_code == 404
    assert "第一课" not in response.content.decode() and "直播：答疑" not in response.content.decode()


def test_anonymous_visitors_are_sent_to_log_in(client, course):
    for url in ("/courses/", f"/courses/{course.pk}/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url


def test_my_courses_lists_mine_only(client, course):
    mine, not_mine = make_course(name="我的另一门课"), make_course(name="别人的课")
    student = enrolled_student(course)
    payment_simulate(order=place(student, mine))
    enrolled_student(not_mine)
    client.force_login(student)

    html = client.get("/courses/").content.decode()

    assert set(re.findall(r'data-course-id="(\d+)"', html)) == {str(course.pk), str(mine.pk)}
    assert "别人的课" not in html


def learn_link(client, order) -> str | None:
    html = client.get("/orders/").content.decode()
    row = html[html.index(f'data-order-number="{order.order_number}"'):]
    found = re.search(r'class="btn btn-ok action-learn" href="([^"]+)"', row[: row.index("</tr>")])
    return found.group(1) if found else None


def view_link(client, order) -> str | None:
    html = client.get("/orders/").content.decode()
    row = html[html.index(f'data-order-number="{order.order_number}"'):]
    found = re.search(r'class="btn action-view" href="([^"]+)">查看订单<', row[: row.index("</tr>")])
    return found.group(1) if found else None


def test_learn_on_a_paid_course_order_opens_the_course(client, course):
    student = make_user()
    order = place(student, course)
    payment_simulate(order=order)
    client.force_login(student)

    link = learn_link(client, order)

    assert link == f"/courses/{course.pk}/"
    assert "第一课：模型" in client.get(link).content.decode()


def test_only_a_course_shows_learn_another_paid_order_shows_view_order(client):
    student = make_user()
    mug_order = place(student, make_product())
    two_courses = place(student, make_course(), make_course())
    for order in (mug_order, two_courses):
        payment_simulate(order=order)
    client.force_login(student)

    assert learn_link(client, mug_order) is None
    assert view_link(client, mug_order) == f"/orders/{mug_order.order_number}/"
    assert learn_link(client, two_courses) == "/courses/" and view_link(client, two_courses) is None
