#!/usr/bin/env python
"""Pages and the home page's refresh as the data grows — one command, two tables.

    .venv/bin/python benchmarks/pages_bench.py            # demo data vs a year of data; home refresh at 100k vs 3M orders
    .venv/bin/python benchmarks/pages_bench.py --quick    # a small smoke run (about a minute)

**Pages.** The demo data (``load_demo``), then the same database with a year of data added: 1,000,000
orders over the demo products (a customer, alice, with 200 of them), 30 days of run records for every
job, every minute (259,200 runs: succeeded, a tenth skipped, a few failed), 100,000 finished timed tasks
of the last 30 days (the retention) and 1,000 pending ones. Each page is requested through Django's
test client in this process (view, SQL and template; no network), 5 times to warm up and then ``--requests``
times; p50 and p95 of each, the queries of one request, and p95 growth (target ≤ 2×).

**Home refresh.** ``refresh_home_cache``'s build at two sizes of the jobs benchmark's data (100,000 and
3,000,000 orders; same products), ours (products + the maintained summary) beside the query it
replaced (a join over every paid order's items, cut off after ``--naive-limit`` seconds), and the
summary's fill (the migration's chunked backfill). Target: ours at the large size within 1.5× of the small.

MariaDB only (its sequence tables make the data). Databases: BENCH_PAGES_DATABASE_URL (default
mysql://root@127.0.0.1:3306/oms_pages_bench; the demo-only copy is <name>_demo) and
BENCH_HOME_DATABASE_URL (default …/oms_home_bench; one database <name>_<orders> per size), created,
emptied and filled by this script. Results go to benchmarks/RESULTS.md (its own section).
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from benchmarks.bench_db import ensure_mysql_database  # noqa: E402
from benchmarks.jobs_bench import setup_django  # noqa: E402
from benchmarks.results_section import markers, write_section  # noqa: E402

SECTION = "pages_bench"
GROWTH_TARGET = 2.0
HOME_TARGET = 1.5
PAGES = [
    ("staff dashboard", "/staff/", "admin"),
    ("job page (cancel_timeouts)", "/staff/cron/cancel_timeouts/", "admin"),
    ("一次性任务 (timed tasks)", "/staff/timed-tasks/", "admin"),
    ("finance", "/staff/finance/", "admin"),
    ("/metrics", "/metrics", None),
    ("/healthz/cron", "/healthz/cron", None),
    ("a customer's /orders/", "/orders/", "alice"),
    ("/ (from the cache)", "/", None),
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Pages and the home refresh as the data grows (MariaDB).")
    parser.add_argument("--orders", type=int, default=1_000_000, help="orders in the year of data (default 1,000,000)")
    parser.add_argument("--run-days", type=int, default=30, help="days of per-minute run records per job (default 30)")
    parser.add_argument("--tasks", type=int, default=100_000, help="finished timed tasks (default 100,000)")
    parser.add_argument("--home-sizes", default="100000,3000000", help="orders for the home refresh (default 100000,3000000)")
    parser.add_argument("--naive-limit", type=int, default=60, help="seconds the replaced query may run (default 60)")
    parser.add_argument("--requests", type=int, default=40, help="timed requests per page (default 40)")
    parser.add_argument("--skip-home", action="store_true", help="only the pages")
    parser.add_argument("--skip-pages", action="store_true", help="only the home refresh")
    parser.add_argument("--quick", action="store_true", help="smoke run: 50,000 orders, 2 days of runs, 5,000 tasks")
    parser.add_argument("--database-url", default=os.environ.get(
        "BENCH_PAGES_DATABASE_URL", "mysql://root@127.0.0.1:3306/oms_pages_bench"))
    parser.add_argument("--home-database-url", default=os.environ.get(
        "BENCH_HOME_DATABASE_URL", "mysql://root@127.0.0.1:3306/oms_home_bench"))
    parser.add_argument("--results", default=str(PROJECT / "benchmarks" / "RESULTS.md"))
    args = parser.parse_args(argv)
    if args.quick:
        args.orders, args.run_days, args.tasks, args.home_sizes, args.requests = 50_000, 2, 5_000, "10000,100000", 15
    args.home_sizes = [int(n) for n in args.home_sizes.split(",")]
    return args


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# --- a year of data, added to the demo -------------------------------------------------------------


def add_a_year(cursor, *, orders: int, run_days: int, tasks: int, say=print) -> None:
    """Set-based inserts over MariaDB's seq tables; ids after the demo's own."""
    from django.contrib.auth import get_user_model

    from basic.cron_runtime.models import JobRun, TimedTask
    from basic.cron_runtime.scheduling.registry import all_jobs
    from order.models import Order, OrderItem

    user_t, order_t, item_t = get_user_model()._meta.db_table, Order._meta.db_table, OrderItem._meta.db_table
    run_t, task_t = JobRun._meta.db_table, TimedTask._meta.db_table
    cursor.execute(f"SELECT id FROM `{user_t}` WHERE username = 'alice'")
    alice = cursor.fetchone()[0]
    cursor.execute("SELECT id FROM basic_product ORDER BY id")
    products = [row[0] for row in cursor.fetchall()]
    users = 20_000
    cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1000 FROM `{user_t}`")
    first_user = cursor.fetchone()[0]
    cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1000 FROM `{order_t}`")
    first_order = cursor.fetchone()[0]
    cursor.execute("SET SESSION foreign_key_checks = 0")
    say(f"  {users:,} customers")
    cursor.execute(
        f"""INSERT INTO `{user_t}` (id, password, is_superuser, username, first_name, last_name, email, is_staff,
                                   is_active, date_joined)
            SELECT {first_user} + seq, '!', 0, CONCAT('year', seq), '', '', '', 0, 1, NOW() FROM seq_1_to_{users}""")
    say(f"  {orders:,} orders over the last year (70 % paid, 15 % cancelled, 15 % timed out), 1–3 items each")
    chunk = 200_000
    for a in range(1, orders + 1, chunk):
        b = min(orders, a + chunk - 1)
        cursor.execute(
            f"""INSERT INTO `{order_t}` (id, order_number, user_id, total, coupon_id, coupon_discount, points_used,
                                         pay_amount, order_status, created_time, paid_time, cancelled_time)
                SELECT {first_order} + seq, CONCAT('Y', LPAD(seq, 14, '0')),
                       IF(seq % 5000 = 0, {alice}, {first_user} + 1 + seq % {users}), 100.00, NULL, 0, 0, 100.00, st, ct,
                       IF(st = 1, TIMESTAMPADD(MINUTE, 5, ct), NULL), IF(st IN (2, 3), TIMESTAMPADD(MINUTE, 30, ct), NULL)
                FROM (SELECT seq, CASE WHEN seq % 20 < 14 THEN 1 WHEN seq % 20 < 17 THEN 2 ELSE 3 END AS st,
                             TIMESTAMPADD(SECOND, -(3 * 3600 + (seq * 7919) % (365 * 86400)), UTC_TIMESTAMP()) AS ct
                      FROM seq_1_to_{orders} WHERE seq BETWEEN {a} AND {b}) AS s""")
        cursor.execute(
            f"""INSERT INTO `{item_t}` (order_id, product_id, quantity, unit_price, stock_reserved)
                SELECT {first_order} + o.seq, ELT(1 + (o.seq * 31 + i.seq * 17) % {len(products)}, {','.join(map(str, products))}),
                       1 + (o.seq + i.seq) % 2, 100.00, 0
                FROM seq_1_to_{orders} AS o JOIN seq_1_to_3 AS i ON i.seq <= 1 + o.seq % 3
                WHERE o.seq BETWEEN {a} AND {b}""")
    jobs = [job.name for job in all_jobs()]
    minutes = run_days * 24 * 60
    say(f"  {len(jobs) * minutes:,} run records: {run_days} days, every minute, of each of {len(jobs)} jobs")
    for job in jobs:
        assert job.replace("_", "").isalnum(), job  # a registry name, written as a literal
        cursor.execute(
            f"""INSERT INTO `{run_t}` (job, `trigger`, host, pid, started_at, finished_at, outcome, items_processed,
                                       message, traceback, slot)
                SELECT '{job}', 'cron', 'web-1', 4242, t, TIMESTAMPADD(SECOND, 1, t),
                       CASE WHEN seq % 10 = 0 THEN 'skipped' WHEN seq % 97 = 0 THEN 'failed' ELSE 'succeeded' END,
                       seq % 50, '', '', IF(seq % 10 = 0, NULL, TIMESTAMPADD(SECOND, -SECOND(t), t))
                FROM (SELECT seq, TIMESTAMPADD(SECOND, 5, TIMESTAMPADD(MINUTE, -seq - 1,
                          TIMESTAMPADD(SECOND, -SECOND(UTC_TIMESTAMP()), UTC_TIMESTAMP()))) AS t
                      FROM seq_1_to_{minutes}) AS s""")
    say(f"  {tasks:,} finished timed tasks of the last 30 days and 1,000 pending")
    cursor.execute(
        f"""INSERT INTO `{task_t}` (func_path, name, args, kwargs, `key`, run_at, status, attempts, max_attempts,
                                    next_attempt_at, late_window, claimed_by, lease_until, executed_time, finish_time,
                                    host, last_error, created_time, updated_time)
            SELECT 'order.timed.unpaid_order_reminder', CONCAT('reminder ', seq), '[]', '{{}}', NULL, t, st, 1, 3, t,
                   NULL, NULL, NULL, IF(st = 0, NULL, t), IF(st = 0, NULL, TIMESTAMPADD(SECOND, 1, t)), 'web-1',
                   IF(st = 2, 'boom', ''), t, t
            FROM (SELECT seq, IF(seq <= {tasks}, TIMESTAMPADD(SECOND, -(seq * 7919) % (29 * 86400) - 60, UTC_TIMESTAMP()),
                                 TIMESTAMPADD(MINUTE, seq - {tasks}, UTC_TIMESTAMP())) AS t,
                         CASE WHEN seq > {tasks} THEN 0 WHEN seq % 100 < 3 THEN 2 WHEN seq % 100 < 8 THEN 3
                              WHEN seq % 100 < 10 THEN 4 ELSE 1 END AS st
                  FROM seq_1_to_{tasks + 1000}) AS s""")
    cursor.execute("SET SESSION foreign_key_checks = 1")
    for table in (user_t, order_t, item_t, run_t, task_t):
        cursor.execute(f"ANALYZE TABLE `{table}`")
        cursor.fetchall()


# --- measuring ---------------------------------------------------------------------------------------


def use(database: str) -> None:
    """Point the open connection at another database of the same server (same tables, other rows)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"USE `{database}`")


