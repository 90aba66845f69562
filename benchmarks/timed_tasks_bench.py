#!/usr/bin/env python
"""Benchmark of the timed-task dispatcher on MariaDB/MySQL — one command, one table.

    .venv/bin/python benchmarks/timed_tasks_bench.py            # 100,000 due no-op tasks among 1,000,000 rows
    .venv/bin/python benchmarks/timed_tasks_bench.py --quick    # a small smoke run (seconds)

What it loads, compares and verifies: docs/timed_tasks.md ("Benchmark"); the table goes to benchmarks/RESULTS.md.
BENCH_PROFILE=/tmp/dispatch.prof profiles each of ours' dispatchers (cProfile, one stats file per process,
``<path>.<pid>``; the profiler slows them, so the rates of such a run are not the ones to quote).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import cProfile
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from benchmarks.jobs_bench import setup_django  # noqa: E402
from benchmarks.results_section import markers, write_section  # noqa: E402

NOOP = "benchmarks.timed_noop.noop"
TARGETS = {"vs_loop": 5.0, "two_vs_one": 1.5, "of_ceiling": 0.70}  # same-run ratios only
SECTION = "timed_tasks_bench"  # its section of RESULTS.md
SECTION_START, SECTION_END = markers(SECTION)
CHUNK = 200_000


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Benchmark the timed-task dispatcher on MariaDB/MySQL.")
    parser.add_argument("--rows", type=int, default=1_000_000, help="timed tasks in the table (default 1,000,000)")
    parser.add_argument("--due", type=int, default=100_000, help="due tasks to dispatch (default 100,000)")
    parser.add_argument("--small-due", type=int, default=10_000, help="the smaller backlog (default 10,000)")
    parser.add_argument("--chunk-size", type=int, default=None, help="TIMED_TASKS_CHUNK_SIZE (default: the setting)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of each of our variants, interleaved (one, two, one, two…); the median is reported "
                             "(default 3; the naive loop runs once)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 50,000 rows, 5,000 and 1,000 due")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_TIMED_DATABASE_URL",
                                                                 "mysql://root@127.0.0.1:3306/oms_timed_bench"),
                        help="MariaDB/MySQL database to create and use")
    parser.add_argument("--results", default=str(PROJECT / "benchmarks" / "RESULTS.md"),
                        help="file whose timed-tasks section is replaced by this run's table")
    parser.add_argument("--child", choices=["naive", "ours", "ceiling"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.due, args.small_due = 50_000, 5_000, 1_000
    if not 0 < args.small_due <= args.due < args.rows or args.repeats < 1:
        parser.error("need 0 < --small-due <= --due < --rows and --repeats >= 1")
    return args


# --- child processes: one dispatcher (or the naive loop) each --------------------------------

def peak_rss_kb() -> int:
    """This process's peak resident set (VmHWM). Not ru_maxrss: Linux carries that over from the
    parent across fork and exec, so a child would report the benchmark parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(kind: str, chunk_size: int | None) -> None:
    """Set up Django, say ready, wait for "go" on stdin, dispatch, print what happened as JSON."""
    import django

    django.setup()
    from basic.cron_runtime import conf
    from django.db import connection
    from django.utils import timezone
    from loguru import logger

    from basic.cron_runtime.timed_tasks.dispatcher import timed_tasks_dispatch
    from basic.cron_runtime.running.joblog import job_log
    from basic.cron_runtime.models import TimedTask, TimedTaskStatus
    from basic.cron_runtime.scheduling.registry import TIMED_TASKS_JOB, import_callable

    connection.ensure_connection()
    import_callable(NOOP)
    rss_ready = peak_rss_kb()
    print("ready", flush=True)
    sys.stdin.readline()
    cpu_before = time.process_time()
    started = time.time()
    if kind == "ceiling":
        done = bare_sql_dispatch(connection, chunk_size or conf.TIMED_TASKS_CHUNK_SIZE)
    elif kind == "naive":
        for t in TimedTask.objects.filter(status=TimedTaskStatus.PENDING, next_attempt_at__lte=timezone.now()):
            import_callable(t.func_path)(*t.args, **t.kwargs)
            t.status = TimedTaskStatus.DONE
            t.finish_time = timezone.now()  # the table's constraint wants a finished task to have its finish time
            t.save()
        done = None
    else:
        profile_to = os.environ.get("BENCH_PROFILE")  # a file: where this dispatcher's cProfile stats go
        profiler = cProfile.Profile() if profile_to else None
        with job_log(TIMED_TASKS_JOB), logger.contextualize(job=TIMED_TASKS_JOB):
            if profiler:
                profiler.enable()
            done = timed_tasks_dispatch(chunk_size=chunk_size).done
            if profiler:
                profiler.disable()
                profiler.dump_stats(f"{profile_to}.{os.getpid()}")
    finished = time.time()
    cpu = time.process_time() - cpu_before
    rss_peak = peak_rss_kb()
    print(json.dumps({"started": started, "finished": finished, "done": done, "cpu": cpu,
                      "rss_ready_kb": rss_ready, "rss_peak_kb": rss_peak}), flush=True)


