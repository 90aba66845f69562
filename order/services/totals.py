"""Totals kept up to date where the change happens, so no page or scrape counts history.

- **Units sold and buyers per product** (``ProductSales``, with ``ProductBuyer`` rows telling
  whether a buyer is new to a product): added by ``product_sales_count_paid`` in the transaction
  whose conditional ``UPDATE … WHERE order_status = 0`` marked the order paid. Only the
  transaction that wins that UPDATE calls it, so each order is counted exactly once; a lost
  race rolls the whole transaction back, the count with it.
- **Orders cancelled, by timeout and by the user** (``OrderTally``): added by
  ``orders_cancel_and_restore`` with the number of rows its conditional flip changed.

Why maintained in the transaction rather than refreshed from a watermark: an order becomes
paid at ``now`` taken before its transaction commits, so a watermark on ``paid_time`` (or on
ids) would miss rows that commit late; and no other column records "counted". Keeping the
totals in the same transaction makes them exactly as true as the orders. The cost is one or
two short statements per product of a paid order; the rows they lock are per product, like
the stock rows that placing an order already locks.

No code path takes a paid order out of PAID today (money for an order that is no longer
payable is recorded as ``refund_required`` and never marks it paid); one that does must take
its units and buyer back here, in its own transaction.

``totals_rebuild`` fills the tables from the orders in chunks (the migration and the benchmark
data use it); ``totals_verify`` recounts everything and lists the differences
(``manage.py order_totals --verify``).
"""
from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Q, Sum

from order.models import Order, OrderItem, OrderStatus, OrderTally, ProductBuyer, ProductSales

CANCELLED_TALLIES = {OrderStatus.TIMEOUT_CANCELLED: "cancelled_timeout", OrderStatus.CANCELLED: "cancelled_user"}
REBUILD_CHUNK = 20_000


def _add_or_create(model, key: dict, amounts: dict) -> bool:
    """Add ``amounts`` to the row of ``key``, creating it when missing. True when it was created.

    Race-safe on MariaDB and SQLite: two transactions creating the same row meet on its unique
    key; the loser's INSERT fails (after the winner commits), and it adds to the winner's row.
    """
    increments = {name: F(name) + value for name, value in amounts.items()}
    if model.objects.filter(**key).update(**increments):
        return False
    try:
        with transaction.atomic():  # a savepoint: the failed INSERT must not abort the caller's transaction
            model.objects.create(**key, **amounts)
        return True
    except IntegrityError:
        model.objects.filter(**key).update(**increments)
        return False


