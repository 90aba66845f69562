#!/usr/bin/env python
"""Benchmark of the timed-task dispatcher on MariaDB/MySQL — one command, one table.

    .venv/bin/python benchmarks/timed_tasks_bench.py            # 100,000 due no-op tasks among 1,000,000 rows
    .venv/bin/python benchmarks/timed_tasks_bench.py --quick    # a small smoke run (seconds)

What it loads, compares and verifies: docs/timed_tasks.md ("Benchmark"); the table goes to benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
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

NOOP = "benchmarks.timed_noop.noop"
TARGETS = {"vs_loop": 5.0, "two_vs_one": 1.5}
SECTION_START, SECTION_END = "<!-- timed_tasks_bench -->", "<!-- /timed_tasks_bench -->"
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
    parser.add_argument("--child", choices=["naive", "ours"], help=argparse.SUPPRESS)
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
    from django.db import connection
    from django.utils import timezone
    from loguru import logger

    from basic.cron_runtime.dispatcher import TIMED_TASKS_JOB, timed_tasks_dispatch
    from basic.cron_runtime.joblog import job_log
    from basic.cron_runtime.models import TimedTask, TimedTaskStatus
    from basic.cron_runtime.registry import import_callable

    connection.ensure_connection()
    import_callable(NOOP)
    rss_ready = peak_rss_kb()
    print("ready", flush=True)
    sys.stdin.readline()
    cpu_before = time.process_time()
    started = time.time()
    if kind == "naive":
        for t in TimedTask.objects.filter(status=TimedTaskStatus.PENDING, next_attempt_at__lte=timezone.now()):
            import_callable(t.func_path)(*t.args, **t.kwargs)
            t.status = TimedTaskStatus.DONE
            t.finish_time = timezone.now()  # the table's constraint wants a finished task to have its finish time
            t.save()
        done = None
    else:
        with job_log(TIMED_TASKS_JOB), logger.contextualize(job=TIMED_TASKS_JOB):
            done = timed_tasks_dispatch(chunk_size=chunk_size).done
    finished = time.time()
    cpu = time.process_time() - cpu_before
    rss_peak = peak_rss_kb()
    print(json.dumps({"started": started, "finished": finished, "done": done, "cpu": cpu,
                      "rss_ready_kb": rss_ready, "rss_peak_kb": rss_peak}), flush=True)


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
                   "updated_time")
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
                f"IF(seq <= %s, NULL, %s - INTERVAL seq SECOND), 'history', '', %s, %s "
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

    def verify(self, due: int) -> tuple[bool, str]:
        calls: Counter = Counter()
        for path in self.calls_dir.glob("*.txt"):
            calls.update(int(line) for line in path.read_text().split())
        with self.connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {self.table} WHERE id <= %s AND status = 1", [due])
            done = cursor.fetchone()[0]
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
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        reports = []
        for proc in procs:
            out, _ = proc.communicate(timeout=3600)
            if proc.returncode != 0:
                raise SystemExit(f"{kind} child failed with exit code {proc.returncode}")
            reports.append(json.loads(out.strip().splitlines()[-1]))
        seconds = max(r["finished"] for r in reports) - min(r["started"] for r in reports)
        ok, check = self.verify(due)
        name = {"naive": "naive loop: for t in due: call(t); t.status = 1; t.save()",
                "ours": f"ours, {processes} dispatcher{'s' if processes > 1 else ''}"}[kind]
        row = {"name": name, "kind": kind, "processes": processes, "due": due, "seconds": seconds,
               "rate": due / seconds, "ok": ok, "check": check,
               "cpu_us_per_task": sum(r["cpu"] for r in reports) / due * 1e6,
               "rss_peak_mb": max(r["rss_peak_kb"] for r in reports) / 1024,
               "rss_growth_mb": max(r["rss_peak_kb"] - r["rss_ready_kb"] for r in reports) / 1024}
        print(f"{name:<62} {due:>8,} due  {seconds:7.2f} s  {row['rate']:>9,.0f} tasks/s  "
              f"{row['cpu_us_per_task']:.0f} µs CPU/task  peak RSS {row['rss_peak_mb']:.0f} MB (+{row['rss_growth_mb']:.1f})  "
              f"{check}", flush=True)
        self.rows.append(row)
        return row

    def report(self) -> str:
        from django.conf import settings

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
            f"{a.chunk_size or settings.TIMED_TASKS_CHUNK_SIZE}; {a.rows:,} rows in the table, no-op tasks, one log line "
            "per task written to the job log.",
            "",
            f"Our variants ran {a.repeats}× each, interleaved; the median run is shown (tasks/s of every run in "
            "brackets). CPU is the dispatcher processes' own time per task (the database's is not included).",
            "",
            "| variant | due | time | tasks/s | CPU per task | peak RSS (growth during dispatch) | check |",
            "|---|---|---|---|---|---|---|",
        ]
        by = {}
        for r in self.rows:
            by.setdefault((r["kind"], r["processes"], r["due"]), []).append(r)
        median = {key: sorted(runs, key=lambda r: r["rate"])[(len(runs) - 1) // 2] for key, runs in by.items()}
        for key, runs in by.items():
            r = median[key]
            each = ", ".join(format(x["rate"], ",.0f") for x in runs)
            rates = "" if len(runs) == 1 else f" (runs: {each})"
            lines.append(f"| {r['name']} | {r['due']:,} | {r['seconds']:.2f} s | {r['rate']:,.0f}{rates} | "
                         f"{r['cpu_us_per_task']:.0f} µs | {max(x['rss_peak_mb'] for x in runs):.0f} MB "
                         f"(+{max(x['rss_growth_mb'] for x in runs):.1f} MB) | "
                         f"{'exactly once' if all(x['ok'] for x in runs) else '; '.join(x['check'] for x in runs)} |")
        big, small = a.due, a.small_due
        loop, one, two = median[("naive", 1, big)], median[("ours", 1, big)], median[("ours", 2, big)]
        vs_loop, two_vs_one = one["rate"] / loop["rate"], two["rate"] / one["rate"]
        # The runs were interleaved (one, two, one, two…): each back-to-back pair met the same load.
        pairs = [b["rate"] / a_["rate"] for a_, b in zip(by[("ours", 1, big)], by[("ours", 2, big)], strict=True)]
        paired = sorted(pairs)[(len(pairs) - 1) // 2]
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
            f"{'yes' if paired >= TARGETS['two_vs_one'] else '**NO**'} | {paired:.2f}× "
            f"(pairs: {', '.join(f'{x:.2f}×' for x in pairs)}) |",
            f"| peak memory the same at {small:,} and {big:,} due | {'yes' if flat else '**NO**'} "
            f"| {mem_small:.0f} MB vs {mem_big:.0f} MB |",
            f"| every task called exactly once, every due task done | {'yes' if all(r['ok'] for r in self.rows) else '**NO**'} "
            f"| {', '.join(sorted({r['check'] for r in self.rows}))} |",
            SECTION_END,
        ]
        return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    if SECTION_START in text and SECTION_END in text:
        head, rest = text.split(SECTION_START, 1)
        text = head + section.rstrip("\n") + rest.split(SECTION_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


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
            for _ in range(args.repeats):  # interleaved: a burst of load on the shared machine hits both variants
                bench.run("ours", 1, due)
                bench.run("ours", 2, due)
        section = bench.report()
    finally:
        shutil.rmtree(bench.calls_dir, ignore_errors=True)
    print(section)
    write_section(Path(args.results), section)
    print(f"written to {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
