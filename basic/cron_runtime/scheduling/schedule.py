"""Schedule maths, always in the business timezone (settings.TIME_ZONE).

CRONJOBS schedules are wall-clock times in TIME_ZONE. Debian's cron has no CRON_TZ: it
fires in its own (the host's) local time. When the host's timezone rules differ from
TIME_ZONE's, ``crontab add`` installs a *wider* schedule (see ``installed_schedule``)
and the runner, started by cron, skips the ticks that are not due in TIME_ZONE
(``is_due``). That also handles the monthly job, whose day shifts across a month
boundary (00:30 on the 1st in Shanghai is 16:30 UTC on the last day of the month before).

A schedule may also be an interval, ``every 10s`` (whole seconds dividing 60): to every engine it
is ``* * * * *``, and the minute's one run calls the function on the N-second grid
(running/beats.py).
"""
from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from croniter import croniter
from django.conf import settings
from django.utils import timezone

from basic.cron_runtime import conf

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# What every cron daemon understands in one field: *, numbers, ranges, lists, steps, and names
# in the month and day-of-week fields. croniter also accepts L, W, # and a seconds field, which
# Debian's cron rejects (django-crontab #23: `add` "succeeded" with a schedule cron refused).
_NAMES = {3: "jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec", 4: "sun|mon|tue|wed|thu|fri|sat"}


def _field_ok(field: str, index: int) -> bool:
    value = r"\d+" + (f"|{_NAMES[index]}" if index in _NAMES else "")
    token = rf"(\*|({value})(-({value}))?)(/\d+)?"
    return re.fullmatch(rf"{token}(,{token})*", field, re.IGNORECASE) is not None


# An interval schedule: "every 10s" (also "every 10 s", "every 10 seconds", "every second").
_INTERVAL = re.compile(r"every(?:\s+(?:(?P<count>[+-]?\d+)\s*)?(?P<unit>[a-z]*))?", re.IGNORECASE)
_SECOND_UNITS = ("s", "sec", "secs", "second", "seconds")
EVERY_MINUTE = "* * * * *"


def _interval_parts(schedule: str) -> tuple[int | None, str] | None:
    """(seconds or None when missing, unit) of an ``every …`` schedule; None for any other schedule."""
    match = _INTERVAL.fullmatch(" ".join(schedule.split()))
    if match is None:
        return None
    count = match["count"]
    return (int(count) if count is not None else None), (match["unit"] or "").lower()


def interval_seconds(schedule: str) -> int | None:
    """N of a valid ``every Ns`` schedule; None for a cron expression (or an invalid interval)."""
    parts = _interval_parts(schedule)
    if parts is None:
        return None
    seconds, unit = parts
    if unit not in _SECOND_UNITS or (seconds is None and unit != "second"):
        return None
    seconds = 1 if seconds is None else seconds
    return seconds if 1 <= seconds <= 60 and 60 % seconds == 0 else None


def _interval_error(schedule: str) -> str | None:
    seconds, unit = _interval_parts(schedule)
    if unit not in _SECOND_UNITS or (seconds is None and unit != "second"):
        return (f"{schedule!r} is not an interval: write 'every Ns' in seconds (e.g. 'every 10s'); "
                "every few minutes is a cron expression ('*/5 * * * *')")
    if seconds is not None and not 1 <= seconds <= 60:
        return f"{schedule!r}: an interval is 1 to 60 seconds (longer ones are cron expressions, e.g. '*/5 * * * *')"
    if seconds is not None and 60 % seconds:
        fits = ", ".join(str(n) for n in range(1, 61) if 60 % n == 0)
        return (f"{schedule!r}: {seconds} s does not divide 60, so the beats would not fall on the same seconds "
                f"every minute; use one of {fits}")
    return None


def normalize(schedule: str) -> str:
    """The cron expression every engine ticks: aliases spelled out, an interval as every minute."""
    schedule = " ".join(schedule.split())
    if _interval_parts(schedule) is not None:
        return EVERY_MINUTE
    return ALIASES.get(schedule.lower(), schedule)


