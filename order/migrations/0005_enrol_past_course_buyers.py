"""Courses paid before enrolments existed: open them to their buyers, so 去学习 works for them too."""
from django.db import migrations


def enrol_past_buyers(apps, schema_editor):
    OrderItem = apps.get_model("order", "OrderItem")
    Enrollment = apps.get_model("order", "Enrollment")
    first_order = {}
    paid_course_items = (
        OrderItem.objects.filter(order__order_status=1, product__is_course=True)
        .order_by("order__paid_time", "order_id")
        .values_list("order__user_id", "product_id", "order_id", "order__paid_time")
    )
    for user_id, course_id, order_id, paid_time in paid_course_items.iterator(chunk_size=2000):
        first_order.setdefault((user_id, course_id), (order_id, paid_time))
    Enrollment.objects.bulk_create(
        [
            Enrollment(user_id=user_id, course_id=course_id, order_id=order_id, created_time=paid_time)
            for (user_id, course_id), (order_id, paid_time) in first_order.items()
        ],
        batch_size=1000,
        ignore_conflicts=True,
    )


class Migration(migrations.Migration):
    dependencies = [("order", "0004_learning")]

    operations = [migrations.RunPython(enrol_past_buyers, migrations.RunPython.noop)]