def measure_pages(databases: list[str], requests: int) -> dict[str, dict[str, tuple[float, float, int]]]:
    """Every page on every database, interleaved request by request (machine noise hits each alike).

    Django's test client keeps the connection open between requests, so ``USE`` switches it."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from order.services.home import home_page_refresh

    clients = {}
    for database in databases:
        use(database)
        home_page_refresh()
        clients[database] = {None: Client(HTTP_HOST="127.0.0.1")}
        for name in ("admin", "alice"):  # each database keeps its own sessions
            clients[database][name] = Client(HTTP_HOST="127.0.0.1")
            clients[database][name].force_login(get_user_model().objects.get(username=name))
    figures: dict[str, dict[str, tuple[float, float, int]]] = {database: {} for database in databases}
    for label, url, who in PAGES:
        timings: dict[str, list[float]] = {database: [] for database in databases}
        counts = {}
        for database in databases:
            use(database)
            for _ in range(5):
                status = clients[database][who].get(url).status_code
                assert status in (200, 503), f"{url} answered {status}"
            queries = []
            with connection.execute_wrapper(lambda execute, sql, *rest: queries.append(sql) or execute(sql, *rest)):
                clients[database][who].get(url)
            counts[database] = len(queries)
        for _ in range(requests):
            for database in databases:
                use(database)
                started = time.perf_counter()
                clients[database][who].get(url)
                timings[database].append((time.perf_counter() - started) * 1000)
        for database in databases:
            figures[database][label] = (statistics.median(timings[database]), percentile(timings[database], 95),
                                        counts[database])
        print(f"    {label}: " + "; ".join(f"p50 {figures[d][label][0]:.1f} ms, p95 {figures[d][label][1]:.1f} ms, "
                                          f"{counts[d]} queries" for d in databases))
    return figures


def time_refresh(databases: list[str], times: int = 20) -> dict[str, float]:
    """Median of ``times`` builds on each database, interleaved."""
    from order.services.home import home_page_refresh

    timings: dict[str, list[float]] = {database: [] for database in databases}
    for _ in range(times):
        for database in databases:
            use(database)
            started = time.perf_counter()
            home_page_refresh()
            timings[database].append(time.perf_counter() - started)
    return {database: statistics.median(values) for database, values in timings.items()}


def time_naive_refresh(limit: int) -> str:
    """The build as it was: every product joined to every paid order's items, cut off after ``limit`` s."""
    from django.db import OperationalError, connection
    from django.db.models import Count, Q, Sum

    from basic.models import Product

    from order.models import OrderStatus

    paid = Q(order_items__order__order_status=OrderStatus.PAID)
    query = Product.objects.annotate(sold=Sum("order_items__quantity", filter=paid, default=0),
                                     buyers=Count("order_items__order__user", filter=paid, distinct=True)).order_by("id")
    sql, params = query.values_list("id", "sold", "buyers").query.sql_with_params()
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"SET STATEMENT max_statement_time = {limit} FOR {sql}", params)
            cursor.fetchall()
    except OperationalError:
        return f"> {limit} s (stopped)"
    return f"{time.perf_counter() - started:.2f} s"


