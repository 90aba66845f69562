"""The points ledger names its order by id, without a foreign key to order.Order.

basic sits below order and no longer names order's models. The column (``order_id``), its rows
and the unique (order_id, reason) index stay; only the foreign key constraint is dropped (the
order app, which writes these rows, knows its order ids are real). Lookups by order use the
unique index, whose first column is ``order_id``.
"""
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("basic", "0004_cron_models_moved_to_cron_runtime"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                # From a foreign key to a plain column of the same name and type: drops the constraint.
                migrations.AlterField(
                    model_name="pointsentry",
                    name="order",
                    field=models.BigIntegerField(blank=True, null=True, db_column="order_id"),
                ),
            ],
            state_operations=[
                migrations.RemoveConstraint(model_name="pointsentry", name="points_once_per_order_and_reason"),
                migrations.RemoveField(model_name="pointsentry", name="order"),
                migrations.AddField(
                    model_name="pointsentry",
                    name="order_id",
                    field=models.BigIntegerField(blank=True, null=True),
                ),
                migrations.AddConstraint(
                    model_name="pointsentry",
                    constraint=models.UniqueConstraint(fields=("order_id", "reason"), name="points_once_per_order_and_reason"),
                ),
            ],
        ),
    ]