def schedule_error(schedule: str) -> str | None:
    """Why the cron daemon or croniter would reject ``schedule`` (or why the interval is not one); None when
    it is valid."""
    if _interval_parts(schedule) is not None:
        return _interval_error(schedule)
    fields = normalize(schedule).split()
    if len(fields) != 5:
        return f"{schedule!r} has {len(fields)} fields; cron needs 5 (minute hour day-of-month month day-of-week)"
    bad = [f for i, f in enumerate(fields) if not _field_ok(f, i)]
    if bad or not croniter.is_valid(" ".join(fields)):
        return f"{schedule!r} is not a valid cron schedule" + (f" (field {bad[0]!r})" if bad else "")
    return None


def business_tz() -> ZoneInfo:
    """The business timezone (settings.TIME_ZONE): schedules, month boundaries, birthdays, labels."""
    return timezone.get_default_timezone()


def as_slot(moment: datetime, *, slack: timedelta = timedelta(0)) -> datetime:
    """The minute ``moment`` falls in, in UTC (how a slot is stored): the one minute rounding.

    ``slack``: a clock that may read a moment early counts as the next minute within it (beat
    waking just before the minute; a process whose start time is read to the whole second).
    A naive time is refused: it would silently mean the server's or the database's timezone.
    """
    if timezone.is_naive(moment):
        raise ValueError(f"a slot needs a timezone-aware time, got the naive {moment.isoformat()}")
    # Into UTC before adding: arithmetic on a local time drops its fold (which pass of a repeated hour).
    return (moment.astimezone(UTC) + slack).replace(second=0, microsecond=0)


def slot_label(slot: datetime) -> str:
    """A slot as people read it: the minute in TIME_ZONE, e.g. '2026-12-01 08:00 CST'."""
    return slot.astimezone(business_tz()).strftime("%Y-%m-%d %H:%M %Z")


def host_tz() -> tuple[tzinfo, str]:
    """The cron daemon's timezone and its name.

    ``settings.CRON_HOST_TIME_ZONE`` (env CRON_HOST_TIME_ZONE) overrides detection, for
    containers and tests. Otherwise /etc/localtime, which is what the daemon itself reads
    (the TZ of the shell running ``crontab add`` says nothing about the daemon).
    """
    return _host_tz(conf.CRON_HOST_TIME_ZONE)


@lru_cache(maxsize=8)
def _host_tz(configured: str) -> tuple[tzinfo, str]:
    """Cached: the same tzinfo object each time, so ``_offset_gaps`` (cached by its arguments) is
    not recomputed on every call when /etc/localtime is a copied file (``ZoneInfo.from_file``
    builds a new, unequal object each time). A change of the host's zone needs a restart, as
    for the cron daemon itself."""
    if configured:
        return ZoneInfo(configured), configured
    localtime = Path("/etc/localtime")
    target = os.path.realpath(localtime)
    if "zoneinfo/" in target:
        name = target.split("zoneinfo/", 1)[1]
        try:
            return ZoneInfo(name), name
        except (ValueError, OSError):
            pass
    if localtime.exists():
        with localtime.open("rb") as fh:
            zone = ZoneInfo.from_file(fh)
        tz_file = Path("/etc/timezone")
        return zone, tz_file.read_text().strip() if tz_file.exists() else "/etc/localtime"
    return ZoneInfo("UTC"), "UTC"  # glibc's behaviour without /etc/localtime


@lru_cache(maxsize=16)
def _offset_gaps(host: tzinfo, business: tzinfo, day: str) -> frozenset[timedelta]:
    """The distinct differences between the two zones' UTC offsets, hourly over the next year."""
    start = datetime.fromisoformat(day).replace(tzinfo=ZoneInfo("UTC"))
    gaps = set()
    for hour in range(366 * 24):
        instant = start + timedelta(hours=hour)
        gaps.add(instant.astimezone(business).utcoffset() - instant.astimezone(host).utcoffset())
    return frozenset(gaps)


