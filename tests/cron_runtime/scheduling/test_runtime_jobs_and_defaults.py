"""The runtime owns its jobs (heartbeat, timed_tasks) and its settings' defaults: a project lists only
its business jobs and sets only what it chooses."""
import ast
import os
import subprocess
import sys
from io import StringIO

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command

from basic.cron_runtime import conf
from basic.cron_runtime.scheduling.registry import (
    HEARTBEAT_FUNCTION,
    HEARTBEAT_JOB,
    RUNTIME_JOBS,
    TIMED_TASKS_FUNCTION,
    TIMED_TASKS_JOB,
    all_jobs,
    job_by_name,
    with_runtime_jobs,
)
from tests.helpers import PROJECT_DIR

BUSINESS_JOB = ("0 8 * * *", "basic.cron.send_birthday_mail")


def test_the_project_lists_only_its_business_jobs_and_the_runtime_adds_its_own():
    from oms_test import settings as project_settings

    assert {name for name, *_ in project_settings._JOBS}.isdisjoint(job.name for job in RUNTIME_JOBS)
    # django-crontab reads settings.CRONJOBS itself: the runtime's jobs are in it, with their functions.
    assert {HEARTBEAT_FUNCTION, TIMED_TASKS_FUNCTION} <= {entry[1] for entry in django_settings.CRONJOBS}
    heartbeat, timed_tasks = job_by_name(HEARTBEAT_JOB), job_by_name(TIMED_TASKS_JOB)
    assert (heartbeat.schedule, heartbeat.options.timeout) == ("* * * * *", 120)
    assert (timed_tasks.schedule, timed_tasks.options.timeout) == ("* * * * *", 900)
    assert heartbeat.import_function() and timed_tasks.import_function()


def test_a_project_that_lists_a_runtime_job_keeps_its_own_schedule(settings):
    settings.CRONJOB_NAMES = {}
    cronjobs = with_runtime_jobs([BUSINESS_JOB, ("*/2 * * * *", HEARTBEAT_FUNCTION)])
    assert cronjobs == [BUSINESS_JOB, ("*/2 * * * *", HEARTBEAT_FUNCTION), ("* * * * *", TIMED_TASKS_FUNCTION)]
    settings.CRONJOBS = cronjobs
    assert [job.name for job in all_jobs()] == ["send_birthday_mail", HEARTBEAT_JOB, TIMED_TASKS_JOB]


def test_a_stand_in_of_the_same_name_replaces_a_runtime_job(settings):
    settings.CRONJOB_NAMES = {"tests.staff.cron_jobs_for_tests.heartbeat": "heartbeat"}
    stand_in = ("* * * * *", "tests.staff.cron_jobs_for_tests.heartbeat")
    assert with_runtime_jobs([stand_in]) == [stand_in, ("* * * * *", TIMED_TASKS_FUNCTION)]


def test_cron_runtime_jobs_chooses_which_runtime_jobs_join(settings):
    settings.CRON_RUNTIME_JOBS = [HEARTBEAT_JOB]
    assert with_runtime_jobs([BUSINESS_JOB]) == [BUSINESS_JOB, ("* * * * *", HEARTBEAT_FUNCTION)]
    settings.CRON_RUNTIME_JOBS = []
    assert with_runtime_jobs([BUSINESS_JOB]) == [BUSINESS_JOB]


def test_a_projects_options_for_a_runtime_job_go_over_the_runtimes(settings):
    settings.CRONJOB_OPTIONS = {HEARTBEAT_JOB: {"retries": 1}}
    options = job_by_name(HEARTBEAT_JOB).options
    assert (options.timeout, options.retries) == (120, 1)
    settings.CRONJOB_OPTIONS = {HEARTBEAT_JOB: {"timeout": 30}}
    assert job_by_name(HEARTBEAT_JOB).options.timeout == 30