def bare_sql_dispatch(connection, size: int) -> int:
    """The ceiling: the set-based SQL a dispatcher cannot do without, nothing else.

    Per chunk, one transaction: read the due rows' call columns with ``FOR UPDATE SKIP LOCKED``
    (on the due index, resuming where the previous chunk ended, then one sweep from the start,
    as the dispatcher does), one ``UPDATE`` marking them done, COMMIT. No function is called,
    nothing is logged, the rows are not even decoded. Returns the rows marked done."""
    from basic.cron_runtime.timed_tasks.dispatcher import CLAIM_COLUMNS
    from basic.cron_runtime.models import TimedTask

    table = TimedTask._meta.db_table
    columns = ", ".join(f"`{c}`" for c in CLAIM_COLUMNS)  # next_attempt_at last: the next chunk's start
    now = ts(datetime.now(UTC))
    raw = connection.connection  # the PyMySQL connection itself: no Django cursor wrapper
    raw.autocommit(False)
    done, start, swept = 0, None, False
    with raw.cursor() as cursor:
        while True:
            since = "" if start is None else "AND next_attempt_at >= %s "
            cursor.execute(f"SELECT {columns} FROM {table} WHERE status = 0 AND next_attempt_at <= %s {since}"
                           f"ORDER BY next_attempt_at, id LIMIT %s FOR UPDATE SKIP LOCKED",
                           [now, size] if start is None else [now, start, size])
            rows = cursor.fetchall()
            if rows:
                done += cursor.execute(f"UPDATE {table} SET status = 1, attempts = attempts + 1, finish_time = %s, "
                                       f"updated_time = %s WHERE id IN ({', '.join(str(r[0]) for r in rows)})",
                                       [now, now])
            raw.commit()
            if not rows:
                if swept or start is None:
                    return done
                start, swept = None, True
                continue
            start = rows[-1][-1]


def mariadb_pid() -> int | None:
    """The local MariaDB/MySQL server's pid (its CPU is measured alongside the dispatchers'), or None."""
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if (proc / "comm").read_text().strip() in ("mariadbd", "mysqld"):
                    return int(proc.name)
            except OSError:
                continue
    return None


