"""Engines: what starts the runs. ticker (`cronjobs serve`), celery_tasks (Celery beat's tick and the
workers' runs) and launcher (a job in its own process, for serve and for staff's Run now). The crontab
lines are the installer's.
"""
