"""The options a job may set besides its schedule: time limit, retries, catch-up policy.

Settings give them per job name in ``CRONJOB_OPTIONS`` (built from the 4th item of an ``_JOBS``
entry). Every option has a default that keeps a job as it was before options existed:

- ``timeout`` (seconds, None = no limit): a run past it is stopped like SIGTERM, recorded
  ``terminated`` ("time limit of 600 s reached after 12 chunks"), and killed if it does not stop
  within ``CRON_TIME_LIMIT_GRACE`` seconds more;
- ``retries`` (0) and ``retry_delay`` (seconds, 300): a failed run of a slot is tried again after
  the delay, doubled for each further attempt (trigger ``retry``, attempt k of 1 + retries);
- ``catch_up``: ``latest`` (default: the latest missed slot, once), ``all`` (every missed slot,
  oldest first, one at a time) or ``none``;
- ``grace`` (seconds, None = 2 min, more for rare jobs, at most 10 min): how late a missed slot
  still counts as one to catch up rather than as late.

An interval job (``every 10s``) reads them per call, not per run: ``timeout`` bounds each call;
its missed minutes are not caught up (``catch_up`` is ``none``, the only policy it takes: the beats
of a past minute are past) and a failed minute is not retried (the next beat is its retry).

docs/cron.md ("Job options") has the whole story.
"""
from __future__ import annotations

from dataclasses import dataclass

CATCH_UP_POLICIES = ("latest", "all", "none")
KNOWN_OPTIONS = ("timeout", "retries", "retry_delay", "catch_up", "grace")
DEFAULT_RETRY_DELAY = 300
MAX_RETRIES = 10
# catch_up=all hands out at most this many missed slots of one outage (the oldest beyond it are
# dropped, with a line in the log): a year-long outage of a per-minute job is not replayed.
CATCH_UP_ALL_LIMIT = 1000


class JobOptionsError(ValueError):
    """An option of a job is unknown or out of range; the message names it and the fix."""


@dataclass(frozen=True)
class JobOptions:
    timeout: int | None = None
    retries: int = 0
    retry_delay: int = DEFAULT_RETRY_DELAY
    catch_up: str = "latest"
    grace: int | None = None

    @property
    def attempts(self) -> int:
        """How many attempts a slot gets in all (the first run and its retries)."""
        return 1 + self.retries

    def retry_after(self, attempt: int) -> int:
        """Seconds between the end of failed attempt ``attempt`` and the next one: the delay, doubling."""
        return self.retry_delay * 2 ** (attempt - 1)


def _whole(name: str, value, *, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (maximum and value > maximum):
        upper = f" and at most {maximum}" if maximum else ""
        raise JobOptionsError(f"{name}={value!r} must be a whole number of at least {minimum}{upper}")
    return value


def parse_options(raw, *, interval: bool = False) -> JobOptions:
    """A dict of options (from settings) → JobOptions; JobOptionsError names what is wrong.
    ``interval``: the options of an interval job (see the module docstring)."""
    if raw is None:
        return JobOptions(catch_up="none") if interval else JobOptions()
    if not isinstance(raw, dict):
        raise JobOptionsError(f"the options must be a dict like {{'timeout': 600}}, got {raw!r}")
    unknown = sorted(set(raw) - set(KNOWN_OPTIONS))
    if unknown:
        raise JobOptionsError(f"unknown option(s) {', '.join(unknown)} (known: {', '.join(KNOWN_OPTIONS)})")
    timeout = raw.get("timeout")
    grace = raw.get("grace")
    catch_up = raw.get("catch_up", "none" if interval else "latest")
    if catch_up not in CATCH_UP_POLICIES:
        raise JobOptionsError(f"catch_up={catch_up!r} is not a policy: use {', '.join(CATCH_UP_POLICIES)}")
    if interval and catch_up != "none":
        raise JobOptionsError(f"catch_up={catch_up!r}: an interval job does not catch up missed minutes (their "
                              "beats are past); leave catch_up out")
    if interval and raw.get("retries"):
        raise JobOptionsError(f"retries={raw['retries']!r}: an interval job's failed minute is not retried (its "
                              "next beat is the retry); leave retries out")
    return JobOptions(
        timeout=None if timeout is None else _whole("timeout", timeout, minimum=1),
        retries=_whole("retries", raw.get("retries", 0), minimum=0, maximum=MAX_RETRIES),
        retry_delay=_whole("retry_delay", raw.get("retry_delay", DEFAULT_RETRY_DELAY), minimum=1),
        catch_up=catch_up,
        grace=None if grace is None else _whole("grace", grace, minimum=0),
    )
