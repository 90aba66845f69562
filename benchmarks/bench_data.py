"""Fast, deterministic benchmark data for the jobs benchmark (MariaDB only).

Generated inside the server with ``INSERT … SELECT`` over MariaDB's ``seq_1_to_N`` tables, with
fixed id ranges so that the benchmark can reset state with set-based SQL. The layout (users,
products, the expired band, history, items, coupons, points): docs/jobs.md ("The benchmark's data").
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

STOCK = 10_000_000
POINTS = 1_000_000
CHUNK = 200_000


@dataclass(frozen=True)
class Layout:
    orders: int
    expired: int
    fresh: int
    users: int
    products: int
    finance_orders: int
    now: datetime  # aware, UTC
    timeout: int  # ORDER_TIMEOUT seconds
    last_month_start: datetime  # aware, 1st 00:00 in TIME_ZONE
    this_month_start: datetime

    @property
    def band_start(self) -> datetime:
        """created_time of order 1; order k is created k-1 seconds later."""
        return self.now - timedelta(seconds=self.timeout + 60 + self.expired)

    def now_expiring_first(self, k: int) -> datetime:
        """A 'now' at which exactly orders 1..k of the band are past their deadline."""
        return self.band_start + timedelta(seconds=k - 1 + self.timeout)


def django_tables() -> dict[str, str]:
    """The table names ``generate`` fills, read from the models (Django must be set up)."""
    from django.contrib.auth import get_user_model

    from basic.models import BirthdayGreeting, Coupon, PointsEntry, Product, Profile
    from order.models import FinanceRecord, Order, OrderItem

    return {
        "user": get_user_model()._meta.db_table, "profile": Profile._meta.db_table,
        "product": Product._meta.db_table, "coupon": Coupon._meta.db_table,
        "points": PointsEntry._meta.db_table, "order": Order._meta.db_table,
        "item": OrderItem._meta.db_table, "greeting": BirthdayGreeting._meta.db_table,
        "finance": FinanceRecord._meta.db_table,
    }


def _ts(moment: datetime) -> str:
    """A literal for a DATETIME column: Django stores UTC there (USE_TZ = True)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _chunks(first: int, last: int, size: int = CHUNK):
    start = first
    while start <= last:
        yield start, min(last, start + size - 1)
        start += size


def _seq(n: int) -> str:
    return f"seq_1_to_{max(n, 1)}"


