"""What `make run` says and starts in each situation, and what the dashboard then shows, in chromium.

`make run` ends in scripts/run_site.py (after pip, migrate and load_demo), which decides who starts
the jobs; it runs here with a controlled environment: the test jobs, the test database, a missing or
the real `crontab` program, the real cron daemon, a real Celery worker and beat on the tests' Redis.
"""
from __future__ import annotations

import os
import re

import pytest

from basic.cron_runtime.installer import cron_daemon_running
from tests.cron_runtime.engines.celery.helpers import celery_env
from tests.cron_runtime.helpers import wait_for
from tests.helpers import PROJECT_DIR, SCREENSHOT_DIR
from tests.make_run.helpers import RunSite, dashboard_after_heartbeat, make_staff, open_dashboard
from tests.smtp import free_port

pytestmark = [pytest.mark.browser, pytest.mark.one_database, pytest.mark.django_db(transaction=True)]

SERVE_STARTS = "`manage.py cronjobs serve` starts the jobs next to the web server (log: logs/crontab/serve.log)."


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _serve_pid(tmp_path) -> int:
    lock = tmp_path / "logs" / "crontab" / "serve.pid"
    return int(wait_for(lambda: lock.exists() and lock.read_text().strip(), 60, "the ticker's pid file"))


def test_without_a_crontab_program_the_ticker_starts_the_jobs_and_the_dashboard_says_so(
        browser_page, cron_env, django_user_model, tmp_path):
    page = browser_page
    make_staff(django_user_model)
    env = {**cron_env, "TEST_CRONTAB_EXECUTABLE": str(tmp_path / "no-such-crontab")}
    with RunSite(env) as site:
        site.wait_until_serving()
        assert f"No `crontab` program here (apt-get install cron), so no crontab lines: {SERVE_STARTS}" in site.lines
        assert "A cron daemon is running" not in site.output and "crontab of" not in site.output
        serve_pid = _serve_pid(tmp_path)
        open_dashboard(page, site)
        engine = page.locator("#engine")
        assert engine.get_attribute("data-starter") == "serve"
        assert engine.inner_text() == f"调度引擎：cronjobs serve（pid {serve_pid}）在本机启动任务（没有安装 crontab 程序）"
        dashboard_after_heartbeat(page, site, "ticker")
        assert "由 cronjobs serve 启动" in page.locator("#heartbeat").inner_text()
        assert "crontab 中为" not in page.content()  # no lines, so no widened line to mention
        assert "`" not in page.locator("main").inner_text()
        page.screenshot(path=str(SCREENSHOT_DIR / "make-run-no-crontab.png"), full_page=True)
    assert site.lines[-1] == "cronjobs serve stopped."
    assert _gone(serve_pid)


def test_with_crontab_but_no_daemon_the_lines_are_installed_and_the_ticker_starts_the_jobs(
        browser_page, cron_env, real_crontab, django_user_model, tmp_path):
    if cron_daemon_running():
        pytest.skip("a cron daemon runs on this machine: this situation needs none")
    page = browser_page
    make_staff(django_user_model)
    with RunSite(cron_env) as site:
        site.wait_until_serving()
        assert any(re.match(r"crontab of \S+: \d+ added", line) for line in site.lines), site.output
        assert f"No cron daemon is running, so the crontab lines start nothing: {SERVE_STARTS}" in site.lines
        serve_pid = _serve_pid(tmp_path)
        open_dashboard(page, site)
        engine = page.locator("#engine")
        assert engine.get_attribute("data-starter") == "serve"
        assert engine.inner_text() == (f"调度引擎：cronjobs serve（pid {serve_pid}）在本机启动任务"
                                       "（crontab 行已安装，但没有 cron 守护进程在运行）")
    assert site.lines[-1] == "cronjobs serve stopped."
    assert _gone(serve_pid)


@pytest.mark.cron_daemon
def test_with_a_cron_daemon_its_lines_start_the_jobs_and_no_ticker_runs(
        browser_page, cron_daemon, real_crontab, cron_env, django_user_model, tmp_path):
    page = browser_page
    make_staff(django_user_model)
    with RunSite(cron_env) as site:
        site.wait_until_serving()
        said = "A cron daemon is running: the crontab lines start the jobs (`cronjobs serve` not started)."
        assert said in site.lines
        assert not (tmp_path / "logs" / "crontab" / "serve.pid").exists()
        open_dashboard(page, site)
        engine = page.locator("#engine")
        assert engine.get_attribute("data-starter") == "crontab"
        assert engine.inner_text() == "调度引擎：cron 守护进程按 crontab add 安装的 crontab 行启动任务"
        dashboard_after_heartbeat(page, site, "cron")  # the daemon fired the heartbeat's line
        assert "由 cron 守护进程 启动" in page.locator("#heartbeat").inner_text()
        page.screenshot(path=str(SCREENSHOT_DIR / "make-run-cron-daemon.png"), full_page=True)
    assert "stopped" not in site.lines[-1]  # nothing of its own to stop: the daemon is the system's