@dataclass(frozen=True)
class InstalledSchedule:
    schedule: str  # what goes into the crontab
    widened: bool
    reason: str  # empty unless widened


def installed_schedule(schedule: str, now: datetime | None = None) -> InstalledSchedule:
    """The schedule to give the cron daemon so that it fires at least at every TIME_ZONE tick.

    Same timezone rules: the schedule as is. Offsets differing by whole hours: keep the minute,
    fire every hour of every day. Otherwise (e.g. Asia/Kolkata, +05:30): every minute.
    The runner then skips the ticks that are not due in TIME_ZONE.
    """
    schedule = normalize(schedule)
    host, host_name = host_tz()
    now = now or timezone.now()
    gaps = _offset_gaps(host, business_tz(), now.astimezone(ZoneInfo("UTC")).date().isoformat())
    if gaps == {timedelta(0)}:
        return InstalledSchedule(schedule, False, "")
    minute = schedule.split()[0]
    whole_hours = all(gap % timedelta(hours=1) == timedelta(0) for gap in gaps)
    wider = f"{minute if whole_hours else '*'} * * * *"
    if wider == schedule:
        return InstalledSchedule(schedule, False, "")
    return InstalledSchedule(
        wider,
        True,
        f"the cron daemon runs in {host_name} and TIME_ZONE is {settings.TIME_ZONE}; "
        f"installed as '{wider}', the runner skips ticks not due at '{schedule}' {settings.TIME_ZONE}",
    )


def is_due(schedule: str, tick: datetime) -> bool:
    """Is ``tick`` (any timezone) a firing minute of ``schedule`` in TIME_ZONE?

    When the clocks go back (daylight saving ends) an hour of wall-clock time happens twice;
    a fixed-time schedule is due only in the first of them, as Debian's cron does (a daily
    02:30 job must not run twice that night); wildcard ones (see ``_fixed_time``) in both.
    """
    # Through UTC: the fold (first or second pass) is then computed by zoneinfo, never taken
    # from the input (croniter hands out fold=1 even where no hour repeats).
    local = as_slot(tick).astimezone(business_tz())
    schedule = normalize(schedule)
    if local.fold and _fixed_time(schedule):
        return False
    fields = _expanded(schedule)
    if fields is None:
        return bool(croniter.match(schedule, local))
    return _matches(fields, local)


@lru_cache(maxsize=512)
def _expanded(schedule: str) -> tuple[frozenset[int] | None, ...] | None:
    """croniter's reading of the five fields (minute, hour, day, month, weekday with 0 = Sunday), each a
    set of values or None for every value; None when the schedule uses croniter's extensions (L, W, #).

    Parsed once per schedule: ``croniter.match`` parses it again at every call (~0.4 ms), and a tick
    asks for every job, several times (docs/celery.md, "Where the time goes")."""
    expanded, nth_weekday = croniter.expand(schedule)
    if nth_weekday or any(value != "*" and not isinstance(value, int) for field in expanded for value in field):
        return None
    return tuple(None if field == ["*"] else frozenset(field) for field in expanded)


def _matches(fields: tuple[frozenset[int] | None, ...], local: datetime) -> bool:
    """Cron's rule, as croniter applies it: minute, hour and month must match; when both the day of the
    month and the day of the week are restricted, either may match (cron(5): "if both fields are
    restricted, the command will be run when either field matches")."""
    minutes, hours, days, months, weekdays = fields
    if not ((minutes is None or local.minute in minutes) and (hours is None or local.hour in hours)
            and (months is None or local.month in months)):
        return False
    weekday = local.isoweekday() % 7  # 0 = Sunday, as cron counts
    day_ok = days is None or local.day in days
    weekday_ok = weekdays is None or weekday in weekdays or (weekday == 0 and 7 in weekdays)
    if days is not None and weekdays is not None:
        return day_ok or weekday_ok
    return day_ok and weekday_ok


