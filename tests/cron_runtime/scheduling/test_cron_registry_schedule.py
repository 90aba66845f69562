"""The job registry (django-crontab compatible) and schedule maths in TIME_ZONE, incl. host timezone widening."""
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django_crontab.crontab import Crontab

from basic.cron_runtime.scheduling.registry import CronjobsConfigError, UnknownJob, all_jobs, job_by_hash, job_by_name, parse_entry
from basic.cron_runtime.scheduling.schedule import (
    as_slot,
    describe,
    installed_schedule,
    is_due,
    next_run,
    previous_run,
    schedule_error,
)

UTC = ZoneInfo("UTC")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_the_product_jobs_are_registered_with_their_names_and_schedules():
    jobs = {job.name: (job.schedule, job.func_path) for job in all_jobs()}
    assert jobs == {
        "cancel_timeouts": ("* * * * *", "order.cron.cancel_timeouts"),
        "birthday_mail": ("0 8 * * *", "basic.cron.send_birthday_mail"),
        "monthly_finance": ("30 0 1 * *", "order.cron.monthly_finance"),
        "refresh_home_cache": ("*/5 * * * *", "order.cron.refresh_home_cache"),
        "heartbeat": ("* * * * *", "basic.cron_runtime.observability.housekeeping.heartbeat"),
        "timed_tasks": ("* * * * *", "basic.cron_runtime.timed_tasks.job.run_timed_tasks"),
    }


def test_hash_is_django_crontabs_so_old_run_lines_keep_working(settings):
    entry = ("*/5 * * * *", "basic.cron.refresh_home_cache", [1, "x"], {"b": 2, "a": 1}, "> /dev/null")
    settings.CRONJOBS = [entry]
    stock_hash = Crontab()._Crontab__hash_job(entry)  # django-crontab's own private method
    assert job_by_hash(stock_hash).func_path == "basic.cron.refresh_home_cache"


def test_the_jobs_follow_the_settings_even_when_changed_in_place(settings):
    """The parsed jobs are reused while the settings stay the same, and never once they change: a new
    list, an entry's options changed inside their dict, a name added to CRONJOB_NAMES."""
    settings.CRONJOBS = [("*/5 * * * *", "basic.cron.refresh_home_cache")]
    settings.CRONJOB_NAMES, settings.CRONJOB_OPTIONS = {}, {"refresh_home_cache": {"timeout": 60}}
    assert job_by_name("refresh_home_cache").options.timeout == 60
    settings.CRONJOB_OPTIONS["refresh_home_cache"]["timeout"] = 90
    assert job_by_name("refresh_home_cache").options.timeout == 90
    settings.CRONJOB_NAMES["basic.cron.refresh_home_cache"] = "home"
    settings.CRONJOB_OPTIONS["home"] = settings.CRONJOB_OPTIONS.pop("refresh_home_cache")
    assert [job.name for job in all_jobs()] == ["home"]
    settings.CRONJOBS.append(("0 8 * * *", "basic.cron.send_birthday_mail"))
    assert [job.name for job in all_jobs()] == ["home", "send_birthday_mail"]
    all_jobs().clear()  # a caller's list is its own
    assert len(all_jobs()) == 2


def test_entry_formats_args_kwargs_suffix_and_names():
    job = parse_entry(("0 8 * * *", "pkg.mod.func", [1, 2], {"k": "v"}, "> /tmp/x"), {})
    assert (job.name, job.args, job.kwargs, job.suffix) == ("func", (1, 2), {"k": "v"}, "> /tmp/x")
    job = parse_entry(("0 8 * * *", "pkg.mod.func", "2>&1"), {"pkg.mod.func": "nice_name"})
    assert (job.name, job.args, job.suffix) == ("nice_name", (), "2>&1")


@pytest.mark.parametrize("entry", [
    "0 8 * * * pkg.func",
    ("0 8 * * *",),
    ("0 8 * * *", "nodots"),
    ("0 8 * * *", "pkg.func", {"not": "a list"}),
    ("0 8 * * *", "pkg.func", [], ["not a dict"]),
    (8, "pkg.func"),
    ("0 8 * * *", "pkg.func", [], {}, "", "extra"),
])
def test_malformed_entries_are_refused_with_a_reason(entry):
    with pytest.raises(CronjobsConfigError):
        parse_entry(entry, {})


def test_unknown_name_and_hash_say_what_to_do(settings):
    with pytest.raises(UnknownJob, match="known jobs: cancel_timeouts, birthday_mail"):
        job_by_name("nope")
    with pytest.raises(UnknownJob, match="crontab add"):
        job_by_hash("0" * 32)


@pytest.mark.parametrize(("schedule", "valid"), [
    ("* * * * *", True), ("*/5 * * * *", True), ("30 0 1 * *", True), ("0 8 * jan mon-fri", True),
    ("@daily", True), ("0,30 8-18/2 * * 1-5", True),
    ("61 * * * *", False), ("* * * *", False), ("* * * * * *", False), ("0 8 * * L", False),
    ("0 8 L * *", False), ("every day", False),
])
def test_schedule_validation_accepts_what_cron_accepts(schedule, valid):
    assert (schedule_error(schedule) is None) is valid


