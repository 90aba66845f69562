"""The home page's data, built once and kept in the cache that web and cron share.

Building it runs the expensive queries (catalog, best sellers); the web view only
reads the cache, and the refresh_home_cache job rebuilds it every few minutes so a
visitor never pays for the build. If the cache is empty (cold start, eviction) the
view builds and stores it itself.
"""
from __future__ import annotations

from django.core.cache import cache
from django.db.models import Count, Q, Sum
from django.utils import timezone

from basic.models import Product

HOME_CACHE_KEY = "home:page:v1"
HOME_CACHE_TIMEOUT = 15 * 60  # longer than the refresh interval, so a late job never empties it


def home_page_build() -> dict:
    from order.models import OrderStatus  # order depends on basic, not the other way round at import time

    paid = OrderStatus.PAID
    products = list(
        Product.objects.annotate(
            sold=Sum("order_items__quantity", filter=Q(order_items__order__order_status=paid), default=0),
            buyers=Count("order_items__order__user", filter=Q(order_items__order__order_status=paid), distinct=True),
        )
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
