"""LOG_FORMAT=json: every sink writes one JSON object per line (the job log of a real `cronjobs run`
process, its console, the site log); any value but text/json stops the program with one line."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from loguru import logger

import oms_conf.logging

from basic.cron_runtime.console.logtail import log_tail
from tests.cron_runtime.helpers import run_manage
from tests.helpers import PROJECT_DIR

pytestmark = pytest.mark.django_db(transaction=True)  # the child processes write the run records


def json_lines(text: str) -> list[dict]:
    """Every non-empty line parsed as one JSON object (fails on any line that is not one)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_json_job_log_from_a_real_run(test_jobs, cron_env, manage_py, tmp_path, monkeypatch):
    env = dict(cron_env, LOG_FORMAT="json")
    ok = run_manage(manage_py, env, "cronjobs", "run", "test_noop")
    failed = run_manage(manage_py, env, "cronjobs", "run", "failing")
    assert ok.returncode == 0, ok.stderr
    assert failed.returncode != 0

    logs = tmp_path / "logs" / "crontab"
    noop = json_lines((logs / "test_noop.log").read_text(encoding="utf-8"))
    assert noop[0]["message"].startswith("start tests.cron_runtime.jobs.noop")
    assert "noop job says hello " in [line["message"] for line in noop]
    for line in noop:
        assert line["job"] == "test_noop" and line["level"] in {"INFO", "DEBUG"} and line["pid"] > 0
        assert line["time"][:4].isdigit() and line["time"].endswith("+08:00")  # TIME_ZONE, with its offset

    failing = json_lines((logs / "failing.log").read_text(encoding="utf-8"))
    errors = [line for line in failing if line["level"] == "ERROR"]
    # The traceback stays inside its JSON object: the file has no bare "Traceback" line.
    assert errors and "RuntimeError: boom" in errors[0]["exception"]
    assert errors[0]["exception"].startswith("Traceback (most recent call last)")

    # The staff page's log tail filters JSON records by level too.
    assert [json.loads(line)["level"] for line in log_tail(logs / "failing.log", lines=50, level="ERROR")] == ["ERROR"]

    # A batch of lines a job formats itself (one raw write, see joblog.LineBatch) is JSON too.
    from basic.cron_runtime.running.joblog import LineBatch, job_log

    monkeypatch.setitem(oms_conf.logging._state, "format", "json")
    monkeypatch.setitem(oms_conf.logging._state, "log_dir", tmp_path / "batch")
    with job_log("batched"), logger.contextualize(job="batched"):
        batch = LineBatch()
        batch.add("task #1 done")
        batch.add("task #2 done")
        batch.flush()
    batched = json_lines((tmp_path / "batch" / "crontab" / "batched.log").read_text(encoding="utf-8"))
    assert [(line["message"], line["job"], line["level"]) for line in batched] == [
        ("task #1 done", "batched", "INFO"), ("task #2 done", "batched", "INFO")]
    assert set(batched[0]) == set(noop[0]) and batched[0]["time"].endswith("+08:00")


def test_json_site_log(tmp_path):
    code = "from loguru import logger; logger.bind(order='A1').warning('hello {json}')"
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="oms_test.settings_test", LOG_DIR=str(tmp_path),
               OMS_HOSTNAME="web-7", LOG_FORMAT="json")
    result = subprocess.run([sys.executable, "manage.py", "shell", "--no-imports", "-c", code], cwd=PROJECT_DIR,
                            env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    line = json_lines((tmp_path / "oms.log").read_text(encoding="utf-8"))[-1]
    assert line["message"] == "hello {json}" and line["level"] == "WARNING" and line["host"] == "web-7"
    assert line["job"] is None and line["extra"] == {"order": "A1"}
    assert json_lines(result.stderr)[-1] == line  # the console: the same JSON object


@pytest.mark.parametrize("value", ["xml", "JSON "])
def test_an_unknown_log_format_is_refused_in_one_line(value):
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="oms_test.settings_test", LOG_FORMAT=value)
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=PROJECT_DIR, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"configuration error: LOG_FORMAT={value!r} is not valid: use text (the default) or json"], result.stderr


def test_a_batched_text_line_is_stamped_with_its_own_millisecond_second_and_zone(monkeypatch):
    """format_line formats each second's date, time and offset once: a line must still show its own
    millisecond, the next second the moment it starts, and a changed TIME_ZONE at once."""
    import time

    def line_at(nanoseconds: int, zone: str) -> str:
        monkeypatch.setattr(time, "time_ns", lambda: nanoseconds)
        monkeypatch.setitem(oms_conf.logging._state, "time_zone", zone)
        return oms_conf.logging.format_line("INFO", "task #1 done", job="timed_tasks")

    monkeypatch.setitem(oms_conf.logging._state, "format", "text")
    monkeypatch.setitem(oms_conf.logging._state, "host", "web-7")
    last_ns_of_2025 = 1_767_225_599_999_999_999  # 2025-12-31 23:59:59.999999999 UTC
    tail = f" | INFO     | web-7 | pid {os.getpid()} | task #1 done\n"
    assert line_at(last_ns_of_2025 - 998_000_000, "Asia/Shanghai") == "2026-01-01 07:59:59.001 +08:00" + tail
    assert line_at(last_ns_of_2025, "Asia/Shanghai") == "2026-01-01 07:59:59.999 +08:00" + tail
    assert line_at(last_ns_of_2025 + 1, "Asia/Shanghai") == "2026-01-01 08:00:00.000 +08:00" + tail
    assert line_at(last_ns_of_2025 + 1, "America/New_York") == "2025-12-31 19:00:00.000 -05:00" + tail
    assert line_at(last_ns_of_2025 + 1, "Asia/Kolkata") == "2026-01-01 05:30:00.000 +05:30" + tail
