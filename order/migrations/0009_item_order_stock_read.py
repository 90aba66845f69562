"""The items' covering index for the cancellation's stock read (order/services/cancellation.py).

On MySQL/MariaDB it leads with ``order_id``, so InnoDB lets it carry the order foreign key and
drops that key's implicit single-column index by itself: the table keeps one index on the order.
"""
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("order", "0008_learning_moved_to_its_own_app"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="orderitem",
            index=models.Index(fields=["order", "stock_reserved", "product", "quantity"], name="item_order_stock_read"),
        ),
    ]
