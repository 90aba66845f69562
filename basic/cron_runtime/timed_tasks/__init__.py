"""One-off timed tasks: schedule, cancel and retry them (services), and the dispatcher that runs what is
due (dispatcher, with its per-chunk SQL in chunk_sql and its lease in claim; the timed_tasks job that
calls it: job), with rate-limited queues drained at their global rate (queue_dispatch, queue_rates,
rate_spec) and their backlog for the pages (queue_backlog).
"""
