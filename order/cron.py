"""Scheduled jobs of the order app (settings.CRONJOBS). Thin: each calls one service.

They run through the one runner (basic.cron_runtime), which records the run, writes
logs/crontab/<job>.log and turns a failure into a non-zero exit.
"""
from __future__ import annotations

from loguru import logger

from basic.cron_runtime.running.progress import run_now
from basic.cron_runtime.running.result import JobReport
from order.services.finance import finance_catch_up, finance_settle
from order.services.home import home_page_refresh
from order.services.timeouts import orders_cancel_timed_out, restored_summary


def cancel_timeouts() -> JobReport:
    """Unpaid orders past ORDER_TIMEOUT → 超时取消, stock/coupon/points given back, exactly once.

    Then the finance record of a month whose last payment window has just closed is
    computed again (``finance_settle``): its unpaid orders are now paid or timed out. Both
    judge at the run's one moment.
    """
    now = run_now()
    restored = orders_cancel_timed_out(now=now)
    message = restored_summary(restored)
    settled = finance_settle(now=now)
    if settled:
        message += f"; finance recomputed for {', '.join(f'{m:%Y-%m}' for m in settled)} (payment windows closed)"
    logger.info(message)
    return JobReport(items_processed=restored.orders, message=message)


def monthly_finance() -> JobReport:
    """One FinanceRecord per finished month (TIME_ZONE), catching up every missing month."""
    months = finance_catch_up(now=run_now())
    message = (
        f"finance recorded for {len(months)} month(s): {', '.join(f'{m:%Y-%m}' for m in months)}"
        if months
        else "finance: every finished month already has its record"
    )
    logger.info(message)
    return JobReport(items_processed=len(months), message=message)


def refresh_home_cache() -> JobReport:
    """Rebuild the cached home page in the cache the web processes read."""
    data = home_page_refresh()
    message = f"home page cache rebuilt: {len(data['products'])} products, built at {data['built_at']:%Y-%m-%d %H:%M:%S %Z}"
    logger.info(message)
    return JobReport(items_processed=len(data["products"]), message=message)
