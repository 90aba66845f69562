"""Scheduling: which jobs exist and when each is due, in the business timezone.

registry (the jobs of settings.CRONJOBS, the runtime's own heartbeat and timed_tasks among them, and
their options), schedule (cron expressions, next/previous run, plain-language descriptions), ticks (the
one tick path: the slots due at a minute, catch-up), pausing and retries (what staff asked for), engine
(which engine is configured and its queues). Imports only the app's models and settings (conf.py).
"""
