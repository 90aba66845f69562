"""Running: one run of one job, whoever started it.

runner (claim the slot, hold the lease, call the function, record the outcome), lease (the lock with a
TTL, renewal and a holder that may have died), stopping and time_limit (SIGTERM and the per-job limit),
joblog and faults (the job's loguru log, one-line causes for sysadmins), progress and result (what a
function reports), alerts and alert_channels (the message after a failed or stopped run), command (the
base of the runtime's management commands).
"""
