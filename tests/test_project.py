"""Project-level behaviour: configuration from the environment, demo data, logging format."""
import os
import re
import subprocess
import sys

import pytest

from basic.cron_runtime.models import TimedTask, TimedTaskStatus
from basic.models import Coupon, PointsEntry, Product, Profile
from order.models import Order, OrderStatus
from oms_test.demo import demo_load
from tests.helpers import PROJECT_DIR


def run_check(env_overrides: dict) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "PAYMENT_SECRET", "DEBUG", "OMS_ENV_FILE")}
    env.update(DJANGO_SETTINGS_MODULE="oms_test.settings", OMS_IGNORE_DOTENV="1", **env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_production_refuses_to_start_without_secrets():
    result = run_check({})
    assert result.returncode != 0
    assert "SECRET_KEY and PAYMENT_SECRET must be set to a random value" in result.stderr


def test_production_refuses_the_placeholder_and_short_secrets():
    result = run_check({"SECRET_KEY": "change-me", "PAYMENT_SECRET": "x" * 40})
    assert result.returncode != 0 and "SECRET_KEY must be set to a random value" in result.stderr
    result = run_check({"SECRET_KEY": "s" * 50, "PAYMENT_SECRET": "short"})
    assert result.returncode != 0 and "PAYMENT_SECRET must be set to a random value" in result.stderr
    assert run_check({"SECRET_KEY": "s" * 50, "PAYMENT_SECRET": "p" * 40}).returncode == 0


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("CANCEL_TIMEOUTS_CHUNK_SIZE", "0", "CANCEL_TIMEOUTS_CHUNK_SIZE=0 is too small: it must be at least 1"),
    ("CRON_LOCK_TTL", "-30", "CRON_LOCK_TTL=-30 is too small: it must be at least 3"),
    ("ORDER_TIMEOUT", "0", "ORDER_TIMEOUT=0 is too small: it must be at least 1"),
    ("ORDER_TIMEOUT", "1h", "ORDER_TIMEOUT='1h' is not a whole number"),
])
def test_numeric_settings_out_of_range_are_refused_by_name(variable, value, message):
    """A chunk size of 0 would cancel nothing every minute and a negative lock TTL would let two
    runs overlap, each while "succeeding": such values must stop the site with a clear error."""
    result = run_check({"SECRET_KEY": "s" * 50, "PAYMENT_SECRET": "p" * 40, variable: value})
    assert result.returncode != 0 and message in result.stderr, result.stderr[-500:]


def test_settings_come_from_the_environment():
    code = (
        "from django.conf import settings as s;"
        "print(s.DATABASES['default']['ENGINE'], s.TIME_ZONE, s.ORDER_TIMEOUT, s.CACHES['default']['BACKEND'])"
    )
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="oms_test.settings", OMS_IGNORE_DOTENV="1", SECRET_KEY="k" * 40,
               PAYMENT_SECRET="p" * 40, DATABASE_URL="mysql://u:p@127.0.0.1:3306/x", TIME_ZONE="Europe/Paris",
               ORDER_TIMEOUT="900", CACHE_URL=os.environ["CELERY_BROKER_URL"])  # the run's own Redis database
    result = subprocess.run([sys.executable, "manage.py", "shell", "--no-imports", "-c", code], cwd=PROJECT_DIR, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.mysql", "Europe/Paris", "900", "django.core.cache.backends.redis.RedisCache"
    ]