# --- the two parts ----------------------------------------------------------------------------------


def pages_part(args, notes: list[str]) -> list[str]:
    from django.core.management import call_command
    from django.db import connection

    from basic.cron_runtime.observability.run_totals import fold_finished_runs
    from order.services.totals import totals_rebuild

    demo_db, year_db = args.database_name + "_demo", args.database_name
    for database in (demo_db, year_db):
        switch_database(args.database_url, database)
        call_command("flush", interactive=False, verbosity=0)
        call_command("load_demo", verbosity=0)
    print("  adding a year of data …")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        add_a_year(cursor, orders=args.orders, run_days=args.run_days, tasks=args.tasks)
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    totals_rebuild()  # what the migration does for data that existed before the summary
    filled = time.perf_counter() - started
    fold_finished_runs()  # the heartbeat's steady state: finished runs already in /metrics' tallies
    settle()
    notes.append(f"a year of data: loaded in {loaded:.0f} s; the sales summary filled (chunked, as the migration "
                 f"does) in {filled:.0f} s")
    print("  measuring, demo and a year interleaved …")
    figures = measure_pages([demo_db, year_db], args.requests)
    refresh = time_refresh([demo_db, year_db])
    demo, year = figures[demo_db], figures[year_db]
    rows = []
    for label, _url, _who in PAGES:
        d, y = demo[label], year[label]
        growth = y[1] / d[1]
        rows.append((label, d, y, growth, growth <= GROWTH_TARGET))
    return [
        f"Demo data (`load_demo`) vs the same plus a year of data ({args.orders:,} orders, {args.run_days} days of "
        f"per-minute runs of every job, {args.tasks:,} finished timed tasks), in two databases; every page requested "
        f"{args.requests} times on each after 5 warm-ups, the two interleaved request by request, in-process "
        f"(Django's test client: view, SQL, template).",
        "",
        "| page | demo p50 / p95 | a year p50 / p95 | queries (demo / year) | p95 growth | ≤ 2× |",
        "|---|---|---|---|---|---|",
        *(f"| {label} | {d[0]:.1f} / {d[1]:.1f} ms | {y[0]:.1f} / {y[1]:.1f} ms | {d[2]} / {y[2]} | {g:.2f}× | "
          f"{'yes' if ok else '**NO**'} |" for label, d, y, g, ok in rows),
        f"| refresh_home_cache's build (median of 20) | {refresh[demo_db] * 1000:.1f} ms | "
        f"{refresh[year_db] * 1000:.1f} ms | | {refresh[year_db] / refresh[demo_db]:.2f}× | |",
    ]