def test_under_celery_a_worker_and_beat_start_next_to_the_site_and_stop_on_ctrl_c(
        browser_page, subprocess_env, broker_url, django_user_model, tmp_path):
    page = browser_page
    make_staff(django_user_model)
    env = celery_env({**subprocess_env, "LOG_DIR": str(tmp_path / "logs")}, broker_url=broker_url, jobs="real")
    with RunSite(env) as site:
        site.wait_until_serving()
        said = next(line for line in site.lines if line.startswith("SCHEDULER=celery"))
        beat_pid, worker_pid = map(int, re.match(
            r"SCHEDULER=celery: Celery beat \(pid (\d+)\) starts the jobs, one tick a minute through "
            rf"CELERY_BROKER_URL={re.escape(broker_url)}; a worker \(pid (\d+)\) runs them from the queues "
            r"jobs, jobs_long\. Ctrl-C stops both\.$", said).groups())
        assert "crontab" not in site.output and "cronjobs serve" not in site.output  # neither starts anything here
        open_dashboard(page, site)
        engine = page.locator("#engine")
        assert engine.get_attribute("data-starter") == "celery"
        assert engine.inner_text().startswith(f"调度引擎：Celery beat 每分钟向 {broker_url} 发送一次 tick")
        dashboard_after_heartbeat(page, site, "celery")
        assert "由 Celery beat 启动" in page.locator("#heartbeat").inner_text()
        page.screenshot(path=str(SCREENSHOT_DIR / "make-run-celery.png"), full_page=True)
    assert site.lines[-1] == "Celery worker and beat stopped."
    assert _gone(beat_pid) and _gone(worker_pid)


def test_under_celery_with_redis_down_one_line_names_the_broker_setting_and_the_dashboard_says_nobody_runs_jobs(
        browser_page, subprocess_env, django_user_model, tmp_path):
    page = browser_page
    make_staff(django_user_model)
    nowhere = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    env = celery_env({**subprocess_env, "LOG_DIR": str(tmp_path / "logs")}, broker_url=nowhere, jobs="real")
    with RunSite(env) as site:
        site.wait_until_serving()
        about_redis = [line for line in site.lines if "CELERY_BROKER_URL" in line]
        assert about_redis == [f"!! SCHEDULER=celery, but Redis at CELERY_BROKER_URL={nowhere} is unreachable: no "
                               "worker or beat started, so no job runs — start Redis (or fix CELERY_BROKER_URL) and "
                               "`make run` again."]
        open_dashboard(page, site)
        engine = page.locator("#engine")
        assert engine.get_attribute("data-starter") == "nobody"
        assert engine.inner_text() == (f"调度引擎：没有程序能启动任务——SCHEDULER=celery，但 CELERY_BROKER_URL={nowhere} "
                                       "连接不上（启动 Redis 或修改该设置）")
        assert "调度器从未心跳" in page.locator("#heartbeat").inner_text()
        assert f"celery: the broker {nowhere} is unreachable" in page.locator("#problems").inner_text()
    assert "stopped." not in site.lines[-1]  # it started nothing to stop


@pytest.mark.parametrize(("variables", "address"), [([], "127.0.0.1:8000"), (["PORT=8001"], "127.0.0.1:8001"),
                                                     (["ADDR=0.0.0.0:8002"], "0.0.0.0:8002")])
def test_make_run_serves_where_port_or_addr_says(variables, address):
    """`make run PORT=…` / `ADDR=…` reach run_site.py, which serves there (the tests above serve on free ports)."""
    import subprocess

    planned = subprocess.run(["make", "-n", "run", *variables], cwd=PROJECT_DIR, capture_output=True, text=True,
                             check=True, env={k: v for k, v in os.environ.items() if k not in ("PORT", "ADDR")})
    assert planned.stdout.splitlines()[-1].endswith(f"scripts/run_site.py {address}")


@pytest.mark.parametrize(("address", "gateway"), [("127.0.0.1:8001", "http://127.0.0.1:8001/gateway/"),
                                                  ("0.0.0.0:8002", "http://127.0.0.1:8002/gateway/"),
                                                  ("8003", "http://127.0.0.1:8003/gateway/")])
def test_the_gateway_query_reaches_the_simulator_on_the_port_make_run_serves(address, gateway):
    import importlib.util

    spec = importlib.util.spec_from_file_location("run_site", PROJECT_DIR / "scripts" / "run_site.py")
    run_site = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_site)
    assert run_site.simulator_url(address) == gateway