def generate(cursor, layout: Layout, tables: dict[str, str], say=print) -> None:
    """Empty the tables and load the layout. ``cursor`` is a DB-API cursor on the benchmark DB (UTC session)."""
    t = tables
    L = layout
    cursor.execute("SET SESSION foreign_key_checks = 0")
    cursor.execute("SET SESSION unique_checks = 0")
    for name in ("points", "item", "order", "coupon", "profile", "user", "product", "greeting", "finance"):
        cursor.execute(f"TRUNCATE TABLE `{t[name]}`")

    now = _ts(L.now)
    say(f"  users and profiles: {L.users:,}")
    for a, b in _chunks(1, L.users):
        cursor.execute(
            f"""INSERT INTO `{t['user']}` (id, password, last_login, is_superuser, username, first_name, last_name,
                                           email, is_staff, is_active, date_joined)
                SELECT seq, '!', NULL, 0, CONCAT('bench', seq), '', '', CONCAT('bench', seq, '@example.com'), 0, 1, '{now}'
                FROM {_seq(L.users)} WHERE seq BETWEEN {a} AND {b}""",
        )
        cursor.execute(
            f"""INSERT INTO `{t['profile']}` (id, user_id, mobile, birthday, birthday_mmdd, points)
                SELECT seq, seq, '', d, MONTH(d) * 100 + DAYOFMONTH(d), {POINTS}
                FROM (SELECT seq, DATE_ADD('1970-01-01', INTERVAL (seq * 7919) % 14610 DAY) AS d
                      FROM {_seq(L.users)} WHERE seq BETWEEN {a} AND {b}) AS s""",
        )

    say(f"  products: {L.products:,}")
    cursor.execute(
        f"""INSERT INTO `{t['product']}` (id, name, price, stock, is_course, description, created_time)
            SELECT seq, CONCAT('product ', seq), 100.00, IF(seq % 5 = 0, NULL, {STOCK}), seq % 5 = 0, '', '{now}'
            FROM {_seq(L.products)}""",
    )

    say(f"  orders: {L.orders:,} ({L.expired:,} expired unpaid, {L.fresh:,} unpaid in their window, "
        f"{L.finance_orders:,} last month)")
    band_start, fresh_start = _ts(L.band_start), _ts(L.now - timedelta(seconds=min(L.timeout, 1800)))
    history_first = L.expired + L.fresh + 1
    last_month = _ts(L.last_month_start)
    last_month_seconds = int((L.this_month_start - L.last_month_start).total_seconds()) - 1
    older_start = _ts(L.last_month_start - timedelta(days=150))
    # Status of the history by h (0-based position in the history): 70 % paid, 15 % cancelled, 15 % timed out.
    status = f"CASE WHEN seq <= {L.expired + L.fresh} THEN 0 WHEN (seq - {history_first}) % 20 < 14 THEN 1 " \
             f"WHEN (seq - {history_first}) % 20 < 17 THEN 2 ELSE 3 END"
    created = (
        f"CASE WHEN seq <= {L.expired} THEN TIMESTAMPADD(SECOND, seq - 1, '{band_start}') "
        f"WHEN seq <= {L.expired + L.fresh} THEN TIMESTAMPADD(SECOND, (seq - {L.expired}) % 1700, '{fresh_start}') "
        f"WHEN seq - {history_first} < {L.finance_orders} THEN TIMESTAMPADD(SECOND, "
        f"(seq - {history_first}) * {last_month_seconds} DIV {max(L.finance_orders, 1)}, '{last_month}') "
        f"ELSE TIMESTAMPADD(SECOND, (seq * 7919) % (150 * 86400), '{older_start}') END"
    )
    for a, b in _chunks(1, L.orders):
        cursor.execute(
            f"""INSERT INTO `{t['order']}` (id, order_number, user_id, total, coupon_id, coupon_discount, points_used,
                                            pay_amount, order_status, created_time, paid_time, cancelled_time)
                SELECT seq, CONCAT('B', LPAD(seq, 14, '0')), 1 + (seq * 7919) % {L.users}, k * 100.00,
                       IF(seq % 5 = 0, seq, NULL), IF(seq % 5 = 0, 10.00, 0), pts,
                       k * 100.00 - IF(seq % 5 = 0, 10.00, 0) - pts / 100, st, ct,
                       IF(st = 1, TIMESTAMPADD(MINUTE, 5, ct), NULL),
                       IF(st IN (2, 3), TIMESTAMPADD(MINUTE, 30, ct), NULL)
                FROM (SELECT seq, 1 + seq % 3 AS k, IF(seq % 10 IN (1, 2, 3), 100 * (1 + seq % 5), 0) AS pts,
                             {status} AS st, {created} AS ct
                      FROM {_seq(L.orders)} WHERE seq BETWEEN {a} AND {b}) AS s""",
        )

    say("  order items (1–3 per order)")
    for a, b in _chunks(1, L.orders):
        cursor.execute(
            f"""INSERT INTO `{t['item']}` (order_id, product_id, quantity, unit_price, stock_reserved)
                SELECT order_id, product_id, quantity, 100.00, product_id % 5 <> 0  -- same rule as products' stock
                FROM (SELECT o.seq AS order_id, 1 + (o.seq * 31 + i.seq * 17) % {L.products} AS product_id,
                             1 + (o.seq + i.seq) % 2 AS quantity
                      FROM {_seq(L.orders)} AS o JOIN seq_1_to_3 AS i ON i.seq <= 1 + o.seq % 3
                      WHERE o.seq BETWEEN {a} AND {b}) AS items""",
        )

    say("  coupons (every 5th order) and points deductions (30 % of orders)")
    valid, expired = _ts(L.now + timedelta(days=30)), _ts(L.now - timedelta(days=1))
    cursor.execute(
        f"""INSERT INTO `{t['coupon']}` (id, user_id, amount, status, valid_until, created_time)
            SELECT id, user_id, 10.00, IF(order_status IN (0, 1), 'used', 'unused'),
                   IF(id % 25 = 0, '{expired}', '{valid}'), created_time
            FROM `{t['order']}` WHERE coupon_id IS NOT NULL"""
    )
    cursor.execute(
        f"""INSERT INTO `{t['points']}` (user_id, delta, reason, order_id, created_time)
            SELECT user_id, -points_used, 'order_deduct', id, created_time FROM `{t['order']}` WHERE points_used > 0"""
    )
    cursor.execute("SET SESSION foreign_key_checks = 1")
    cursor.execute("SET SESSION unique_checks = 1")
    for name in ("user", "profile", "product", "order", "item", "coupon", "points"):
        cursor.execute(f"ANALYZE TABLE `{t[name]}`")
        cursor.fetchall()