def settle(timeout: float = 120) -> None:
    """Wait for InnoDB to purge the undo of the big inserts: a background load of its own."""
    from django.db import connection

    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SHOW GLOBAL STATUS LIKE 'Innodb_history_list_length'")
            row = cursor.fetchone()
            if row is None or int(row[1]) < 1000:
                return
            time.sleep(0.5)


def home_part(args, notes: list[str]) -> list[str]:
    from django.db import connection
    from django.utils import timezone

    from benchmarks import bench_data
    from order.services.finance import current_month, month_start
    from order.services.totals import totals_rebuild

    now = timezone.now().replace(microsecond=0)
    this_month = current_month(now)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    databases, fills, naive = [], {}, {}
    for size in args.home_sizes:
        database = f"{args.home_database_name}_{size}"
        switch_database(args.home_database_url, database)
        layout = bench_data.Layout(orders=size, expired=max(size // 10, 1), fresh=max(size // 100, 1),
                                   users=min(size, 100_000), products=200, finance_orders=int(size * 0.3), now=now,
                                   timeout=3600, last_month_start=month_start(last_month),
                                   this_month_start=month_start(this_month))
        print(f"  {size:,} orders: generating …")
        with connection.cursor() as cursor:
            bench_data.generate(cursor, layout, bench_data.django_tables(), say=lambda *_: None)
        started = time.perf_counter()
        totals_rebuild()
        fills[database] = time.perf_counter() - started
        settle()
        naive[database] = time_naive_refresh(args.naive_limit)
        print(f"    summary fill {fills[database]:.1f} s; replaced query {naive[database]}")
        databases.append(database)
    ours = time_refresh(databases)
    small, large = databases[0], databases[-1]
    ratio = ours[large] / ours[small]
    notes.append("home refresh data: the jobs benchmark's generator (1–3 items per order, 70 % of the history paid), "
                 "200 products, at most 100,000 users; one database per size, ours timed interleaved")
    return [
        f"`refresh_home_cache`'s build at {len(databases)} sizes: ours median of 20, the sizes interleaved; the "
        f"replaced query once, stopped after {args.naive_limit} s.",
        "",
        "| orders | ours (products + summary) | replaced query (join over every paid item) | summary fill (migration, chunked) |",
        "|---|---|---|---|",
        *(f"| {size:,} | {ours[d] * 1000:.1f} ms | {naive[d]} | {fills[d]:.1f} s |"
          for size, d in zip(args.home_sizes, databases)),
        "",
        "| target | met | measured |",
        "|---|---|---|",
        f"| refresh at {args.home_sizes[-1]:,} orders within {HOME_TARGET}× of {args.home_sizes[0]:,} | "
        f"{'yes' if ratio <= HOME_TARGET else '**NO**'} | {ratio:.2f}× |",
    ]


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("CACHE_URL", "locmemcache://pages-bench")
    os.environ.setdefault("LOG_LEVEL", "CRITICAL")  # /healthz/cron's 503s of the demo data, on the console
    args.database_name = urlparse(args.database_url).path.lstrip("/")
    args.home_database_name = urlparse(args.home_database_url).path.lstrip("/")
    setup_django(args.database_url if not args.skip_pages else args.home_database_url)
    parts = []  # (section name, title, lines, notes): each part rewrites only its own section of RESULTS.md
    if not args.skip_pages:
        print(f"pages ({args.database_name}, {args.database_name}_demo) …")
        notes: list[str] = []
        parts.append((SECTION, "Pages as the data grows", pages_part(args, notes), notes))
    if not args.skip_home:
        print(f"home refresh ({args.home_database_name}_<orders>) …")
        notes = []
        parts.append((SECTION + "_home", "The home page's refresh as orders grow", home_part(args, notes), notes))
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT VERSION(), @@GLOBAL.innodb_buffer_pool_size")
        version, pool = cursor.fetchone()
    for name, title, lines, notes in parts:
        text = "\n".join([
            f"## {title} (`benchmarks/pages_bench.py`)",
            "",
            (f"`{' '.join(['.venv/bin/python', 'benchmarks/pages_bench.py', *sys.argv[1:]])}` — "
             f"{time.strftime('%Y-%m-%d %H:%M %Z')}, MariaDB/MySQL {version} through PyMySQL, innodb_buffer_pool_size "
             f"{int(pool) // (1024 * 1024)} MB, Python {platform.python_version()}, {os.cpu_count()} CPUs."),
            "",
            *lines,
            "",
            *(f"- {note}" for note in notes),
        ]) + "\n"
        print()
        print(text)
        start, end = markers(name)
        write_section(Path(args.results), name, f"{start}\n{text.rstrip()}\n{end}\n")
    print(f"(written to {args.results})")
    return 0


def switch_database(server_url: str, name: str) -> None:
    """Point Django's default connection at database ``name`` of that server, created and migrated."""
    from django.core.management import call_command
    from django.db import connections

    ensure_mysql_database(server_url, name=name)
    connections.close_all()
    connections["default"].settings_dict["NAME"] = name
    call_command("migrate", verbosity=0)


if __name__ == "__main__":
    sys.exit(main())
