"""The job page's run history and the dashboard: each run's slot, the terminated outcome, the trigger filter."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from basic.cron_runtime.models import RunOutcome, RunTrigger
from basic.cron_runtime.scheduling.registry import job_by_name
from basic.cron_runtime.running.runner import run_job
from tests.staff.test_staff_input import ignored_note, outcomes_listed, runs_table

JOB_URL = "/staff/cron/flaky/"
SLOT = datetime(2026, 12, 1, 0, 0, tzinfo=timezone.utc)  # 08:00 in Asia/Shanghai


def run_row(page: str, run) -> str:
    return page.split(f'id="run-{run.pk}"')[1].split("</tr>")[0]


def slot_cell(page: str, run) -> str:
    return re.search(r'<td class="slot">([^<]*)</td>', run_row(page, run)).group(1)


def triggers_listed(page: str) -> list[str]:
    return re.findall(r"<td>([\w-]+)(?: · \w+)?</td>\s*<td>web1 /", runs_table(page))


@pytest.mark.parametrize(("time_zone", "shown", "shown_catch_up"), [
    ("Asia/Shanghai", "2026-12-01 08:00", "2026-12-01 09:00"),
    ("America/New_York", "2026-11-30 19:00", "2026-11-30 20:00"),  # the day before: TIME_ZONE, never UTC
])
def test_each_run_shows_its_slot_in_time_zone_and_manual_runs_a_dash(staff_client, staff_cronjobs, make_run,
                                                                    settings, time_zone, shown, shown_catch_up):
    settings.TIME_ZONE = time_zone
    scheduled = make_run("flaky", RunOutcome.SUCCEEDED, trigger=RunTrigger.CRON, slot=SLOT, minutes_ago=3)
    catch_up = make_run("flaky", RunOutcome.SUCCEEDED, trigger=RunTrigger.CATCH_UP,
                        slot=datetime(2026, 12, 1, 1, 0, tzinfo=timezone.utc), minutes_ago=2)
    manual = make_run("flaky", RunOutcome.SUCCEEDED, trigger=RunTrigger.MANUAL, minutes_ago=1)
    page = staff_client.get(JOB_URL).content.decode()
    assert ">计划时刻</th>" in runs_table(page)
    assert slot_cell(page, scheduled) == shown
    assert slot_cell(page, catch_up) == shown_catch_up
    assert slot_cell(page, manual) == "—"


def test_runs_started_through_the_runner_show_the_slot_they_ran(staff_client, staff_cronjobs):
    """The real runner's records: the slot stored in UTC is shown in TIME_ZONE; the refused second start has none."""
    job = job_by_name("flaky")
    ran = run_job(job, trigger=RunTrigger.CRON, slot=datetime(2026, 12, 1, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
    duplicate = run_job(job, trigger=RunTrigger.TICKER, slot=SLOT)
    assert (ran.outcome, duplicate.outcome) == (RunOutcome.SUCCEEDED, RunOutcome.SKIPPED)
    page = staff_client.get(JOB_URL).content.decode()
    assert slot_cell(page, ran) == "2026-12-01 08:00"
    assert slot_cell(page, duplicate) == "—" and "already ran for slot 2026-12-01 08:00" in run_row(page, duplicate)


def test_the_last_failure_names_its_slot(staff_client, staff_cronjobs, make_run):
    make_run("flaky", RunOutcome.FAILED, slot=SLOT, message="ValueError: boom")
    card = staff_client.get(JOB_URL).content.decode().split('id="last-failure"')[1].split("</div>")[0]
    assert "计划时刻 2026-12-01 08:00" in card


def test_a_terminated_run_has_its_own_badge_colour_and_filter(staff_client, staff_cronjobs, make_run):
    stopped = make_run("flaky", RunOutcome.TERMINATED, minutes_ago=2, message="terminated by SIGTERM after 3 chunks")
    skipped = make_run("flaky", RunOutcome.SKIPPED, minutes_ago=1)
    page = staff_client.get(JOB_URL).content.decode()
    assert 'class="badge outcome badge-terminated">terminated</span>' in run_row(page, stopped)
    assert 'class="badge outcome badge-warn">skipped</span>' in run_row(page, skipped)  # not the same colour
    assert "SIGTERM 或 Ctrl-C" in run_row(page, stopped)  # the badge's hover text says what stopped it
    assert ".badge-terminated {" in page  # the class is styled
    assert '"#ea580c"' in page  # its bar in the charts is orange too
    assert '<option value="terminated">terminated</option>' in page
    filtered = staff_client.get(JOB_URL, {"outcome": "terminated"}).content.decode()
    assert outcomes_listed(filtered) == ["terminated"]


def test_the_dashboard_flags_a_job_whose_last_run_was_terminated(staff_client, healthy_runs, make_run):
    make_run("flaky", RunOutcome.TERMINATED, minutes_ago=0.5, message="terminated by SIGTERM after 3 chunks")
    page = staff_client.get("/staff/").content.decode()
    flaky_row = page.split('id="job-flaky"')[1].split("</tr>")[0]
    assert 'class="badge badge-terminated flag-terminated">已终止</span>' in flaky_row
    assert "terminated by SIGTERM after 3 chunks" in flaky_row  # on hover
    assert "正常" not in flaky_row
    assert 'class="badge outcome badge-ok">succeeded</span>' in flaky_row  # the last completed run, as before
    heartbeat_row = page.split('id="job-heartbeat"')[1].split("</tr>")[0]
    assert "flag-terminated" not in heartbeat_row and "正常" in heartbeat_row


def test_the_history_filters_by_trigger_and_the_other_forms_keep_it(staff_client, staff_cronjobs, make_run):
    for minute, trigger in enumerate([RunTrigger.CRON, RunTrigger.CATCH_UP, RunTrigger.MANUAL, RunTrigger.CATCH_UP]):
        make_run("flaky", RunOutcome.FAILED if minute == 3 else RunOutcome.SUCCEEDED, trigger=trigger,
                 minutes_ago=minute + 1)
    assert triggers_listed(staff_client.get(JOB_URL).content.decode()) == ["cron", "catch-up", "manual", "catch-up"]
    page = staff_client.get(JOB_URL, {"trigger": "catch-up", "level": "ERROR"}).content.decode()
    assert triggers_listed(page) == ["catch-up", "catch-up"]
    assert '<option value="catch-up" selected>catch-up</option>' in page
    log_form = page.split('<form class="filters" method="get">')[2]
    assert 'name="trigger" value="catch-up"' in log_form  # a new log filter keeps the history's trigger
    both = staff_client.get(JOB_URL, {"trigger": "catch-up", "outcome": "failed"}).content.decode()
    assert outcomes_listed(both) == ["failed"] and triggers_listed(both) == ["catch-up"]


def test_a_bad_trigger_is_ignored_and_the_outcome_kept(staff_client, staff_cronjobs, make_run):
    make_run("flaky", RunOutcome.FAILED, minutes_ago=2)
    make_run("flaky", RunOutcome.SUCCEEDED, minutes_ago=1)
    page = staff_client.get(JOB_URL, {"trigger": "bogus", "outcome": "failed"}).content.decode()
    assert outcomes_listed(page) == ["failed"]
    assert "trigger=bogus" in ignored_note(page) and "outcome" not in ignored_note(page)