@pytest.mark.django_db
def test_crontab_add_installs_the_runtimes_jobs_with_the_business_ones(settings, tmp_path):
    """What `crontab add` hands the crontab program (a stand-in that records it, not the machine's)."""
    installed = tmp_path / "installed"
    fake = tmp_path / "crontab"
    fake.write_text(f'#!/bin/sh\nif [ "$1" = "-l" ]; then cat "{installed}" 2>/dev/null; exit 0; fi\ncat > "{installed}"\n')
    fake.chmod(0o755)
    (tmp_path / ".env.example").write_text((PROJECT_DIR / ".env.example").read_text(encoding="utf-8"))
    settings.CRONTAB_EXECUTABLE = str(fake)
    settings.BASE_DIR = tmp_path  # .cron.env is written there, not in the checkout
    call_command("crontab", "add", stdout=StringIO())
    lines = installed.read_text().splitlines()
    names = {line.rsplit(" ", 1)[-1] for line in lines}
    assert {job.name for job in RUNTIME_JOBS} | {"cancel_timeouts", "birthday_mail"} <= names
    assert len(lines) == len(all_jobs())


def _assigned_names(path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {target.id for node in ast.walk(tree) if isinstance(node, ast.Assign)
            for target in node.targets if isinstance(target, ast.Name)}


def test_settings_py_gives_no_runtime_setting_a_default_of_its_own():
    """Each runtime default lives in basic/cron_runtime/conf.py; the project only takes a value from the
    environment (when set), or sets one it chooses. These are the ones it chooses."""
    chosen = {"CRONJOBS", "CRONJOB_NAMES", "CRONJOB_OPTIONS", "CRONJOB_CELERY_QUEUES", "TIMED_TASK_QUEUES", "HOSTNAME"}
    assert _assigned_names(PROJECT_DIR / "oms_test" / "settings.py") & set(conf.DEFAULTS) == chosen
    settings_source = (PROJECT_DIR / "oms_test" / "settings.py").read_text(encoding="utf-8")
    assert "cron_runtime" not in settings_source.replace("basic/cron_runtime/conf.py", "").replace(
        '"basic.cron_runtime"', "")  # the app in INSTALLED_APPS, and where the defaults are: nothing imported


def test_a_setting_the_project_leaves_out_takes_the_runtimes_default(settings):
    del settings.CRON_TIME_LIMIT_GRACE  # (the test settings do not set it either)
    assert conf.CRON_TIME_LIMIT_GRACE == conf.DEFAULTS["CRON_TIME_LIMIT_GRACE"].value == 30
    settings.CRON_TIME_LIMIT_GRACE = 5
    assert conf.CRON_TIME_LIMIT_GRACE == 5
    with pytest.raises(AttributeError, match="no setting NOT_A_SETTING"):
        conf.NOT_A_SETTING  # noqa: B018


def test_settings_out_of_range_are_named(settings):
    settings.TIMED_TASK_LEASE = 5
    settings.SCHEDULER = "celeryy"
    settings.METRICS_TOKEN = "short"
    assert conf.setting_problems() == [
        "TIMED_TASK_LEASE=5 is too small: it must be at least 10 (seconds a dispatcher holds a claimed task; "
        "one task must finish within it)",
        "SCHEDULER='celeryy' is not an engine: use 'cron' (the default) or 'celery'",
        "METRICS_TOKEN is too short: use at least 16 random characters, or leave it empty (then /metrics answers "
        "loopback clients only)",
    ]


def _settings_seen(code: str, **environment) -> str:
    env = {key: value for key, value in os.environ.items() if key not in ("CRON_LOCK_TTL", "TIMED_TASK_LEASE")}
    env.update(DJANGO_SETTINGS_MODULE="oms_test.settings", OMS_IGNORE_DOTENV="1", SECRET_KEY="k" * 40,
               PAYMENT_SECRET="p" * 40, **environment)
    result = subprocess.run([sys.executable, "manage.py", "shell", "--no-imports", "-c", code], cwd=PROJECT_DIR,
                            env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_an_environment_variable_overrides_the_runtimes_default_and_an_unset_one_leaves_it():
    code = ("from django.conf import settings; from basic.cron_runtime import conf; "
            "print(conf.CRON_LOCK_TTL, conf.TIMED_TASK_LEASE, hasattr(settings, 'TIMED_TASK_LEASE'))")
    assert _settings_seen(code, CRON_LOCK_TTL="90") == "90 300 False"


def test_a_runtime_setting_that_is_not_a_number_is_refused_by_name():
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=PROJECT_DIR, capture_output=True, text=True,
                            env={**os.environ, "DJANGO_SETTINGS_MODULE": "oms_test.settings", "OMS_IGNORE_DOTENV": "1",
                                 "DEBUG": "1", "TIMED_TASK_LEASE": "5m"}, timeout=60, check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == "configuration error: TIMED_TASK_LEASE='5m' is not a whole number"
