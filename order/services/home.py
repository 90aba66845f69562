"""The home page's data, built once and kept in the cache that web and cron share.

Building it runs the expensive queries (catalog, best sellers); the web view only
reads the cache, and the refresh_home_cache job rebuilds it every few minutes so a
visitor never pays for the build. The figures come from a per-product summary, so the
build reads products and that summary only, whatever the number of orders.

When the cache is empty (cold start, flush, eviction) one process rebuilds it: the one that
wins ``cache.add`` of a short build lock. The others serve the previous copy, kept under a
second key without expiry, or, when there is none (the very first start), wait for the
builder's copy a few seconds. ``cache.add`` is atomic on Redis, memcached, the database and
local-memory caches; on the file cache (a one-host default) two processes racing within the
same instant may both build, which is harmless.
"""
from __future__ import annotations

import time

from django.core.cache import cache
from django.utils import timezone

from basic.models import Product
from order.selectors import product_sales_annotations

HOME_CACHE_KEY = "home:page:v1"
HOME_CACHE_TIMEOUT = 15 * 60  # longer than the refresh interval, so a late job never empties it
HOME_PREVIOUS_KEY = "home:page:v1:previous"  # the last copy built, never expires: served while one rebuilds
HOME_BUILD_LOCK_KEY = "home:page:v1:building"
HOME_BUILD_LOCK_TIMEOUT = 60  # a builder that died frees the lock after this
HOME_BUILD_WAIT = 5.0  # seconds a visitor waits for another process's first build


def home_page_build() -> dict:
    products = list(
        Product.objects.annotate(**product_sales_annotations())
        .order_by("id")
        .values("id", "name", "price", "stock", "is_course", "description", "sold", "buyers")
    )
    return {
        "products": products,
        "best_sellers": sorted(products, key=lambda p: p["sold"], reverse=True)[:5],
        "built_at": timezone.now(),
    }


def home_page_refresh() -> dict:
    data = home_page_build()
    cache.set(HOME_CACHE_KEY, data, HOME_CACHE_TIMEOUT)
    cache.set(HOME_PREVIOUS_KEY, data, None)
    return data


def home_page_data() -> dict:
    """The cached page; on a miss, rebuilt by one process while the others serve the previous copy."""
    data = cache.get(HOME_CACHE_KEY)
    if data is not None:
        return data
    if cache.add(HOME_BUILD_LOCK_KEY, True, HOME_BUILD_LOCK_TIMEOUT):
        try:
            return home_page_refresh()
        finally:
            cache.delete(HOME_BUILD_LOCK_KEY)
    previous = cache.get(HOME_PREVIOUS_KEY)
    if previous is not None:
        return previous
    deadline = time.monotonic() + HOME_BUILD_WAIT
    while time.monotonic() < deadline:
        time.sleep(0.05)
        data = cache.get(HOME_CACHE_KEY)
        if data is not None:
            return data
    return home_page_build()  # the builder is stuck: this visitor still gets a page, not stored
