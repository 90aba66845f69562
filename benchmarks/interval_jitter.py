#!/usr/bin/env python
"""How late a 1-second interval job's calls are, under `cronjobs serve`, beside the physical ceiling.

The job (``every 1s``) appends the wall-clock time of each call to a file; its lateness is how far
after its whole second a call started. Beside it, in the same run and the same minutes, a bare loop
that sleeps until each whole second and notes the time: what this machine's scheduler gives anyone.
Also counted: the seconds no call fell on (lost beats, at the minute boundaries above all, where one
minute's run hands over to the next), and any second called twice.
Usage: .venv/bin/python benchmarks/interval_jitter.py [MINUTES] (default 3: two whole minutes and
two boundaries inside them at least). A throwaway SQLite database and log folder, created and migrated here.
"""
from __future__ import annotations

import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))  # run as a script: benchmarks.results_section
TARGET_P99_MS = 200
SECTION = "interval_jitter"


def beat() -> int:
    """The job: note when it was called."""
    with open(os.environ["BENCH_BEATS_FILE"], "a") as beats:
        beats.write(f"{time.time():.6f} {os.getpid()}\n")
    return 1


def bare_loop(path: Path, until: float) -> None:
    """The ceiling: sleep to each whole second, note the time (a process of its own, as the job's is)."""
    with open(path, "a", buffering=1) as out:
        while (now := time.time()) < until:
            time.sleep(math.floor(now) + 1 - now)
            out.write(f"{time.time():.6f}\n")


def lateness_ms(times: list[float]) -> list[float]:
    return [(at - math.floor(at)) * 1000 for at in times]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


def main() -> int:
    minutes = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    work = Path(tempfile.mkdtemp(prefix="oms-interval-bench-"))
    beats_file, ceiling_file = work / "beats.txt", work / "ceiling.txt"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "benchmarks.interval_jitter_settings",
           "DATABASE_URL": f"sqlite:///{work / 'bench.sqlite3'}", "LOG_DIR": str(work / "logs"),
           "CACHE_URL": "locmemcache://", "SECRET_KEY": "benchmark-only-secret-key-0123456789",
           "PAYMENT_SECRET": "benchmark-only-payment-secret-01234", "PYTHONPATH": str(PROJECT),
           "BENCH_BEATS_FILE": str(beats_file)}
    manage = [sys.executable, str(PROJECT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, cwd=PROJECT, check=True)
    serve = subprocess.Popen([*manage, "cronjobs", "serve"], env=env, cwd=PROJECT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    # Measure whole minutes from the first tick on; the bare loop over the same seconds.
    first_minute = (math.floor(time.time() / 60) + 1) * 60
    until = first_minute + minutes * 60
    ceiling = subprocess.Popen([sys.executable, "-c", f"from benchmarks.interval_jitter import bare_loop; "
                                f"from pathlib import Path; bare_loop(Path({str(ceiling_file)!r}), {until})"],
                               cwd=PROJECT, env=env)
    print(f"interval_jitter: `cronjobs serve` with an every-1s job, {minutes} minutes from "
          f"{datetime.fromtimestamp(first_minute):%H:%M} (the bare loop beside it) …", flush=True)
    ceiling.wait()
    time.sleep(3)  # the last minute's run hands over to the next one, whose first calls we leave out
    serve.send_signal(signal.SIGTERM)
    serve.wait(60)
    called = [(float(at), int(pid)) for at, pid in (line.split() for line in beats_file.read_text().splitlines())]
    calls = [at for at, _ in called]
    bare = [float(line) for line in ceiling_file.read_text().split()]
    shutil.rmtree(work)

    measured = [at for at in calls if first_minute + 1 <= at < until]  # the first minute's :00 has no predecessor
    seconds = [math.floor(at) for at in measured]
    expected = set(range(first_minute + 1, until))
    lost = sorted(expected - set(seconds))
    twice = len(seconds) - len(set(seconds))
    boundaries = [second for second in expected if second % 60 == 0]
    boundary = [at for at in measured if math.floor(at) % 60 == 0]
    ours, ceil_ms = lateness_ms(measured), lateness_ms([at for at in bare if first_minute + 1 <= at < until])
    lost_at_boundary = [second for second in lost if second % 60 == 0]
    elsewhere = [second for second in lost if second % 60]
    # At each boundary: how many calls the previous minute's run made past its minute before it handed over.
    pid_at = {math.floor(at): pid for at, pid in called}
    past_minute = [sum(1 for second, pid in pid_at.items() if second >= boundary and pid == pid_at.get(boundary - 1))
                   for boundary in boundaries]
    rows = [
        ("every-1s job under `cronjobs serve`", ours),
        ("  of which the calls at :00 (a minute's run handing over)", lateness_ms(boundary)),
        ("bare `time.sleep` loop, same seconds (ceiling)", ceil_ms),
    ]
    stamp = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    lines = ["<!-- interval_jitter -->", "## Interval jitter (`benchmarks/interval_jitter.py`)", "",
             f"`.venv/bin/python benchmarks/interval_jitter.py {minutes}` — {stamp}, SQLite, Python "
             f"{platform.python_version()}, {os.cpu_count()} CPUs; {minutes} minutes of calls, "
             f"{len(expected)} seconds.", "",
             "| what | calls | p50 late | p99 late | max late |", "|---|---|---|---|---|"]
    for label, values in rows:
        if values:
            lines.append(f"| {label} | {len(values)} | {percentile(values, 0.5):.1f} ms | "
                         f"{percentile(values, 0.99):.1f} ms | {max(values):.1f} ms |")
    p99 = percentile(ours, 0.99) if ours else float("inf")
    lines += ["", "| target | met | measured |", "|---|---|---|",
              f"| p99 lateness ≤ {TARGET_P99_MS} ms | {'yes' if p99 <= TARGET_P99_MS else '**NO**'} | {p99:.1f} ms |",
              f"| at most one beat lost at each minute boundary | "
              f"{'yes' if len(lost_at_boundary) <= len(boundaries) else '**NO**'} | {len(lost_at_boundary)} lost at "
              f"{len(boundaries)} boundaries |",
              f"| (measured) calls the previous run made past its minute, per boundary | | "
              f"{', '.join(str(count) for count in past_minute)} |",
              f"| no beat lost elsewhere, none called twice | {'yes' if not elsewhere and not twice else '**NO**'} "
              f"| {len(elsewhere)} lost, {twice} twice |",
              "", "<!-- /interval_jitter -->", ""]
    text = "\n".join(lines)
    print(text)
    print(f"lost seconds: {[datetime.fromtimestamp(second).strftime('%H:%M:%S') for second in lost]}")
    from benchmarks.results_section import write_section

    write_section(PROJECT / "benchmarks" / "RESULTS.md", SECTION, text)
    return 0 if p99 <= TARGET_P99_MS and not twice else 1


if __name__ == "__main__":
    sys.exit(main())