def process_cpu(pid: int | None) -> float:
    """User + system CPU seconds of a process so far (0 when it cannot be read)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy, all) CPU seconds of the whole machine so far, every core summed (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:8]]
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - fields[3] - fields[4]) / tick, sum(fields) / tick  # idle and iowait are not busy


# --- the parent ---------------------------------------------------------------------------------

def ts(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class Bench:
    def __init__(self, args):
        from django.db import connection

        from basic.cron_runtime.models import TimedTask

        self.args = args
        self.connection = connection
        self.table = TimedTask._meta.db_table
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.rows: list[tuple] = []
        self.calls_dir = Path(tempfile.mkdtemp(prefix="timed-bench-calls-"))
        self.env = {**os.environ, "BENCH_CALLS_DIR": str(self.calls_dir), "PYTHONPATH": str(PROJECT),
                    "OMS_HOSTNAME": "bench"}
        self.server_pid = mariadb_pid() if self.connection.settings_dict["HOST"] in ("127.0.0.1", "localhost") else None

    def sql(self, statement: str, params=()) -> int:
        with self.connection.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.rowcount

    def generate(self) -> None:
        """The due band 1..due (run_at one millisecond apart, the newest a minute ago), 300,000 due later
        (with keys), and the rest finished (done, a few failed and cancelled), all with INSERT … SELECT."""
        a = self.args
        t0 = time.monotonic()
        self.sql(f"TRUNCATE TABLE {self.table}")
        later = min(300_000, a.rows - a.due)
        band_start = self.now - timedelta(minutes=1) - timedelta(milliseconds=a.due)
        columns = ("id, func_path, name, args, kwargs, `key`, run_at, status, attempts, max_attempts, next_attempt_at, "
                   "late_window, claimed_by, lease_until, executed_time, finish_time, host, last_error, created_time, "
                   "updated_time, queue")
        for first in range(1, a.rows + 1, CHUNK):
            last = min(a.rows, first + CHUNK - 1)
            self.sql(
                f"INSERT INTO {self.table} ({columns}) SELECT seq, %s, CONCAT('noop ', seq), CONCAT('[', seq, ']'), '{{}}', "
                f"IF(seq > %s AND seq <= %s, CONCAT('bench:', seq), NULL), "
                # due band: 1 ms apart, ending a minute ago; later: a second apart from tomorrow; history: the past
                f"CASE WHEN seq <= %s THEN %s + INTERVAL seq * 1000 MICROSECOND WHEN seq <= %s THEN %s + INTERVAL seq SECOND "
                f"ELSE %s - INTERVAL seq SECOND END, "
                f"CASE WHEN seq <= %s THEN 0 WHEN MOD(seq, 50) = 0 THEN 2 WHEN MOD(seq, 20) = 0 THEN 3 ELSE 1 END, "
                f"IF(seq <= %s, 0, 1), 3, "
                f"CASE WHEN seq <= %s THEN %s + INTERVAL seq * 1000 MICROSECOND WHEN seq <= %s THEN %s + INTERVAL seq SECOND "
                f"ELSE %s - INTERVAL seq SECOND END, "
                f"NULL, NULL, NULL, IF(seq <= %s, NULL, %s - INTERVAL seq SECOND), "
                f"IF(seq <= %s, NULL, %s - INTERVAL seq SECOND), 'history', '', %s, %s, '' "
                f"FROM seq_{first}_to_{last}",
                [NOOP, a.due, a.due + later,
                 a.due, ts(band_start), a.due + later, ts(self.now + timedelta(days=1)), ts(self.now - timedelta(days=1)),
                 a.due + later, a.due + later,
                 a.due, ts(band_start), a.due + later, ts(self.now + timedelta(days=1)), ts(self.now - timedelta(days=1)),
                 a.due + later, ts(self.now - timedelta(days=1)), a.due + later, ts(self.now - timedelta(days=1)),
                 ts(self.now), ts(self.now)],
            )
        # The history has one attempt each; failed ones used all three.
        self.sql(f"UPDATE {self.table} SET attempts = 3 WHERE status = 2")
        self.sql(f"ANALYZE TABLE {self.table}")
        print(f"generated {a.rows:,} rows in {time.monotonic() - t0:.1f} s", flush=True)

    def reset(self, due: int) -> None:
        """Ids 1..due pending and due again; the rest of the band done (not due)."""
        band_start = self.now - timedelta(minutes=1) - timedelta(milliseconds=self.args.due)
        self.sql(f"UPDATE {self.table} SET status = IF(id <= %s, 0, 1), attempts = IF(id <= %s, 0, 1), "
                 f"next_attempt_at = %s + INTERVAL id * 1000 MICROSECOND, claimed_by = NULL, lease_until = NULL, "
                 f"executed_time = IF(id <= %s, NULL, %s), finish_time = IF(id <= %s, NULL, %s), host = '' "
                 f"WHERE id <= %s", [due, due, ts(band_start), due, ts(self.now), due, ts(self.now), self.args.due])
        shutil.rmtree(self.calls_dir)
        self.calls_dir.mkdir()
        time.sleep(2)  # let InnoDB purge the old index entries, as between two real dispatches

    def verify(self, due: int, *, calls_expected: bool = True) -> tuple[bool, str]:
        calls: Counter = Counter()
        for path in self.calls_dir.glob("*.txt"):
            calls.update(int(line) for line in path.read_text().split())
        with self.connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {self.table} WHERE id <= %s AND status = 1", [due])
            done = cursor.fetchone()[0]
        if not calls_expected:  # the ceiling calls nothing: every due row done, exactly once by the UPDATE count
            ok = not calls and done == due
            return ok, ("all done, nothing called" if ok else f"{len(calls):,} called, {done:,} done")
        once = len(calls) == due and set(calls.values()) == {1} and set(calls) == set(range(1, due + 1))
        twice = sum(1 for c in calls.values() if c > 1)
        ok = once and done == due
        return ok, ("exactly once" if ok else f"{len(calls):,} called, {twice:,} more than once, {done:,} done")

    def run(self, kind: str, processes: int, due: int) -> dict:
        self.reset(due)
        command = [sys.executable, __file__, "--child", kind]
        if self.args.chunk_size:
            command += ["--chunk-size", str(self.args.chunk_size)]
        procs = [subprocess.Popen(command, env=self.env, cwd=PROJECT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True) for _ in range(processes)]
        for proc in procs:
            assert proc.stdout.readline().strip() == "ready", f"{kind} child did not start"
        server_cpu, machine, went = process_cpu(self.server_pid), machine_busy(), time.time()
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        reports = []
        for proc in procs:
            out, _ = proc.communicate(timeout=3600)
            if proc.returncode != 0:
                raise SystemExit(f"{kind} child failed with exit code {proc.returncode}")
            reports.append(json.loads(out.strip().splitlines()[-1]))
        server_cpu = process_cpu(self.server_pid) - server_cpu
        machine = [after - before for after, before in zip(machine_busy(), machine, strict=True)]
        measured = time.time() - went  # the machine's and the server's CPU were read over this span
        seconds = max(r["finished"] for r in reports) - min(r["started"] for r in reports)
        ours_cpu = sum(r["cpu"] for r in reports) + server_cpu
        ok, check = self.verify(due, calls_expected=kind != "ceiling")
        plural = "s" if processes > 1 else ""
        name = {"naive": "naive loop: for t in due: call(t); t.status = 1; t.save()",
                "ours": f"ours, {processes} dispatcher{plural}",
                "ceiling": f"ceiling: bare SKIP LOCKED claim + UPDATE per chunk, {processes} connection{plural}"}[kind]
        row = {"name": name, "kind": kind, "processes": processes, "due": due, "seconds": seconds,
               "rate": due / seconds, "ok": ok, "check": check,
               "cpu_us_per_task": sum(r["cpu"] for r in reports) / due * 1e6,
               "server_us_per_task": server_cpu / due * 1e6 if self.server_pid else None,
               # cores kept busy by this variant (its processes + MariaDB) and by everything else on the machine
               "cores": ours_cpu / measured, "other_cores": max(machine[0] - ours_cpu, 0) / measured,
               "rss_peak_mb": max(r["rss_peak_kb"] for r in reports) / 1024,
               "rss_growth_mb": max(r["rss_peak_kb"] - r["rss_ready_kb"] for r in reports) / 1024}
        print(f"{name:<62} {due:>8,} due  {seconds:7.2f} s  {row['rate']:>9,.0f} tasks/s  "
              f"CPU/task {row['cpu_us_per_task']:.0f} µs + server {server_cpu / due * 1e6:.0f} µs  "
              f"cores {row['cores']:.2f} + others {row['other_cores']:.2f}  peak RSS {row['rss_peak_mb']:.0f} MB (+{row['rss_growth_mb']:.1f})  "
              f"{check}", flush=True)
        self.rows.append(row)
        return row

    def report(self) -> str:
        from basic.cron_runtime import conf

        a = self.args
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT VERSION(), @@innodb_buffer_pool_size")
            version, pool = cursor.fetchone()
        lines = [
            SECTION_START,
            "## Timed tasks (`benchmarks/timed_tasks_bench.py`)",
            "",
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, MariaDB/MySQL {version} through PyMySQL, innodb_buffer_pool_size "
            f"{pool // 2**20} MB, Python {platform.python_version()}, {os.cpu_count()} CPUs (shared), chunk size "
            f"{a.chunk_size or conf.TIMED_TASKS_CHUNK_SIZE}; {a.rows:,} rows in the table, no-op tasks, one log line "
            "per task written to the job log.",
            "",
            f"Ours and the ceiling ran {a.repeats}× each, interleaved (ours 1, ours 2, ceiling 1, ceiling 2, again…); "
            "the median run is shown (tasks/s of every run in brackets). CPU per task: the dispatcher processes' "
            "own time + the MariaDB server's during the run"
            + ("" if self.server_pid else " (not measured: the server is not on this machine)")
            + "; the machine's other users of MariaDB, if any, count in the server's share. Cores busy: this "
            "variant's processes and MariaDB, then everything else on the machine (/proc/stat), averaged over the run.",
            "",
            "| variant | due | time | tasks/s | CPU per task: dispatchers + MariaDB | cores busy: this + others "
            "| peak RSS (growth during dispatch) | check |",
            "|---|---|---|---|---|---|---|---|",
        ]
        by = {}
        for r in self.rows:
            by.setdefault((r["kind"], r["processes"], r["due"]), []).append(r)
        median = {key: sorted(runs, key=lambda r: r["rate"])[(len(runs) - 1) // 2] for key, runs in by.items()}
        for key, runs in by.items():
            r = median[key]
            each = ", ".join(format(x["rate"], ",.0f") for x in runs)
            rates = "" if len(runs) == 1 else f" (runs: {each})"
            server = "" if r["server_us_per_task"] is None else f" + {r['server_us_per_task']:.0f} µs"
            checks = sorted({x["check"] for x in runs})
            lines.append(f"| {r['name']} | {r['due']:,} | {r['seconds']:.2f} s | {r['rate']:,.0f}{rates} | "
                         f"{r['cpu_us_per_task']:.0f} µs{server} | {r['cores']:.2f} + {r['other_cores']:.2f} | "
                         f"{max(x['rss_peak_mb'] for x in runs):.0f} MB "
                         f"(+{max(x['rss_growth_mb'] for x in runs):.1f} MB) | "
                         f"{checks[0] if all(x['ok'] for x in runs) else '; '.join(x['check'] for x in runs)} |")
        big, small = a.due, a.small_due
        loop, one, two = median[("naive", 1, big)], median[("ours", 1, big)], median[("ours", 2, big)]
        vs_loop, two_vs_one = one["rate"] / loop["rate"], two["rate"] / one["rate"]
        ceil1, ceil2 = median[("ceiling", 1, big)], median[("ceiling", 2, big)]

        def paired(first, second):
            """Ratios of the back-to-back runs (interleaved: each pair met the same load) and their median."""
            ratios = [b["rate"] / a_["rate"] for a_, b in zip(by[first], by[second], strict=True)]
            return ratios, sorted(ratios)[(len(ratios) - 1) // 2]

        def listed(ratios, unit="×"):
            return ", ".join(f"{x:.2f}×" if unit == "×" else f"{x * 100:.0f} %" for x in ratios)

        pairs, two_vs_one_paired = paired(("ours", 1, big), ("ours", 2, big))
        ceil_pairs, ceil_two_vs_one_paired = paired(("ceiling", 1, big), ("ceiling", 2, big))
        of_ceil1, of_ceil1_paired = paired(("ceiling", 1, big), ("ours", 1, big))
        of_ceil2, of_ceil2_paired = paired(("ceiling", 2, big), ("ours", 2, big))
        mem_small = max(x["rss_peak_mb"] for x in by[("ours", 1, small)])
        mem_big = max(x["rss_peak_mb"] for x in by[("ours", 1, big)])
        flat = abs(mem_big - mem_small) <= max(0.1 * mem_small, 5)
        lines += [
            "",
            "| target | met | measured |",
            "|---|---|---|",
            f"| one dispatcher ≥ {TARGETS['vs_loop']:.0f}× the naive loop | {'yes' if vs_loop >= TARGETS['vs_loop'] else '**NO**'} "
            f"| {vs_loop:.1f}× |",
            f"| two dispatchers ≥ {TARGETS['two_vs_one']}× one, median rates | "
            f"{'yes' if two_vs_one >= TARGETS['two_vs_one'] else '**NO**'} | {two_vs_one:.2f}× |",
            f"| two dispatchers ≥ {TARGETS['two_vs_one']}× one, median of the back-to-back pairs | "
            f"{'yes' if two_vs_one_paired >= TARGETS['two_vs_one'] else '**NO**'} | {two_vs_one_paired:.2f}× "
            f"(pairs: {listed(pairs)}) |",
            f"| one dispatcher ≥ {TARGETS['of_ceiling']:.0%} of the bare claim + UPDATE on one connection, median of the "
            f"back-to-back pairs | {'yes' if of_ceil1_paired >= TARGETS['of_ceiling'] else '**NO**'} | "
            f"{of_ceil1_paired * 100:.0f} % |",
            f"| peak memory the same at {small:,} and {big:,} due | {'yes' if flat else '**NO**'} "
            f"| {mem_small:.0f} MB vs {mem_big:.0f} MB |",
            f"| every task called exactly once, every due task done | {'yes' if all(r['ok'] for r in self.rows) else '**NO**'} "
            f"| {', '.join(sorted({r['check'] for r in self.rows}))} |",
            "",
            "| against the ceiling (bare SQL, same run) | median rates | median of back-to-back pairs (each pair) |",
            "|---|---|---|",
            f"| ours, 1 dispatcher, as % of the ceiling on 1 connection | {one['rate'] / ceil1['rate'] * 100:.0f} % "
            f"| {of_ceil1_paired * 100:.0f} % ({listed(of_ceil1, '%')}) |",
            f"| ours, 2 dispatchers, as % of the ceiling on 2 connections | {two['rate'] / ceil2['rate'] * 100:.0f} % "
            f"| {of_ceil2_paired * 100:.0f} % ({listed(of_ceil2, '%')}) |",
            f"| ceiling: 2 connections vs 1 (what the bare SQL gains from a second connection here) | {ceil2['rate'] / ceil1['rate']:.2f}× "
            f"| {ceil_two_vs_one_paired:.2f}× ({listed(ceil_pairs)}) |",
            f"| ours: 2 dispatchers vs 1 | {two_vs_one:.2f}× | {two_vs_one_paired:.2f}× ({listed(pairs)}) |",
        ]
        if one["server_us_per_task"] is not None:
            # Dispatcher and MariaDB take turns on one task after another: one dispatcher keeps about one core
            # busy; with every core free to ours, that CPU per task is all that bounds any number of them.
            cores = os.cpu_count() or 1
            bound = cores / ((one["cpu_us_per_task"] + one["server_us_per_task"]) / 1e6)
            lines.append(f"| ours' CPU bound: {cores} cores all ours / (dispatcher + MariaDB CPU per task, 1 dispatcher) "
                         f"| {bound:,.0f} tasks/s = {bound / one['rate']:.2f}× one dispatcher | computed, not run |")
        lines += [
            SECTION_END,
        ]
        return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        child(args.child, args.chunk_size)
        return 0
    os.environ.setdefault("LOG_DIR", str(PROJECT / "var" / "bench-logs"))
    setup_django(args.database_url)
    os.environ["LOG_LEVEL"] = "WARNING"  # the children's console; the job log gets every line
    bench = Bench(args)
    try:
        bench.generate()
        for due in (args.small_due, args.due):
            bench.run("naive", 1, due)
            for _ in range(args.repeats):  # interleaved: a burst of load on the shared machine hits every variant
                for kind in ("ours", "ceiling"):
                    bench.run(kind, 1, due)
                    bench.run(kind, 2, due)
        section = bench.report()
    finally:
        shutil.rmtree(bench.calls_dir, ignore_errors=True)
    print(section)
    write_section(Path(args.results), SECTION, section)
    print(f"written to {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
