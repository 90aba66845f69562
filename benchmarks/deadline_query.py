"""What the indexed deadline query on orders costs at 1,000,000 orders (MariaDB): EXPLAIN and timings.

Some shops keep the numbers of unpaid orders in a Redis sorted set scored by deadline and poll it
(ZRANGEBYSCORE 0 now). Here the orders table answers that question itself through the index
``order_status_created`` (order_status, created_time): the timeout job's "unpaid and created at or before
now - ORDER_TIMEOUT" is a range scan of that index. This prints what the optimiser does with it and how
long it takes, with a full scan of the table beside it (what the query would cost without the index):

    .venv/bin/python benchmarks/deadline_query.py [--database-url mysql://root@127.0.0.1:3306/oms_bench]

Data: benchmarks/bench_data.py (1,000,000 orders, 100,000 of them expired and unpaid, 1 % fresh
unpaid), generated once and reused (--reuse) by later runs of the same size.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL",
                                                                 "mysql://root@127.0.0.1:3306/oms_bench"),
                        help="MariaDB/MySQL database to create and use")
    parser.add_argument("--orders", type=int, default=1_000_000, help="orders in the table (default 1,000,000)")
    parser.add_argument("--expired", type=int, default=100_000, help="expired unpaid orders among them")
    parser.add_argument("--redis-url", default=f"redis://127.0.0.1:6379/{os.environ.get('BENCH_REDIS_DB', '12')}",
                        help="Redis for the sorted-set comparison (one key of its own, deleted afterwards)")
    parser.add_argument("--repeat", type=int, default=21, help="timed runs of each query (median printed)")
    return parser.parse_args(argv)


def timed(cursor, sql: str, params, repeat: int) -> tuple[float, int]:
    samples, rows = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        cursor.execute(sql, params)
        rows = len(cursor.fetchall())
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), rows


def redis_sorted_set(args, cursor, table: str, params) -> None:
    """The alternative beside ours: the unpaid orders' deadlines in a Redis sorted set, polled with
    ZRANGEBYSCORE (a second copy of the truth, to keep in step with every payment and cancellation)."""
    import redis

    client = redis.Redis.from_url(args.redis_url)
    key = f"oms-bench:unpaid-deadlines:{os.getpid()}"
    cursor.execute(f"SELECT id, UNIX_TIMESTAMP(created_time) FROM `{table}` WHERE order_status = 0")
    unpaid = cursor.fetchall()
    try:
        for start in range(0, len(unpaid), 10_000):
            client.zadd(key, {str(pk): float(ts) for pk, ts in unpaid[start:start + 10_000]})
        cursor.execute("SELECT UNIX_TIMESTAMP(%s), UNIX_TIMESTAMP(%s)", params[1:])
        low, high = cursor.fetchone()
        samples = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            due = client.zrangebyscore(key, f"({low}", float(high))
            samples.append((time.perf_counter() - started) * 1000)
        memory = client.memory_usage(key) or 0
        print(f"ceiling, a Redis sorted set of the {len(unpaid):,} unpaid orders: ZRANGEBYSCORE for the same minute "
              f"{len(due):,} members, median {statistics.median(samples):.2f} ms; {memory / 1024 / 1024:.1f} MB")
    finally:
        client.delete(key)


def main(argv=None) -> int:
    args = parse_args(argv)
    from benchmarks.jobs_bench import setup_django

    setup_django(args.database_url)
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from benchmarks import bench_data
    from order.models import Order, expired_cutoff

    call_command("migrate", verbosity=0)
    now = datetime.now(UTC)
    this_month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    layout = bench_data.Layout(orders=args.orders, expired=args.expired, fresh=max(args.orders // 100, 1),
                               users=args.orders, products=200, finance_orders=int(args.orders * 0.3), now=now,
                               timeout=settings.ORDER_TIMEOUT, last_month_start=last_month, this_month_start=this_month)
    tables = bench_data.django_tables()
    with connection.cursor() as cursor:
        if Order.objects.count() != args.orders:
            started = time.perf_counter()
            bench_data.generate(cursor, layout, tables, say=print)
            print(f"generated {args.orders:,} orders in {time.perf_counter() - started:.0f} s")
        band_start = Order.objects.filter(pk=1).values_list("created_time", flat=True).first()
        now = band_start + timedelta(seconds=layout.timeout + 60 + layout.expired)  # the data's own "now"
        cursor.execute(f"ANALYZE TABLE `{tables['order']}`")
        cursor.fetchall()
        table = tables["order"]
        deadline_sql = (f"SELECT id FROM `{table}` WHERE order_status = %s AND created_time <= %s "
                        "ORDER BY created_time LIMIT 2000")
        # The every-minute poll: what fell due in one minute (the data has one order a second in its band).
        minute_sql = (f"SELECT id FROM `{table}` WHERE order_status = %s AND created_time > %s AND created_time <= %s")
        cutoff = connection.ops.adapt_datetimefield_value(expired_cutoff(now))
        minute_end = connection.ops.adapt_datetimefield_value(expired_cutoff(now - timedelta(minutes=1)))
        minute_start = connection.ops.adapt_datetimefield_value(expired_cutoff(now - timedelta(minutes=2)))
        print(f"\n{Order.objects.count():,} orders; index order_status_created (order_status, created_time)\n")
        for title, sql, params in [("deadline query of the job (a chunk of 2,000 of the backlog)", deadline_sql,
                                    [0, cutoff]),
                                   ("every-minute poll: the orders that fell due in one minute", minute_sql,
                                    [0, minute_start, minute_end])]:
            cursor.execute("EXPLAIN " + sql, params)
            columns = [c[0] for c in cursor.description]
            explain = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
            ms, rows = timed(cursor, sql, params, args.repeat)
            full_ms, _ = timed(cursor, sql.replace(f"FROM `{table}`", f"FROM `{table}` IGNORE INDEX "
                                                   "(order_status_created, order_created)"), params, 3)
            print(f"{title}: {rows:,} rows, median {ms:.2f} ms; without the index (full scan) {full_ms:.0f} ms")
            for row in explain:
                print(f"  EXPLAIN: type={row['type']} key={row['key']} key_len={row['key_len']} rows={row['rows']} "
                      f"Extra={row['Extra']}")
        redis_sorted_set(args, cursor, table, params=[0, minute_start, minute_end])
        cursor.execute("SELECT stat_value * @@innodb_page_size FROM mysql.innodb_index_stats WHERE database_name = "
                       "DATABASE() AND table_name = %s AND index_name = 'order_status_created' AND stat_name = 'size'",
                       [table])
        size = cursor.fetchone()
        if size:
            print(f"index order_status_created: {size[0] / 1024 / 1024:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