def test_next_and_previous_runs_are_in_time_zone():
    at = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)  # 2026-12-01 00:00 in Shanghai
    assert next_run("30 0 1 * *", at) == datetime(2026, 12, 1, 0, 30, tzinfo=SHANGHAI)
    assert next_run("30 0 1 * *", at).tzinfo.key == "Asia/Shanghai"
    assert previous_run("0 8 * * *", at) == datetime(2026, 11, 30, 8, 0, tzinfo=SHANGHAI)
    assert previous_run("* * * * *", datetime(2026, 1, 1, 8, 0, tzinfo=SHANGHAI)) == \
        datetime(2026, 1, 1, 8, 0, tzinfo=SHANGHAI)  # a tick exactly at `before` counts
    assert describe("30 0 1 * *") == "At 00:30, on day 1 of the month"
    assert "00:30" in describe("30 0 1 * *", "zh_CN")


# --- host timezone ≠ TIME_ZONE -------------------------------------------------------------------

def test_same_timezone_rules_install_the_schedule_as_is(settings):
    settings.CRON_HOST_TIME_ZONE = "Asia/Chongqing"  # another name, the same rules as Shanghai
    assert installed_schedule("30 0 1 * *") == installed_schedule("30 0 1 * *").__class__("30 0 1 * *", False, "")


def test_utc_host_keeps_the_minute_and_widens_the_rest(settings):
    settings.CRON_HOST_TIME_ZONE = "UTC"
    for schedule, wider in [("0 8 * * *", "0 * * * *"), ("30 0 1 * *", "30 * * * *")]:
        installed = installed_schedule(schedule)
        assert installed.schedule == wider and installed.widened
        assert "UTC" in installed.reason and "Asia/Shanghai" in installed.reason
    # Already as wide as it gets: nothing to say.
    assert not installed_schedule("*/5 * * * *").widened
    assert installed_schedule("*/5 * * * *").schedule == "*/5 * * * *"


def test_half_hour_offset_widens_the_minute_too(settings):
    settings.CRON_HOST_TIME_ZONE = "Asia/Kolkata"  # +05:30 against Shanghai's +08:00
    assert installed_schedule("0 8 * * *").schedule == "* * * * *"


def test_daylight_saving_host_still_whole_hours(settings):
    settings.CRON_HOST_TIME_ZONE = "Europe/Berlin"  # +1/+2 against +8: always whole hours
    assert installed_schedule("0 8 * * *").schedule == "0 * * * *"


def test_monthly_job_fires_on_the_utc_hosts_last_day_of_the_previous_month(settings):
    """00:30 on the 1st in Shanghai is 16:30 UTC on the last day of the month before."""
    settings.CRON_HOST_TIME_ZONE = "UTC"
    installed = installed_schedule("30 0 1 * *").schedule
    fires = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)
    from croniter import croniter

    assert croniter.match(installed, fires)  # the UTC cron daemon fires then…
    assert is_due("30 0 1 * *", fires)  # …and the runner finds it due
    # every other hourly tick of the widened line is not due, including 00:30 UTC on the 1st
    for not_due in [datetime(2026, 12, 1, 0, 30, tzinfo=UTC), datetime(2026, 11, 30, 15, 30, tzinfo=UTC),
                    datetime(2026, 11, 30, 17, 30, tzinfo=UTC), datetime(2026, 10, 31, 0, 30, tzinfo=UTC)]:
        assert croniter.match(installed, not_due) and not is_due("30 0 1 * *", not_due)
    # February: 00:30 on 1 March Shanghai = 28 Feb 16:30 UTC (2027 is not a leap year)
    assert is_due("30 0 1 * *", datetime(2027, 2, 28, 16, 30, 20, tzinfo=UTC))


def test_when_clocks_go_back_a_fixed_hour_job_is_due_once_an_hourly_one_twice(settings):
    """Berlin, 2025-10-26: 02:00-03:00 happens twice (00:00-01:00 and 01:00-02:00 UTC). A UTC host
    fires the widened '30 * * * *' line in both; the daily 02:30 job must run only once."""
    settings.TIME_ZONE = "Europe/Berlin"
    first, second = datetime(2025, 10, 26, 0, 30, tzinfo=UTC), datetime(2025, 10, 26, 1, 30, tzinfo=UTC)
    assert is_due("30 2 * * *", first) and not is_due("30 2 * * *", second)
    assert is_due("30 * * * *", first) and is_due("30 * * * *", second)
    assert is_due("*/5 2 * * *", second) and is_due("* * * * *", second)  # wildcard jobs: both passes
    assert is_due("30 2 * * *", datetime(2025, 10, 27, 1, 30, tzinfo=UTC))  # the next day, as usual
    # …and the heartbeat's catch-up does not see the skipped second pass as a missed tick
    # (compared as timestamps: Python never finds a repeated-hour time equal to one in another zone)
    assert previous_run("30 2 * * *", datetime(2025, 10, 26, 1, 45, tzinfo=UTC)).timestamp() == first.timestamp()


