"""Lesson, LiveClass, Enrollment and LiveClassReminder now belong to the learning app (order.learning).

State only: the tables stay (learning's models use them under the same names).
"""
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("order", "0007_maintained_totals"),
        ("learning", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.DeleteModel(name="LiveClassReminder"),
                migrations.DeleteModel(name="Enrollment"),
                migrations.DeleteModel(name="LiveClass"),
                migrations.DeleteModel(name="Lesson"),
            ],
        ),
    ]
