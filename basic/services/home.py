"""The home page's data, built once and kept in the cache that web and cron share.

Building it runs the expensive queries (catalog, best sellers); the web view only
reads the cache, and the refresh_home_cache job rebuilds it every few minutes so a
visitor never pays for the build. If the cache is empty (cold start, eviction) the
view builds and stores it itself.
"""
from __future__ import annotations

from collections.abc import Callable

from django.core.cache import cache
from django.db.models import Value
from django.utils import timezone

from basic.models import Product

HOME_CACHE_KEY = "home:page:v1"
HOME_CACHE_TIMEOUT = 15 * 60  # longer than the refresh interval, so a late job never empties it


# How many units of each product were sold, and to how many buyers: orders are the order
# app's, which registers the annotations at start-up (basic never imports order).
_sales_annotations: Callable[[], dict] | None = None


def home_sales_annotations_set(annotations: Callable[[], dict]) -> None:
    """Register the ``sold`` and ``buyers`` annotations on Product that the home page shows."""
    global _sales_annotations
    _sales_annotations = annotations


def home_page_build() -> dict:
    sales = _sales_annotations() if _sales_annotations else {"sold": Value(0), "buyers": Value(0)}
    products = list(
        Product.objects.annotate(**sales)
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
    return data


def home_page_data() -> dict:
    data = cache.get(HOME_CACHE_KEY)
    return data if data is not None else home_page_refresh()