@pytest.mark.django_db
def test_the_skipped_second_pass_is_not_caught_up_either(settings):
    from basic.cron_runtime.scheduling.ticks import catch_up_slots
    from basic.cron_runtime.models import JobRun

    settings.TIME_ZONE = "Europe/Berlin"
    settings.CRONJOBS = [("30 2 * * *", "tests.cron_runtime.jobs.noop")]
    JobRun.objects.create(job="noop", trigger="cron", host="h", pid=1, outcome="succeeded",
                          started_at=datetime(2025, 10, 26, 0, 30, 1, tzinfo=UTC),
                          finished_at=datetime(2025, 10, 26, 0, 30, 2, tzinfo=UTC))
    assert catch_up_slots(datetime(2025, 10, 26, 1, 45, tzinfo=UTC)) == []


def test_kolkata_host_every_minute_line_is_due_once_a_day(settings):
    settings.CRON_HOST_TIME_ZONE = "Asia/Kolkata"
    start = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)
    from datetime import timedelta

    due = [start + timedelta(minutes=m) for m in range(24 * 60) if is_due("0 8 * * *", start + timedelta(minutes=m))]
    assert due == [datetime(2026, 6, 1, 0, 0, tzinfo=UTC)]  # 08:00 Shanghai


def test_host_tz_is_cached_so_offset_gaps_are_too(settings):
    """/etc/localtime as a copied file gives a new, unequal ZoneInfo per read: the cache keeps one."""
    from basic.cron_runtime.scheduling.schedule import _offset_gaps, host_tz

    settings.CRON_HOST_TIME_ZONE = ""
    assert host_tz()[0] is host_tz()[0]
    _offset_gaps.cache_clear()
    installed_schedule("* * * * *")
    installed_schedule("0 8 * * *")
    assert _offset_gaps.cache_info().misses == 1


@pytest.mark.parametrize("schedule", [
    "* * * * *", "*/2 * * * *", "1-59/2 * * * *", "30 0 1 * *", "0 9 * * 1-5", "0 0 */2 * 7", "0 0 1,15 * sun",
    "0 0 * jan-mar 0-6", "*/5 8-18 * * mon-fri", "0 0 13 * 5", "15 3 * * 0", "0 */3 1-7 * 1", "0 0 29 2 *",
    "0 8 * * *", "*/7 * 31 * *", "0 0 * * 7", "@monthly", "@hourly",
])
def test_is_due_answers_as_croniter_does(schedule):
    """is_due reads each schedule once (not croniter.match at every call): over a leap year, minute by
    minute in steps, its answer is croniter's."""
    from croniter import croniter

    from basic.cron_runtime.scheduling.schedule import _expanded, _matches, normalize

    fields = _expanded(normalize(schedule))
    assert fields is not None
    moment, steps = datetime(2024, 1, 1), [1, 13, 61, 1439, 2881, 4327]
    while moment.year == 2024:
        assert _matches(fields, moment) == croniter.match(normalize(schedule), moment), (schedule, moment)
        moment += timedelta(minutes=steps[moment.minute % len(steps)])


def test_is_due_leaves_croniter_extensions_to_croniter():
    from basic.cron_runtime.scheduling.schedule import _expanded

    assert _expanded("0 0 L * *") is None and _expanded("0 0 * * 5#3") is None


def test_previous_and_next_runs_do_not_depend_on_what_was_asked_before(settings):
    """The schedule's croniter is kept and moved to each question's moment: answers are those of a fresh one."""
    from croniter import croniter

    from basic.cron_runtime.scheduling.schedule import next_run, previous_run

    settings.TIME_ZONE = "Europe/Berlin"  # with a clock change (2024-10-27 03:00 CEST → 02:00 CET)
    berlin = ZoneInfo("Europe/Berlin")
    moments = [datetime(2024, 10, 27, 1, 59, tzinfo=berlin), datetime(2024, 3, 1, 12, 0, tzinfo=berlin),
               datetime(2024, 10, 27, 2, 31, tzinfo=berlin), datetime(2025, 1, 1, 0, 0, tzinfo=berlin)]
    for schedule in ("30 2 * * *", "*/7 * * * *", "0 0 1 * *"):
        for moment in moments + moments[::-1]:
            assert next_run(schedule, moment) == croniter(schedule, moment).get_next(datetime), (schedule, moment)
        between = datetime(2024, 3, 1, 12, 3, 30, tzinfo=berlin)  # on no tick of these schedules
        assert previous_run(schedule, between) == croniter(schedule, between).get_prev(datetime), schedule


def test_a_minute_of_the_repeated_hour_keeps_its_pass_when_rounded():
    """Berlin, 2025-10-26: 02:30 happens at 00:30 and at 01:30 UTC; the second pass stays the second,
    with or without slack (arithmetic on a local time would drop which pass it is)."""
    second_pass = datetime(2025, 10, 26, 2, 30, 40, fold=1, tzinfo=ZoneInfo("Europe/Berlin"))
    assert as_slot(second_pass) == datetime(2025, 10, 26, 1, 30, tzinfo=UTC)
    assert as_slot(second_pass, slack=timedelta(seconds=20)) == datetime(2025, 10, 26, 1, 31, tzinfo=UTC)
