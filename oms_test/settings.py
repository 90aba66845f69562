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


def env_whole_number(name: str, *, default: int | None = None, why: str = "") -> int:
    """An integer from the environment; a value that is not one is refused, naming the variable."""
    from django.core.exceptions import ImproperlyConfigured

    try:
        return env.int(name, default=default)
    except ValueError:
        because = f" ({why})" if why else ""
        raise ImproperlyConfigured(f"{name}={os.environ.get(name)!r} is not a whole number{because}") from None


def env_int_at_least(name: str, *, default: int, minimum: int, why: str) -> int:
    """An integer setting from the environment, refused (naming it and the bound) below ``minimum``.

    A zero or negative value would not fail loudly later: a chunk size of 0 cancels nothing
    every minute, an order timeout of 0 cancels every order at once.
    """
    from django.core.exceptions import ImproperlyConfigured

    value = env_whole_number(name, default=default, why=why)
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is too small: it must be at least {minimum} ({why})")
    return value


def env_if_set(name: str, read=None) -> dict:
    """``{name: value}`` when the environment (or .env) sets ``name``, ``{}`` when it does not: merged
    into the settings, so that a variable left unset keeps the default of the app that reads it."""
    if name not in os.environ:
        return {}
    return {name: (read or env.str)(name)}


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
    "order.learning",  # courses: lessons, live classes, enrolments (built on order)
    "oms_test.gateway",  # the simulated payment gateway (a stand-in for a third party)
    "oms_test",  # the project itself: load_demo, which puts every app's demo data together
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
LOG_RETENTION = env.str("LOG_RETENTION", default="30 days")
LOG_ROTATION = env.str("LOG_ROTATION", default="20 MB")
HOSTNAME = env.str("OMS_HOSTNAME", default=socket.gethostname())

# Every log sink (console, logs/oms.log, logs/crontab/<job>.log) writes text lines, or one JSON object
# per line for log shippers (LOG_FORMAT=json). A typo must not silently fall back to text.
LOG_FORMAT = env.str("LOG_FORMAT", default="") or "text"  # empty = the default
if LOG_FORMAT not in ("text", "json"):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r} is not valid: use text (the default) or json")

# --- Scheduled jobs (django-crontab) -----------------------------------------
# This site's business jobs, each once: its name (logs/crontab/<name>.log, run records, `cronjobs run
# NAME`), its schedule (wall-clock times in TIME_ZONE; `crontab add` translates them for the cron
# daemon's own timezone), its function and its options (docs/cron.md "Job options"): timeout (s;
# stopped like SIGTERM past it), retries and retry_delay (s, doubling), catch_up (latest | all | none)
# and grace (s). The runtime adds its own jobs, heartbeat and timed_tasks, to CRONJOBS when it loads;
# every other runtime setting has its default in basic/cron_runtime/conf.py.
_JOBS = [
    ("cancel_timeouts", "* * * * *", "order.cron.cancel_timeouts", {"timeout": 600}),
    ("birthday_mail", "0 8 * * *", "basic.cron.send_birthday_mail",
     {"timeout": 1800, "retries": 3, "retry_delay": 600}),
    ("monthly_finance", "30 0 1 * *", "order.cron.monthly_finance",
     {"timeout": 3600, "retries": 3, "retry_delay": 300}),
    ("refresh_home_cache", "*/5 * * * *", "order.cron.refresh_home_cache", {"timeout": 240}),
]
CRONJOBS = [(schedule, function) for _name, schedule, function, _options in _JOBS]
CRONJOB_NAMES = {function: name for name, _schedule, function, _options in _JOBS}
CRONJOB_OPTIONS = {name: options for name, _schedule, _function, options in _JOBS}
# The jobs that may run for minutes get a Celery queue of their own, so that they never hold up the
# every-minute ones (the others go to the runtime's default queue, jobs).
CRONJOB_CELERY_QUEUES = {"monthly_finance": "jobs_long", "birthday_mail": "jobs_long"}
CRONTAB_DJANGO_PROJECT_NAME = "oms_test"
CRONTAB_DJANGO_MANAGE_PATH = str(BASE_DIR / "manage.py")
# The payment gateway answers so many status queries a second: all dispatchers together stay under it
# (docs/timed_tasks.md, "Queues and rates"). "gateway=2/s,reports=600/m" from the environment.
TIMED_TASK_QUEUES = env.str("TIMED_TASK_QUEUES", default="gateway=2/s")
# Celery's Django fixup closes the database connection around every task unless told to reuse it:
# a new PyMySQL connection builds a TLS context each time, which costs more than the tick and a
# short job together (benchmarks/RESULTS.md, "Celery engine"). A worker process keeps its connection
# for this many tasks and checks it before each (oms_test/celery.py), so a server restart costs no job.
CELERY_DB_REUSE_MAX = 500

# The cron runtime's settings this site takes from the environment (.env.example). One left unset keeps
# the runtime's default (basic/cron_runtime/conf.py), which also refuses a value out of range at start-up.
globals().update({
    **env_if_set("CRON_LOCK_TTL", env_whole_number),
    **env_if_set("CRON_HEARTBEAT_STALE_AFTER", env_whole_number),
    **env_if_set("CRON_RUN_RETENTION_DAYS", env_whole_number),
    **env_if_set("CRON_HOST_TIME_ZONE"),
    **env_if_set("CRON_CHECKOUT_ID"),
    **env_if_set("TIMED_TASKS_CHUNK_SIZE", env_whole_number),
    **env_if_set("TIMED_TASK_LEASE", env_whole_number),
    **env_if_set("TIMED_TASK_RETRY_DELAY", env_whole_number),
    **env_if_set("TIMED_TASK_RETENTION_DAYS", env_whole_number),
    **env_if_set("TIMED_TASK_RATE_LIMITER_URL"),
    **env_if_set("SCHEDULER"),
    **env_if_set("CELERY_BROKER_URL"),
    **env_if_set("CELERY_VISIBILITY_TIMEOUT", env_whole_number),
    **env_if_set("ALERT_URLS", env.list),
    **env_if_set("METRICS_TOKEN"),
})

# Django's own logging stays quiet; our logs go through loguru (oms_conf.logging).
LOGGING_CONFIG = None
import oms_conf.logging

oms_conf.logging.configure(
    log_dir=LOG_DIR, rotation=LOG_ROTATION, retention=LOG_RETENTION, host=HOSTNAME, time_zone=TIME_ZONE,
    log_format=LOG_FORMAT,
)