def reset_band(cursor, layout: Layout, tables: dict[str, str]) -> None:
    """Undo any cancellation of the expired band, set-based: the state right after generate()."""
    t = tables
    cursor.execute(
        f"UPDATE `{t['order']}` SET order_status = 0, cancelled_time = NULL "
        f"WHERE id BETWEEN 1 AND %s AND order_status <> 0",
        [layout.expired],
    )
    cursor.execute(f"UPDATE `{t['product']}` SET stock = {STOCK} WHERE stock IS NOT NULL AND stock <> {STOCK}")
    cursor.execute(
        f"UPDATE `{t['coupon']}` SET status = 'used' WHERE id BETWEEN 1 AND %s AND status <> 'used'", [layout.expired]
    )
    cursor.execute(
        f"""UPDATE `{t['profile']}` AS p JOIN (SELECT user_id, SUM(delta) AS s FROM `{t['points']}`
                                            WHERE reason = 'order_refund' GROUP BY user_id) AS r
            ON p.user_id = r.user_id SET p.points = p.points - r.s"""
    )
    cursor.execute(f"DELETE FROM `{t['points']}` WHERE reason = 'order_refund'")


def verify_band(cursor, layout: Layout, tables: dict[str, str], k: int) -> str:
    """Check, set-based, that orders 1..k were cancelled and restored exactly once; '' when all is right."""
    t = tables
    problems = []

    def one(sql, params=()):
        cursor.execute(sql, params)
        return cursor.fetchone()[0]

    if one(f"SELECT COUNT(*) FROM `{t['order']}` WHERE id BETWEEN 1 AND %s AND order_status = 3", [k]) != k:
        problems.append("not every expired order is cancelled")
    if one(f"SELECT COUNT(*) FROM `{t['order']}` WHERE id > %s AND id <= %s AND order_status <> 0", [k, layout.expired]):
        problems.append("orders not yet expired were cancelled")
    expected_units = one(
        f"""SELECT COALESCE(SUM(i.quantity), 0) FROM `{t['item']}` i JOIN `{t['product']}` p ON p.id = i.product_id
            WHERE i.order_id BETWEEN 1 AND %s AND p.stock IS NOT NULL""",
        [k],
    )
    returned_units = one(f"SELECT COALESCE(SUM(stock - {STOCK}), 0) FROM `{t['product']}` WHERE stock IS NOT NULL")
    if expected_units != returned_units:
        problems.append(f"stock returned {returned_units}, expected {expected_units}")
    if one(f"SELECT COUNT(*) FROM `{t['coupon']}` WHERE id BETWEEN 1 AND %s AND status = 'used'", [k]):
        problems.append("coupons still marked used")
    expected_points = one(f"SELECT COALESCE(SUM(points_used), 0) FROM `{t['order']}` WHERE id BETWEEN 1 AND %s", [k])
    refunded = one(f"SELECT COALESCE(SUM(delta), 0) FROM `{t['points']}` WHERE reason = 'order_refund'")
    balance_gain = one(f"SELECT COALESCE(SUM(points - {POINTS}), 0) FROM `{t['profile']}`")
    if not (expected_points == refunded == balance_gain):
        problems.append(f"points refunded {refunded}, balances {balance_gain}, expected {expected_points}")
    return "; ".join(problems)