def test_an_env_file_fills_in_what_the_environment_does_not_set(tmp_path):
    """.env / OMS_ENV_FILE (cron's .cron.env) give values; a real environment variable always wins."""
    env_file = tmp_path / "site.env"
    env_file.write_text("ORDER_TIMEOUT=123\nTIME_ZONE=Europe/Paris\n")
    code = "from django.conf import settings as s; print(s.ORDER_TIMEOUT, s.TIME_ZONE)"
    base = {k: v for k, v in os.environ.items() if k not in ("ORDER_TIMEOUT", "TIME_ZONE")}
    base.update(DJANGO_SETTINGS_MODULE="oms_test.settings", OMS_IGNORE_DOTENV="1", SECRET_KEY="k" * 40,
                PAYMENT_SECRET="p" * 40, OMS_ENV_FILE=str(env_file))

    def settings_seen(**overrides) -> list[str]:
        result = subprocess.run([sys.executable, "manage.py", "shell", "--no-imports", "-c", code], cwd=PROJECT_DIR,
                                env={**base, **overrides}, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr
        return result.stdout.split()

    assert settings_seen() == ["123", "Europe/Paris"]
    assert settings_seen(ORDER_TIMEOUT="900") == ["900", "Europe/Paris"]


@pytest.mark.django_db
def test_load_demo_is_idempotent_and_covers_every_state():
    first = demo_load()
    counts = (Order.objects.count(), Product.objects.count(), Coupon.objects.count(), PointsEntry.objects.count())
    second = demo_load()
    assert second["orders_made"] == 0 and first["orders_made"] > 0
    assert counts == (Order.objects.count(), Product.objects.count(), Coupon.objects.count(), PointsEntry.objects.count())

    alice = Order.objects.filter(user__username="alice")
    assert {o.order_status for o in alice} == set(OrderStatus.values)
    assert any(o.order_status == OrderStatus.UNPAID and o.is_expired() for o in alice)  # expired, no job yet
    assert any(o.order_status == OrderStatus.UNPAID and not o.is_expired() for o in alice)
    months = {o.created_time.strftime("%Y-%m") for o in alice}
    assert len(months) >= 3
    assert Profile.objects.get(user__username="bob").birthday.strftime("%m-%d") == "02-29"
    for profile in Profile.objects.all():
        assert profile.points == sum(e.delta for e in PointsEntry.objects.filter(user=profile.user))
    # Timed tasks for the staff page: pending (the unpaid orders' reminders, a job to run once), done, failed.
    statuses = set(TimedTask.objects.values_list("status", flat=True))
    assert {TimedTaskStatus.PENDING, TimedTaskStatus.DONE, TimedTaskStatus.FAILED} <= statuses
    assert first["timed_tasks_made"] == 3 and second["timed_tasks_made"] == 0
    unpaid = [o for o in alice if o.order_status == OrderStatus.UNPAID and not o.is_expired()]
    assert all(TimedTask.objects.get(key=f"order-reminder:{o.order_number}").status == TimedTaskStatus.PENDING
               for o in unpaid)


def test_log_lines_carry_zone_level_host_and_pid(tmp_path):
    code = (
        "from loguru import logger; logger.warning('hello from test')"
    )
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="oms_test.settings_test", LOG_DIR=str(tmp_path),
               OMS_HOSTNAME="web-7", TIME_ZONE="Asia/Shanghai")
    result = subprocess.run([sys.executable, "manage.py", "shell", "--no-imports", "-c", code], cwd=PROJECT_DIR, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    line = (tmp_path / "oms.log").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \+08:00 \| WARNING  \| web-7 \| pid \d+ \| hello from test$", line), line


@pytest.mark.django_db
def test_load_demo_works_on_29_february_and_keeps_birthday_today():
    from datetime import date

    demo_load(today=date(2028, 2, 29))
    assert Profile.objects.get(user__username="alice").birthday.strftime("%m-%d") == "02-29"
    demo_load(today=date(2028, 3, 1))  # loaded again another day: alice's birthday follows
    assert Profile.objects.get(user__username="alice").birthday.strftime("%m-%d") == "03-01"


def test_a_refused_setting_is_one_line_naming_it_and_traceback_shows_where():
    """A configuration fault is the sysadmin's to fix: one line, no page of traceback (--traceback gives it)."""
    overrides = {"SECRET_KEY": "s" * 50, "PAYMENT_SECRET": "p" * 40, "ORDER_TIMEOUT": "0"}
    result = run_check(overrides)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "configuration error: ORDER_TIMEOUT=0 is too small: it must be at least 1 (seconds an order may stay unpaid)"]
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "PAYMENT_SECRET", "DEBUG", "OMS_ENV_FILE")}
    env.update(DJANGO_SETTINGS_MODULE="oms_test.settings", OMS_IGNORE_DOTENV="1", **overrides)
    verbose = subprocess.run([sys.executable, "manage.py", "check", "--traceback"], cwd=PROJECT_DIR, env=env,
                             capture_output=True, text=True, timeout=60, check=False)
    assert verbose.returncode != 0 and "Traceback (most recent call last)" in verbose.stderr
