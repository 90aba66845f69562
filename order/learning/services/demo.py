"""The courses' part of the demo data (`manage.py load_demo`, oms_test/demo.py): lessons, live classes,
and enrolments dated from their demo orders' back-dated payments. Idempotent."""
from __future__ import annotations

from datetime import timedelta

from django.db.models import OuterRef, Subquery

from order.learning.models import Enrollment, Lesson, LiveClass
from order.learning.services.live_classes import live_class_save
from order.models import Order

LESSONS = {
    "Python 入门课程": [("环境与第一个程序", "安装 Python，写下 print(\"你好\")。"), ("数据类型", "数字、字符串、列表与字典。"),
                    ("函数与模块", "def、import，以及如何组织代码。")],
    "Django 实战课程": [("项目与应用", "startproject、startapp 与 settings。"), ("模型与迁移", "字段、约束与 migrate。")],
    "数据库性能课程": [("索引", "EXPLAIN 读懂执行计划。"), ("事务与锁", "行锁、SKIP LOCKED 与死锁重试。")],
}


def demo_enrollments_backdate(*, users) -> int:
    """The demo pays its orders in the past: their enrolments date from those payments."""
    paid_time = Order.objects.filter(pk=OuterRef("order_id")).values("paid_time")[:1]
    return Enrollment.objects.filter(user__in=users).update(created_time=Subquery(paid_time))


def demo_courses_load(*, products, now) -> int:
    """Lessons for the demo courses, and a live class starting soon (its reminder is scheduled); new classes made."""
    for product in products:
        for position, (title, body) in enumerate(LESSONS.get(product.name, []), start=1):
            Lesson.objects.get_or_create(course=product, position=position, defaults={"title": title, "body": body})
    course = products[0]
    if LiveClass.objects.filter(course=course, start_time__gt=now).exists():
        return 0
    soon = (now + timedelta(minutes=40)).replace(second=0, microsecond=0)
    live_class_save(live_class=LiveClass(course=course, title="直播答疑：第一周作业", start_time=soon))
    live_class_save(live_class=LiveClass(course=course, title="直播：函数与模块精讲", start_time=soon + timedelta(days=7)))
    return 2
