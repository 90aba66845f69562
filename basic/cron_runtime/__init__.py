"""The cron runtime: job registry, schedules, the one runner, locks, crontab install, health."""
