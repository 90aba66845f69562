"""The staff log view reads only the end of a job log, with bounded memory."""
from __future__ import annotations

import time
import tracemalloc

import pytest

from basic.cron_runtime.console.logtail import log_tail


def record(n: int, level: str = "INFO", text: str = "step") -> str:
    return f"2024-05-01 08:00:{n % 60:02d}.000 +08:00 | {level: <8} | web1 | pid 42 | {text} {n}\n"


@pytest.fixture
def small_log(tmp_path):
    path = tmp_path / "cancel_timeouts.log"
    lines = [record(i) for i in range(50)]
    lines[20] = record(20, "ERROR", "boom")
    lines.insert(21, "Traceback (most recent call last):\n")
    lines.insert(22, '  File "order/cron.py", line 3, in cancel_timeouts\n')
    lines.insert(23, "ValueError: the database said no\n")
    lines[40] = record(40, "WARNING", "slow query")
    path.write_text("".join(lines), encoding="utf-8")
    return path


def test_last_lines_in_file_order(small_log):
    tail = log_tail(small_log, lines=3)
    assert [line.rsplit(" ", 1)[1] for line in tail] == ["47", "48", "49"]


def test_level_filter_keeps_the_traceback_with_its_record(small_log):
    assert log_tail(small_log, level="ERROR") == [
        record(20, "ERROR", "boom").rstrip("\n"),
        "Traceback (most recent call last):",
        '  File "order/cron.py", line 3, in cancel_timeouts',
        "ValueError: the database said no",
    ]
    warnings_and_up = log_tail(small_log, level="warning")
    assert [line for line in warnings_and_up if " | " in line] == [
        record(20, "ERROR", "boom").rstrip("\n"),
        record(40, "WARNING", "slow query").rstrip("\n"),
    ]


def test_search_is_case_insensitive_and_matches_inside_tracebacks(small_log):
    tail = log_tail(small_log, contains="DATABASE SAID")
    assert tail[0].endswith("boom 20") and tail[-1] == "ValueError: the database said no"
    assert log_tail(small_log, contains="nowhere in the file") == []


def test_missing_file_and_file_without_final_newline(tmp_path):
    assert log_tail(tmp_path / "never_ran.log") == []
    path = tmp_path / "x.log"
    path.write_bytes(b"first\nsecond")
    assert log_tail(path) == ["first", "second"]


def test_lines_split_across_blocks_come_back_whole(tmp_path):
    path = tmp_path / "x.log"
    path.write_text("".join(record(i, text="x" * 37) for i in range(300)), encoding="utf-8")
    tail = log_tail(path, lines=250, block_size=64)  # tiny blocks: every line crosses one
    assert tail == [record(i, text="x" * 37).rstrip("\n") for i in range(50, 300)]


@pytest.fixture(scope="module")
def huge_log(tmp_path_factory):
    """A 200 MB job log, written quickly as one repeated block."""
    path = tmp_path_factory.mktemp("logs") / "monthly_finance.log"
    block = "".join(record(i, "DEBUG", "regenerating month 2024-04, order batch") for i in range(1000)).encode()
    with open(path, "wb") as handle:
        handle.write(record(0, "ERROR", "needle at the very start").encode())
        handle.writelines(block for _ in range(200 * 1024 * 1024 // len(block) + 1))
        handle.write(record(99, "ERROR", "last failure").encode())
    assert path.stat().st_size >= 200 * 1024 * 1024
    return path


def peak_memory_of(func):
    tracemalloc.start()
    try:
        started = time.perf_counter()
        result = func()
        elapsed = time.perf_counter() - started
        return result, tracemalloc.get_traced_memory()[1], elapsed
    finally:
        tracemalloc.stop()


def test_tail_of_a_200_mb_log_reads_only_its_end(huge_log):
    tail, peak, elapsed = peak_memory_of(lambda: log_tail(huge_log, lines=200))
    assert len(tail) == 200 and tail[-1].endswith("last failure 99")
    assert peak < 2 * 1024 * 1024, f"peak {peak} bytes"
    print(f"tail of 200 MB: {elapsed * 1000:.1f} ms, peak {peak / 1024:.0f} KiB")


def test_filtered_search_stops_at_its_byte_budget(huge_log):
    # The only other ERROR is 200 MB up: the budget (16 MB by default) ends the search first.
    tail, peak, elapsed = peak_memory_of(lambda: log_tail(huge_log, level="ERROR"))
    assert [line.rsplit("|", 1)[1].strip() for line in tail] == ["last failure 99"]
    assert peak < 2 * 1024 * 1024, f"peak {peak} bytes"
    print(f"budgeted search: {elapsed * 1000:.1f} ms, peak {peak / 1024:.0f} KiB")
