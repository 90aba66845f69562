"""refresh_home_cache: the job rebuilds the page data in the cache the web processes read."""
from __future__ import annotations

import os
import subprocess
import uuid

import pytest
from django.core.cache import cache, caches
from django.test import override_settings

from order import cron
from order.services.home import HOME_CACHE_KEY, home_page_data
from tests.factories import make_product

# The Redis database this test run chose (OMS_TEST_REDIS_DB, see oms_test/settings_test.py), never another.
REDIS_URL = os.environ["CELERY_BROKER_URL"]


def redis_or_skip():
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.skip(f"no Redis at {REDIS_URL}: {exc}")


@pytest.fixture(autouse=True)
def _own_empty_cache(settings, tmp_path):
    """A file cache of this test's own: test runs in parallel must not see each other's home page."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path / "cache")}
    }


def product_names(data) -> list[str]:
    return [p["name"] for p in data["products"]]


@pytest.mark.django_db
def test_page_served_after_a_refresh_shows_the_new_data(client):
    make_product(name="Python 入门")
    assert client.get("/").status_code == 200  # cold cache: the view builds and stores the data
    make_product(name="Django 进阶")
    assert "Django 进阶" not in client.get("/").content.decode()  # served from the cache

    report = cron.refresh_home_cache()

    assert report.items_processed == 2 and report.message.startswith("home page cache rebuilt: 2 products")
    assert "Django 进阶" in client.get("/").content.decode()


@pytest.mark.django_db
def test_empty_cache_still_serves_the_page_and_fills_the_cache(client):
    make_product(name="冷启动课程")
    assert cache.get(HOME_CACHE_KEY) is None
    response = client.get("/")
    assert response.status_code == 200 and "冷启动课程" in response.content.decode()
    assert product_names(cache.get(HOME_CACHE_KEY)) == ["冷启动课程"]


@pytest.mark.django_db
def test_refresh_into_redis_is_what_a_fresh_connection_reads():
    redis_or_skip()
    redis_cache = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"test-jobs-{uuid.uuid4().hex}",
        }
    }
    with override_settings(CACHES=redis_cache):
        make_product(name="旧数据")
        home_page_data()
        make_product(name="新数据")
        cron.refresh_home_cache()

        web_process_cache = caches.create_connection("default")  # a separate client, as a web worker has
        try:
            assert "redis" in type(web_process_cache).__module__
            assert product_names(web_process_cache.get(HOME_CACHE_KEY)) == ["旧数据", "新数据"]
        finally:
            web_process_cache.delete(HOME_CACHE_KEY)
            web_process_cache.close()


@pytest.mark.django_db(transaction=True)
def test_refresh_in_a_cron_process_is_seen_by_the_web_process_through_the_file_cache(tmp_path, subprocess_env, manage_py):
    cache_dir = tmp_path / "shared-cache"
    file_cache = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(cache_dir)}}
    make_product(name="跨进程课程")
    with override_settings(CACHES=file_cache):
        assert cache.get(HOME_CACHE_KEY) is None

        env = {**subprocess_env, "CACHE_URL": f"filecache://{cache_dir}"}
        code = "from order.cron import refresh_home_cache; print(refresh_home_cache().message)"
        done = subprocess.run([*manage_py, "shell", "-c", code], check=False, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "home page cache rebuilt: 1 products" in done.stdout

        assert product_names(cache.get(HOME_CACHE_KEY)) == ["跨进程课程"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("previous_copy", [False, True], ids=["first-start", "expired"])
def test_a_cold_cache_is_rebuilt_by_one_of_many_concurrent_visitors(monkeypatch, previous_copy):
    """Eight visitors hit an empty cache at once: one builds; the others wait for its copy or serve the previous one."""
    from order.services import home
    from tests.jobs.helpers import run_in_threads

    redis_or_skip()
    shared = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                          "KEY_PREFIX": f"test-home-{uuid.uuid4().hex}"}}
    make_product(name="热门课程")
    builds = []
    real_build = home.home_page_build

    def slow_counted_build():
        builds.append(1)
        data = real_build()
        import time
        time.sleep(0.5)  # a build long enough for every visitor to miss the cache meanwhile
        return data

    with override_settings(CACHES=shared):
        try:
            if previous_copy:
                home.home_page_refresh()
                cache.delete(HOME_CACHE_KEY)  # expired; the previous copy stays
            monkeypatch.setattr(home, "home_page_build", slow_counted_build)

            pages = run_in_threads(*[home.home_page_data] * 8)

            assert len(builds) == 1
            assert all(product_names(page) == ["热门课程"] for page in pages)
            assert product_names(cache.get(HOME_CACHE_KEY)) == ["热门课程"]
        finally:
            cache.delete_many([HOME_CACHE_KEY, home.HOME_PREVIOUS_KEY, home.HOME_BUILD_LOCK_KEY])
