"""The project package. ``oms_test.celery_app`` is the Celery app of oms_test/celery.py.

It is loaded on first use rather than with Django: under the cron engine every job run is a
process of its own (`crontab run HASH`), which should not pay for importing Celery
(benchmarks/RESULTS.md) when it does not use that engine. Celery's commands load it (`celery -A oms_test`), and so does
anything that sends a task (it imports ``oms_test.celery``).
"""


def __getattr__(name):
    if name == "celery_app":
        from .celery import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
