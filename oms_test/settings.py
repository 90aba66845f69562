"""Settings for oms_test, read from the environment (see .env.example).

Environment files: ``.env`` in the project folder is read first; ``OMS_ENV_FILE``
(written by ``manage.py crontab add`` as ``.cron.env``) lets cron's bare
environment see the same configuration the sysadmin had. Real environment
variables always win over both files.
"""
import os
import socket
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()


def env_int_at_least(name: str, *, default: int, minimum: int, why: str) -> int:
    """An integer setting from the environment, refused (naming it and the bound) below ``minimum``.

    A zero or negative value would not fail loudly later: a chunk size of 0 cancels nothing
    every minute, a lock TTL of 0 or less lets two runs overlap.
    """
    from django.core.exceptions import ImproperlyConfigured

    try:
        value = env.int(name, default=default)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={os.environ.get(name)!r} is not a whole number ({why})") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is too small: it must be at least {minimum} ({why})")
    return value


(BASE_DIR / "var").mkdir(exist_ok=True)  # local state: SQLite test DBs, file cache, mail
_dotenv = None if os.environ.get("OMS_IGNORE_DOTENV") else BASE_DIR / ".env"  # tests ignore a developer's .env
for env_file in (os.environ.get("OMS_ENV_FILE"), _dotenv):
    if env_file and Path(env_file).is_file():
        env.read_env(str(env_file), overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# Development keys are only handed out when DEBUG is on; production must set them.
SECRET_KEY = env.str("SECRET_KEY", default="dev-insecure-key-change-me" if DEBUG else None)
PAYMENT_SECRET = env.str("PAYMENT_SECRET", default="dev-payment-secret" if DEBUG else None)
_weak = [
    name for name, value in (("SECRET_KEY", SECRET_KEY), ("PAYMENT_SECRET", PAYMENT_SECRET))
    if not DEBUG and (not value or value.startswith("change-me") or len(value) < 32)
]
if _weak:
    from django.core.exceptions import ImproperlyConfigured

    # A known PAYMENT_SECRET would let anyone forge "paid" callbacks.
    raise ImproperlyConfigured(
        f"{' and '.join(_weak)} must be set to a random value of at least 32 characters when DEBUG is off "
        "(not the .env.example placeholder); `make .env` writes a .env with fresh ones."
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # Our apps come first so that the cron runtime's `crontab` command replaces django-crontab's.
    "basic",
    "basic.cron_runtime",
    "order",
    "gateway",  # the simulated payment gateway (a stand-in for a third party)
    "django_crontab",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "oms_test.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "oms_test.wsgi.application"

# --- Database -------------------------------------------------------------
DATABASES = {
    "default": env.db_url_config(os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3" and _db["NAME"] != ":memory:":
    # A relative SQLite path means the project folder, whatever the working directory (cron's is $HOME).
    _db["NAME"] = str(BASE_DIR / _db["NAME"])
if _db["ENGINE"] == "django.db.backends.mysql":
    import pymysql

    pymysql.install_as_MySQLdb()
    _db.setdefault("OPTIONS", {}).update(
        {"charset": "utf8mb4", "init_command": "SET sql_mode='STRICT_TRANS_TABLES'"}
    )
    _db.setdefault("TEST", {}).update({"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"})
    if env.str("TEST_DATABASE_NAME", default=""):
        _db["TEST"]["NAME"] = env.str("TEST_DATABASE_NAME")
elif _db["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock at BEGIN, so a read-then-write transaction
    # (select expired orders, then flip them) cannot interleave with another writer.
    _db.setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": 30})
    # A file (not :memory:) so that subprocesses started by tests see the test database.
    _db.setdefault("TEST", {}).setdefault(
        "NAME", str(BASE_DIR / "var" / (env.str("TEST_DATABASE_NAME", default="test_db") + ".sqlite3"))
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (shared by web and cron processes) ------------------------------
CACHES = {
    "default": env.cache_url(
        "CACHE_URL", default=f"filecache://{BASE_DIR / 'var' / 'cache'}"
    )
}

# --- Email -----------------------------------------------------------------
if "EMAIL_URL" in os.environ:
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.filebased.EmailBackend")
    EMAIL_FILE_PATH = str(BASE_DIR / env.str("EMAIL_FILE_PATH", default="var/mail"))
    EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
    EMAIL_PORT = env.int("EMAIL_PORT", default=25)
    EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
    EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
    EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env_int_at_least("EMAIL_TIMEOUT", default=10, minimum=1, why="seconds to wait for the mail server")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="oms@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
ADMINS = [("Admin", a) for a in env.list("ADMINS", default=[])]
# Job alerts (failing, recovered, time limit reached) also go to each of these Apprise URLs, e.g.
# "dingtalk://TOKEN/,slack://T/B/C" (comma-separated; docs/cron.md "Alerts").
ALERT_URLS = env.list("ALERT_URLS", default=[])

# --- Auth ------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "order:list"
LOGOUT_REDIRECT_URL = "home"

# --- Time ------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"  # `manage.py collectstatic` copies every static file here
# Project-wide static files: the vendored chart library and the script that draws the charts.
STATICFILES_DIRS = [BASE_DIR / "static"]

# --- Business rules ----------------------------------------------------------
ORDER_TIMEOUT = env_int_at_least("ORDER_TIMEOUT", default=3600, minimum=1, why="seconds an order may stay unpaid")
POINTS_PER_YUAN = 100  # 100 points pay for 1 yuan
BIRTHDAY_MAIL_GRACE_DAYS = env_int_at_least("BIRTHDAY_MAIL_GRACE_DAYS", default=1, minimum=0,
                                            why="days a missed birthday is still greeted; 0 = only today")
CANCEL_TIMEOUTS_CHUNK_SIZE = env_int_at_least("CANCEL_TIMEOUTS_CHUNK_SIZE", default=2000, minimum=1,
                                              why="orders cancelled per transaction")
ORDER_REMINDER_BEFORE = env_int_at_least("ORDER_REMINDER_BEFORE", default=600, minimum=0,
                                        why="seconds before the payment deadline the unpaid-order reminder is "
                                            "mailed; 0 = no reminder")
LIVE_REMINDER_BEFORE = env_int_at_least("LIVE_REMINDER_BEFORE", default=1800, minimum=0,
                                       why="seconds before a live class starts that its students are mailed; "
                                           "0 = no reminder")
# The payment gateway's status query (docs/payments.md, "The gateway query"). The shop reaches the
# gateway only over HTTP at GATEWAY_URL: by default the simulator this site serves (make run's address).
GATEWAY_SIMULATOR_URL = "http://127.0.0.1:8000/gateway/"  # make run points it at the port it serves on
GATEWAY_URL = env.str("GATEWAY_URL", default=GATEWAY_SIMULATOR_URL).rstrip("/") + "/"
GATEWAY_QPS = env_int_at_least("GATEWAY_QPS", default=2, minimum=1,
                               why="status queries per second the simulated gateway answers before it says 429")
GATEWAY_QUERY_BEFORE = env_int_at_least("GATEWAY_QUERY_BEFORE", default=120, minimum=0,
                                        why="seconds before an unpaid order's deadline the shop asks the gateway "
                                            "whether it was paid; 0 = never")
GATEWAY_QUERY_GRACE = env_int_at_least("GATEWAY_QUERY_GRACE", default=600, minimum=0,
                                       why="seconds past its deadline an order waits for its pending gateway query "
                                           "before cancel_timeouts cancels it anyway")
GATEWAY_QUERY_TIMEOUT = env_int_at_least("GATEWAY_QUERY_TIMEOUT", default=10, minimum=1,
                                         why="seconds the shop waits for the gateway's answer to a status query")

# --- Logs --------------------------------------------------------------------
LOG_DIR = BASE_DIR / env.str("LOG_DIR", default="logs")  # a relative path means the project folder
CRON_LOG_DIR = LOG_DIR / "crontab"
LOG_RETENTION = env.str("LOG_RETENTION", default="30 days")
LOG_ROTATION = env.str("LOG_ROTATION", default="20 MB")
HOSTNAME = env.str("OMS_HOSTNAME", default=socket.gethostname())

# --- Metrics ---------------------------------------------------------------
# /metrics answers loopback clients, and others that send "Authorization: Bearer <METRICS_TOKEN>".
# Empty = loopback only. A short token could be guessed: refused like a weak secret.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
if METRICS_TOKEN and len(METRICS_TOKEN) < 16:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("METRICS_TOKEN is too short: use at least 16 random characters, or leave it empty "
                               "(then /metrics answers loopback clients only)")

# Every log sink (console, logs/oms.log, logs/crontab/<job>.log) writes text lines, or one JSON object
# per line for log shippers (LOG_FORMAT=json). A typo must not silently fall back to text.
LOG_FORMAT = env.str("LOG_FORMAT", default="") or "text"  # empty = the default
if LOG_FORMAT not in ("text", "json"):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r} is not valid: use text (the default) or json")

# --- Scheduled jobs (django-crontab) -----------------------------------------
# Schedules are wall-clock times in TIME_ZONE; `crontab add` translates them for the
# cron daemon's own timezone when the two differ (see basic/cron_runtime/scheduling/schedule.py).
# Each job once: its name (logs/crontab/<name>.log, run records, `cronjobs run NAME`), its
# schedule, its function and its options (basic/cron_runtime/scheduling/job_options.py, docs/cron.md "Job
# options"): timeout (s; stopped like SIGTERM past it), retries and retry_delay (s, doubling),
# catch_up (latest | all | none) and grace (s). django-crontab reads CRONJOBS; the runtime the rest.
_JOBS = [
    ("cancel_timeouts", "* * * * *", "order.cron.cancel_timeouts", {"timeout": 600}),
    ("birthday_mail", "0 8 * * *", "basic.cron.send_birthday_mail",
     {"timeout": 1800, "retries": 3, "retry_delay": 600}),
    ("monthly_finance", "30 0 1 * *", "order.cron.monthly_finance",
     {"timeout": 3600, "retries": 3, "retry_delay": 300}),
    ("refresh_home_cache", "*/5 * * * *", "basic.cron.refresh_home_cache", {"timeout": 240}),
    ("heartbeat", "* * * * *", "basic.cron.heartbeat", {"timeout": 120}),
    ("timed_tasks", "* * * * *", "basic.cron.run_timed_tasks", {"timeout": 900}),
]
CRONJOBS = [(schedule, function) for _name, schedule, function, _options in _JOBS]
# A function not named here (a CRONJOBS entry added by hand) is named after itself.
CRONJOB_NAMES = {function: name for name, _schedule, function, _options in _JOBS}
CRONJOB_OPTIONS = {name: options for name, _schedule, _function, options in _JOBS}
# A run past its time limit is stopped like SIGTERM; one that has not stopped this many seconds
# later (stuck where a signal cannot reach it) is recorded as terminated and its process killed.
CRON_TIME_LIMIT_GRACE = 30
CRONTAB_DJANGO_PROJECT_NAME = "oms_test"
CRONTAB_DJANGO_MANAGE_PATH = str(BASE_DIR / "manage.py")
# A lock lease: a run renews it while alive; a crashed (kill -9) run's lock is free
# again after at most this many seconds (at once on the same host: its pid is gone).
CRON_LOCK_TTL = env_int_at_least("CRON_LOCK_TTL", default=60, minimum=3,
                                 why="seconds a lock lease lasts; a run renews it every third of that")
CRON_HEARTBEAT_STALE_AFTER = env_int_at_least("CRON_HEARTBEAT_STALE_AFTER", default=180, minimum=60,
                                              why="the heartbeat runs once a minute")
CRON_RUN_RETENTION_DAYS = env_int_at_least("CRON_RUN_RETENTION_DAYS", default=30, minimum=1,
                                           why="days of run history kept")
# One-off timed tasks (the timed_tasks job): tasks claimed per transaction, how long a claim
# lasts (a killed dispatcher's tasks run again after it), first retry delay (doubled each time).
TIMED_TASKS_CHUNK_SIZE = env_int_at_least("TIMED_TASKS_CHUNK_SIZE", default=500, minimum=1,
                                          why="timed tasks claimed per transaction")
TIMED_TASK_LEASE = env_int_at_least("TIMED_TASK_LEASE", default=300, minimum=10,
                                    why="seconds a dispatcher holds a claimed task; one task must finish within it")
TIMED_TASK_RETRY_DELAY = env_int_at_least("TIMED_TASK_RETRY_DELAY", default=60, minimum=1,
                                          why="seconds before a failed timed task's first retry")
# Finished timed tasks (done, failed, cancelled, missed) are pruned by the heartbeat after this many days.
TIMED_TASK_RETENTION_DAYS = env_int_at_least("TIMED_TASK_RETENTION_DAYS", default=30, minimum=1,
                                             why="days a finished timed task is kept")
# Rate-limited timed-task queues: all dispatchers together call at most this many tasks of a
# queue per second/minute/hour (docs/timed_tasks.md, "Queues and rates"). The environment's
# TIMED_TASK_QUEUES ("gateway=2/s,reports=600/m") replaces the whole dict.
TIMED_TASK_QUEUES = {"gateway": "2/s"}
if os.environ.get("TIMED_TASK_QUEUES") is not None:
    TIMED_TASK_QUEUES = os.environ["TIMED_TASK_QUEUES"]
try:
    from basic.cron_runtime.timed_tasks.rate_spec import RateSpecError, queue_rates_parse

    TIMED_TASK_QUEUES = {name: str(rate) for name, rate in queue_rates_parse(TIMED_TASK_QUEUES).items()}
except RateSpecError as _exc:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"TIMED_TASK_QUEUES={TIMED_TASK_QUEUES!r} is not valid: {_exc}") from None
# Where the queues' shared limiter lives: empty = the database (one row per queue, locked per
# grant), or redis://host:6379/N (a sorted set per queue, kept by a Lua script on Redis's clock).
TIMED_TASK_RATE_LIMITER_URL = env.str("TIMED_TASK_RATE_LIMITER_URL", default="")
if TIMED_TASK_RATE_LIMITER_URL and not TIMED_TASK_RATE_LIMITER_URL.startswith(("redis://", "rediss://")):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"TIMED_TASK_RATE_LIMITER_URL={TIMED_TASK_RATE_LIMITER_URL!r} is not valid: "
                               "leave it empty (the database holds the limiter) or use redis://host:6379/N")
# The cron daemon's timezone; empty = read /etc/localtime. Set it when that file lies
# (some containers) — `crontab add` widens schedules when it differs from TIME_ZONE.
CRON_HOST_TIME_ZONE = env.str("CRON_HOST_TIME_ZONE", default="")
# The name of this installation in the crontab markers; empty = the project folder. Set it
# (e.g. "shop-prod") when each release is deployed to its own folder: `crontab add` from a new
# release then replaces the previous release's lines instead of adding to them.
CRON_CHECKOUT_ID = env.str("CRON_CHECKOUT_ID", default="")
# `crontab add` copies into .cron.env every variable .env.example documents that is set in its
# shell; a site whose own code reads more variables names them here.
CRON_ENV_EXTRA_VARIABLES: list[str] = []

# --- Engine: who ticks the jobs (cron or Celery) -------------------------------------
# Either engine only decides WHEN to ask which jobs are due (basic/cron_runtime/scheduling/ticks.py) and
# how to start them; runs, slots, leases, logs and alerts are the same (docs/celery.md).
SCHEDULER = env.str("SCHEDULER", default="cron")
if SCHEDULER not in ("cron", "celery"):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"SCHEDULER={SCHEDULER!r} is not an engine: use 'cron' (the default) or 'celery'")
# Celery (used when SCHEDULER=celery; read by oms_test/celery.py through the CELERY_ namespace).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/2")
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_ENABLE_UTC = True
# No result backend: a run's record (JobRun) is its result, and a failed run's task is in
# state FAILURE for the worker's log and its task events (`celery -A oms_test events`).
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_SEND_TASK_EVENTS = True
# A worker takes one message at a time per process and acknowledges it when the run is over:
# a worker that dies mid-run leaves its message to be delivered again, and the slot guarantee
# turns that second delivery into a skipped record instead of a second run.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True
# Redis hands an unacknowledged message to another worker after this many seconds: it must be
# longer than the longest job, or a job still running is delivered (and skipped) again.
CELERY_VISIBILITY_TIMEOUT = env_int_at_least("CELERY_VISIBILITY_TIMEOUT", default=6 * 3600, minimum=60,
                                             why="seconds before Redis re-delivers an unacknowledged job; "
                                                 "above the longest job")
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None  # a worker waits for Redis as long as it takes, never gives up
# When the broker goes away, a running job finishes (its message comes back once Redis does,
# and the slot guarantee records that second delivery as skipped).
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# Queue names say what waits in them (jobs), not an engine; until the next release a worker also
# drains the old names, cron and cron_long (engine.RENAMED_QUEUES), so nothing sent before the rename is lost.
CELERY_TASK_DEFAULT_QUEUE = "jobs"
# Celery's Django fixup closes the database connection around every task unless told to reuse it:
# a new PyMySQL connection builds a TLS context each time, which costs more than the tick and a
# short job together (benchmarks/RESULTS.md, "Celery engine"). A worker process keeps its connection for this many tasks and
# checks it before each (oms_test/celery.py), so a server restart costs no job.
CELERY_DB_REUSE_MAX = 500
# Jobs that may run for minutes get a queue (and, in production, a worker) of their own, so
# they never hold up the every-minute jobs. Other jobs go to CELERY_TASK_DEFAULT_QUEUE.
CRONJOB_CELERY_QUEUES = {"monthly_finance": "jobs_long", "birthday_mail": "jobs_long"}
# An interval job ("every 10s") keeps a worker process busy for its whole minute: such jobs go to a
# queue of their own (unless CRONJOB_CELERY_QUEUES names one), served by a worker with a process per
# interval job and one more (docs/systemd/oms-celery-worker-interval.service).
CRONJOB_INTERVAL_QUEUE = "jobs_interval"
# Beat sends one tick a minute and nothing else; the runtime decides what is due in TIME_ZONE
# and what to catch up. In-memory scheduler: beat keeps no schedule file of its own.
# Its one entry is in oms_test/celery.py (it needs Celery's classes).
CELERY_BEAT_SCHEDULER = "celery.beat:Scheduler"
# Celery's own log lines go through loguru (oms_test/celery.py, setup_logging signal).
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Django's own logging stays quiet; our logs go through loguru (oms_conf.logging).
LOGGING_CONFIG = None
import oms_conf.logging

oms_conf.logging.configure(
    log_dir=LOG_DIR, rotation=LOG_ROTATION, retention=LOG_RETENTION, host=HOSTNAME, time_zone=TIME_ZONE,
    log_format=LOG_FORMAT,
)
