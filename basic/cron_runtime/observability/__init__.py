"""Observability: what staff and monitors read. health (the dashboard's and /healthz/cron's answer),
metrics (/metrics), run_totals (maintained counts), starter (who starts the jobs on this machine),
housekeeping (the heartbeat job itself, and its pruning and recovery checks).
"""