def product_sales_count_paid(*, order_id: int, user_id: int) -> None:
    """Count a newly paid order in its products' units sold and buyers.

    Call in the transaction that marked it paid, after the conditional UPDATE said it did.
    Products in id order, so two payments lock the summary rows in the same order.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("product_sales_count_paid must run in the transaction that marked the order paid")
    units = (OrderItem.objects.filter(order_id=order_id).values_list("product_id")
             .annotate(units=Sum("quantity")).order_by("product_id"))
    for product_id, quantity in units:
        new_buyer = _add_or_create(ProductBuyer, {"product_id": product_id, "user_id": user_id},
                                   {"paid_orders": 1, "units": quantity})
        _add_or_create(ProductSales, {"product_id": product_id}, {"units_sold": quantity, "buyers": int(new_buyer)})


def orders_cancelled_count(*, status: int, orders: int) -> None:
    """Add ``orders`` just flipped to a cancelled ``status`` to its tally, in the flipping transaction."""
    if not orders:
        return
    # One statement, whether or not the row exists yet: an atomic upsert (same cost every chunk).
    table = connection.ops.quote_name(OrderTally._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} (name, value) VALUES (%s, %s)" + _upsert_suffix("name", ["value"]),
                       [CANCELLED_TALLIES[status], orders])


def orders_cancelled_totals() -> dict[int, int]:
    """Orders cancelled so far, by status (timeout, user): two rows, whatever the history."""
    values = dict(OrderTally.objects.filter(name__in=CANCELLED_TALLIES.values()).values_list("name", "value"))
    return {status: values.get(name, 0) for status, name in CANCELLED_TALLIES.items()}


# --- Filling and checking ------------------------------------------------------------------------


def _upsert_suffix(conflict: str, columns: list[str]) -> str:
    if connection.vendor == "mysql":
        return " ON DUPLICATE KEY UPDATE " + ", ".join(f"{c} = {c} + VALUES({c})" for c in columns)
    return f" ON CONFLICT ({conflict}) DO UPDATE SET " + ", ".join(f"{c} = {c} + excluded.{c}" for c in columns)


def totals_rebuild(*, models=None, chunk: int = REBUILD_CHUNK, say=None) -> None:
    """Recompute every total from the orders, ``chunk`` orders (by id) per transaction.

    Each chunk is one grouped ``INSERT … SELECT`` over a primary-key range of orders, committed on
    its own, so no order row is held for longer than one chunk. Run it while nothing pays or
    cancels orders (the migration, a maintenance window): a payment committed into a chunk
    already read would be missed, and ``--verify`` would say so.
    ``models`` maps names to (historical) model classes, for the migration.
    """
    m = models or {"Order": Order, "OrderItem": OrderItem, "ProductSales": ProductSales,
                   "ProductBuyer": ProductBuyer, "OrderTally": OrderTally}
    qn = connection.ops.quote_name
    orders, items = qn(m["Order"]._meta.db_table), qn(m["OrderItem"]._meta.db_table)
    buyers, sales, tallies = (qn(m[name]._meta.db_table) for name in ("ProductBuyer", "ProductSales", "OrderTally"))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {buyers}")
        cursor.execute(f"DELETE FROM {sales}")
        cursor.execute(f"DELETE FROM {tallies}")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT MIN(id), MAX(id) FROM {orders}")
        first, last = cursor.fetchone()
    tally_values = dict.fromkeys(CANCELLED_TALLIES.values(), 0)
    start = first or 1
    while last is not None and start <= last:
        end = start + chunk - 1
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {buyers} (product_id, user_id, paid_orders, units) "
                f"SELECT i.product_id, o.user_id, COUNT(DISTINCT o.id), SUM(i.quantity) "
                f"FROM {orders} AS o JOIN {items} AS i ON i.order_id = o.id "
                f"WHERE o.id BETWEEN %s AND %s AND o.order_status = %s GROUP BY i.product_id, o.user_id"
                + _upsert_suffix("product_id, user_id", ["paid_orders", "units"]),
                [start, end, int(OrderStatus.PAID)],
            )
            cursor.execute(
                f"SELECT order_status, COUNT(*) FROM {orders} WHERE id BETWEEN %s AND %s AND order_status IN (%s, %s) "
                f"GROUP BY order_status",
                [start, end, *map(int, CANCELLED_TALLIES)],
            )
            for status, n in cursor.fetchall():
                tally_values[CANCELLED_TALLIES[status]] += n
        if say:
            say(f"  orders {start:,}–{min(end, last):,} of {last:,}")
        start = end + 1
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {sales} (product_id, units_sold, buyers) "
            f"SELECT product_id, SUM(units), COUNT(*) FROM {buyers} GROUP BY product_id"
        )
        cursor.executemany(f"INSERT INTO {tallies} (name, value) VALUES (%s, %s)", list(tally_values.items()))


@dataclass(frozen=True)
class TotalsCheck:
    products: int
    differences: list[str]

    @property
    def ok(self) -> bool:
        return not self.differences


def totals_verify() -> TotalsCheck:
    """Recount everything from the orders (a full scan: an operator's check, never a page) and compare."""
    from basic.models import Product

    paid = Q(order_items__order__order_status=OrderStatus.PAID)
    recount = (Product.objects.annotate(units=Sum("order_items__quantity", filter=paid, default=0),
                                        people=Count("order_items__order__user", filter=paid, distinct=True))
               .values_list("id", "units", "people").order_by("id"))
    kept = {p: (u, b) for p, u, b in ProductSales.objects.values_list("product_id", "units_sold", "buyers")}
    differences, products = [], 0
    for product_id, units, people in recount:
        products += 1
        have = kept.pop(product_id, (0, 0))
        if have != (units, people):
            differences.append(f"product {product_id}: kept {have[0]} sold to {have[1]}, recount {units} sold to {people}")
    differences += [f"product {p}: kept a summary for a product that does not exist" for p in kept]
    counted = dict(Order.objects.filter(order_status__in=list(CANCELLED_TALLIES))
                   .values_list("order_status").annotate(n=Count("id")).order_by())
    for status, value in orders_cancelled_totals().items():
        if value != counted.get(status, 0):
            differences.append(f"{CANCELLED_TALLIES[status]}: kept {value}, recount {counted.get(status, 0)}")
    return TotalsCheck(products=products, differences=differences)