def _fixed_time(schedule: str) -> bool:
    """Debian's cron calls a job 'wildcard' when its minute or hour field starts with '*'
    (``* 2 * * *``, ``*/5 * * * *``): those run in both passes of a repeated hour, the others once."""
    minute, hour = schedule.split()[:2]
    return not (minute.startswith("*") or hour.startswith("*"))


def next_run(schedule: str, after: datetime | None = None) -> datetime:
    start = (after or timezone.now()).astimezone(business_tz())
    return _croniter_at(normalize(schedule), start).get_next(datetime)


def previous_run(schedule: str, before: datetime | None = None) -> datetime:
    """The latest tick at or before ``before`` (a tick exactly at ``before`` counts)."""
    start = (before or timezone.now()).astimezone(business_tz())
    if is_due(schedule, start) and start.second == 0 and start.microsecond == 0:
        return start
    ticks = _croniter_at(normalize(schedule), start)
    tick = ticks.get_prev(datetime)
    for _ in range(2):  # croniter also yields the second pass of a repeated hour, which is_due skips
        if is_due(schedule, tick):
            break
        tick = ticks.get_prev(datetime)
    return tick


_parsed = threading.local()  # per thread: a croniter moves as it is asked


def _croniter_at(schedule: str, start: datetime) -> croniter:
    """A croniter of ``schedule`` set at ``start``, parsed once per thread: building one parses the schedule
    (~0.4 ms), and a tick asks each job's previous and next runs (docs/celery.md, "Where the time goes").
    ``set_current`` resets everything its constructor sets from the start time."""
    cache = _parsed.__dict__.setdefault("by_schedule", {})
    ticks = cache.get(schedule)
    if ticks is None:
        if len(cache) > 256:
            cache.clear()
        ticks = cache[schedule] = croniter(schedule, start)
    else:
        ticks.set_current(start, force=True)
    return ticks


def interval_at(schedule: str, at: datetime | None = None) -> timedelta:
    """The time between the tick before ``at`` and the one after it."""
    at = at or timezone.now()
    return next_run(schedule, at) - previous_run(schedule, at)


def describe(schedule: str, locale: str = "en") -> str:
    """Plain language, e.g. 'At 00:30, on day 1 of the month' (locale 'zh_CN' for Chinese)."""
    seconds = interval_seconds(schedule)
    if seconds is not None:
        return _describe_interval(seconds, locale)
    from cron_descriptor import ExpressionDescriptor, Options  # only the list/dashboard need it

    options = Options()
    options.use_24hour_time_format = True
    options.locale_code = locale
    try:
        return ExpressionDescriptor(normalize(schedule), options).get_description()
    except Exception as exc:  # noqa: BLE001 — cron_descriptor raises several kinds; a description is never vital
        return f"{schedule} ({exc.__class__.__name__})"


def _describe_interval(seconds: int, locale: str) -> str:
    # In cron_descriptor's words ("Every 5 minutes" / "每 5 分钟"), so the list reads alike.
    if locale.startswith("zh"):
        return "每秒" if seconds == 1 else f"每 {seconds} 秒"
    return "Every second" if seconds == 1 else f"Every {seconds} seconds"


def process_start_tick() -> datetime:
    """The minute cron fired this process in (judged from its start time), not the current one.

    Python and Django take a moment to start; on a loaded host that can cross into the next
    minute, and the due check must still judge the minute cron fired in. The start time read
    from /proc may be off by a second (btime is whole seconds), and cron fires at second 0,
    so 5 s are added before flooring. Linux only; elsewhere the current time.
    """
    try:
        stat = Path("/proc/self/stat").read_text()
        start_ticks = int(stat.rsplit(")", 1)[1].split()[19])
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        started = boot + start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        started = time.time()
    return as_slot(datetime.fromtimestamp(started, tz=UTC), slack=timedelta(seconds=5))
