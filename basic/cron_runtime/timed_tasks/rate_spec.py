"""Queue rates as written in settings ("2/s", "600/m", "10000/h"): parsed and checked, no Django.

Settings import this module to refuse a bad ``TIMED_TASK_QUEUES`` with one line naming it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*$")
_PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}
_QUEUE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,49}$")


class RateSpecError(ValueError):
    """A rate or queue name that cannot be used; the message says what is expected."""


@dataclass(frozen=True)
class QueueRate:
    limit: int  # at most this many calls …
    period: int  # … in any window of this many seconds

    @property
    def per_second(self) -> float:
        return self.limit / self.period

    @property
    def per_hour(self) -> int:
        return round(self.per_second * 3600)

    def __str__(self) -> str:
        return f"{self.limit}/{ {1: 's', 60: 'm', 3600: 'h'}[self.period] }"


def rate_parse(text: str) -> QueueRate:
    match = _RATE.match(str(text))
    if not match or int(match.group(1)) < 1:
        raise RateSpecError(f"rate {text!r} is not N/s, N/m or N/h with a whole N ≥ 1 (e.g. 2/s)")
    return QueueRate(int(match.group(1)), _PERIODS[match.group(2)])


def queue_rates_parse(spec) -> dict[str, QueueRate]:
    """``{"gateway": "2/s"}`` or the environment's ``"gateway=2/s,reports=600/m"`` → {queue: QueueRate}."""
    if isinstance(spec, str):
        pairs = []
        for part in filter(None, (p.strip() for p in spec.split(","))):
            name, sep, rate = part.partition("=")
            if not sep:
                raise RateSpecError(f"{part!r} is not queue=rate (e.g. gateway=2/s)")
            pairs.append((name.strip(), rate.strip()))
    elif isinstance(spec, dict):
        pairs = list(spec.items())
    else:
        raise RateSpecError(f"expected a dict of queue → rate, not {type(spec).__name__}")
    rates = {}
    for name, rate in pairs:
        if not isinstance(name, str) or not _QUEUE_NAME.match(name):
            raise RateSpecError(f"queue name {name!r} must be 1-50 lowercase letters, digits, '.', '_' or '-'")
        rates[name] = rate_parse(rate)
    return rates
