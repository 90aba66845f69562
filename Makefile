# The two commands: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# `make test` runs on SQLite; with DATABASE_URL=mysql://… it runs on MySQL/MariaDB as well.
# SKIP_SQLITE=1 runs only the MySQL pass (CI's second call).
PYTEST_ARGS ?=
# Where `make run` serves: `make run PORT=8001`, or `make run ADDR=0.0.0.0:8001` (every interface).
PORT ?= 8000
ADDR ?= 127.0.0.1:$(PORT)

.PHONY: run test test-sqlite test-mysql bench bench-celery worker beat clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

# A local .env with fresh random secrets, made once from .env.example.
.env: | $(BIN)/python
	$(BIN)/python scripts/make_env.py .env.example .env

# run_site.py installs the crontab lines (SCHEDULER=cron) and starts what must start the jobs here:
# nothing more with a cron daemon, `cronjobs serve` without one, a worker and beat under SCHEDULER=celery.
run: $(VENV)/.installed .env
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_demo
	@$(BIN)/python scripts/run_site.py $(ADDR)

test: $(VENV)/.installed
ifeq ($(SKIP_SQLITE)$(filter mysql://%,$(DATABASE_URL)),1)
	$(error SKIP_SQLITE=1 needs DATABASE_URL=mysql://… (otherwise no test would run))
endif
ifneq ($(SKIP_SQLITE),1)
	$(MAKE) --no-print-directory test-sqlite
endif
ifneq ($(filter mysql://%,$(DATABASE_URL)),)
	$(MAKE) --no-print-directory test-mysql
endif

test-sqlite: $(VENV)/.installed
	@echo "== test suite on SQLite =="
	env -u DATABASE_URL $(BIN)/python -m pytest $(PYTEST_ARGS)

# The real-cron-daemon end-to-end test and the make-run/serve process tests (one_database) run once, in the SQLite pass.
test-mysql: $(VENV)/.installed
	@echo "== test suite on MySQL/MariaDB ($(DATABASE_URL)) =="
	$(BIN)/python scripts/wait_for_db.py
	$(BIN)/python -m pytest -m "not cron_daemon and not one_database" $(PYTEST_ARGS)

# Benchmarks (not part of `make test`): the runner's own cost, then the jobs on MariaDB
# (its database: BENCH_DATABASE_URL, default mysql://root@127.0.0.1:3306/oms_bench), then the
# timed-task dispatcher (BENCH_TIMED_DATABASE_URL, default …/oms_timed_bench), then Celery, then the pages
# and the home refresh as the data grows (BENCH_PAGES_DATABASE_URL, BENCH_HOME_DATABASE_URL), an interval job's
# jitter, the rate-limited queues for 60 s a point, and the deadline query at 1,000,000 orders; each benchmark
# writes its own section of benchmarks/RESULTS.md (between its <!-- name --> markers), leaving the others.
bench: $(VENV)/.installed
	$(BIN)/python benchmarks/runner_overhead.py
	$(BIN)/python benchmarks/jobs_bench.py
	$(BIN)/python benchmarks/timed_tasks_bench.py
	$(BIN)/python benchmarks/celery_bench.py
	$(BIN)/python benchmarks/pages_bench.py
	$(BIN)/python benchmarks/interval_jitter.py
	$(BIN)/python benchmarks/queue_rate_bench.py 60
	$(BIN)/python benchmarks/deadline_query.py

# The Celery engine (SCHEDULER=celery, CELERY_BROKER_URL; docs/celery.md). Both refuse to start
# under SCHEDULER=cron. A worker consumes every job queue (production: one per queue, see
# docs/systemd/); run ONE beat (a second is harmless, one run per slot, but wasteful).
WORKER_ARGS ?= --concurrency 2
worker: $(VENV)/.installed
	$(BIN)/celery -A oms_test worker --loglevel INFO --without-gossip $(WORKER_ARGS)

beat: $(VENV)/.installed
	$(BIN)/celery -A oms_test beat --loglevel INFO

# Tick-to-start latency and throughput, Celery vs process-per-run (Redis DB 12 by default).
bench-celery: $(VENV)/.installed
	$(BIN)/python benchmarks/celery_bench.py

clean:
	rm -rf $(VENV) var
