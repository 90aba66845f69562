"""Alerts where staff already are: every Apprise URL in ``settings.ALERT_URLS`` (钉钉 ``dingtalk://``,
企业微信 ``wecombot://``, ``slack://``, ``mailto://``, ``json://`` …), beside the ADMINS mail.

Each channel is sent to on its own, with Apprise's own short timeouts: one that cannot be reached
never stops the others and never fails a job (the caller's run is recorded already). Its outage is
logged once, when it starts, and once more when the channel answers again: the state is a key in
the shared cache, so the cron processes, `serve`'s children and Celery workers agree on it.
"""
from __future__ import annotations

import hashlib

from django.core.cache import cache

from basic.cron_runtime import conf
from loguru import logger

OUTAGE_KEY = "cron-alert-channel-down:{}"


def _shown(url: str) -> str:
    """The channel's URL without its secrets (tokens, passwords), for the log."""
    import apprise

    plugin = apprise.Apprise.instantiate(url)
    return plugin.url(privacy=True) if plugin else url.split("://", 1)[0] + "://…"


def _key(url: str) -> str:
    return OUTAGE_KEY.format(hashlib.sha256(url.encode()).hexdigest()[:24])


def notify_channels(title: str, body: str, *, failing: bool) -> int:
    """Send one message to each ALERT_URLS channel; returns how many took it. Never raises."""
    urls = list(conf.ALERT_URLS or [])
    if not urls:
        return 0
    import apprise

    sent = 0
    for url in urls:
        try:
            channel = apprise.Apprise()
            if not channel.add(url):
                raise ValueError("Apprise does not understand this URL")
            ok = channel.notify(title=title, body=body,
                                notify_type=apprise.NotifyType.FAILURE if failing else apprise.NotifyType.SUCCESS)
            problem = None if ok else "the channel did not take the message (unreachable, or it refused it)"
        except Exception as exc:  # noqa: BLE001 — any failure of one channel is that channel's outage, nothing more
            problem = f"{type(exc).__name__}: {exc}"
        sent += problem is None
        _note_channel_state(url, problem)
    return sent


def _note_channel_state(url: str, problem: str | None) -> None:
    """Log a channel's outage once when it starts, and once when it ends (the state kept in the cache)."""
    key = _key(url)
    try:
        if problem is not None:
            if cache.add(key, problem, timeout=None):
                logger.error(f"alert channel {_shown(url)} unreachable: {problem} — alerts go on to the other "
                             "channels and ADMINS; this is logged once until the channel answers again")
        elif cache.delete(key):
            logger.info(f"alert channel {_shown(url)} answers again")
    except Exception:  # noqa: BLE001 — the cache down too: log every time rather than never
        if problem is not None:
            logger.error(f"alert channel {_shown(url)} unreachable: {problem}")


def alert_url_problems(urls: list[str]) -> list[str]:
    """The ALERT_URLS entries Apprise cannot use, for `manage.py check` (no message is sent)."""
    if not urls:
        return []
    import apprise

    return [f"{_shown(url)} is not an Apprise URL it can use" for url in urls if apprise.Apprise.instantiate(url) is None]
