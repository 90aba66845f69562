"""Run records, leases and alert states of the cron runtime.

The tables keep the names they had when these models lived in the ``basic`` app.
"""
from django.conf import settings
from django.db import models
from django.db.models import Q


class RunTrigger(models.TextChoices):
    CRON = "cron", "cron"
    MANUAL = "manual", "manual"
    CATCH_UP = "catch-up", "catch-up"
    TICKER = "ticker", "ticker"  # the embedded `cronjobs serve`
    CELERY = "celery", "celery"
    TIMED = "timed", "timed"  # a one-off timed task
    RETRY = "retry", "retry"  # another attempt at a slot whose run failed (the job's `retries` option)


class RunOutcome(models.TextChoices):
    RUNNING = "running", "running"
    SUCCEEDED = "succeeded", "succeeded"
    FAILED = "failed", "failed"
    SKIPPED = "skipped", "skipped"
    TERMINATED = "terminated", "terminated"


class JobRun(models.Model):
    """One run (or skipped attempt) of a scheduled job, whoever started it."""

    job = models.CharField(max_length=100)
    trigger = models.CharField(max_length=10, choices=RunTrigger.choices)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=RunOutcome.choices, default=RunOutcome.RUNNING)
    items_processed = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The minute a schedule asked for this run (UTC), when a schedule started it. Only a run that
    # holds the job's lease claims it; the unique constraint then refuses a second run of the
    # slot. Manual runs have none: NULLs are distinct in unique indexes (MariaDB, MySQL, SQLite).
    slot = models.DateTimeField(null=True, blank=True)
    # Which attempt at its slot this run is: 1, then 2… for the retries of a failed slot. One run
    # per (job, slot, attempt): a second start of the same attempt is refused like a slot's.
    attempt = models.PositiveSmallIntegerField(default=1)

    class Meta:
        db_table = "basic_jobrun"
        ordering = ["-started_at", "-id"]
        indexes = [
            # "The latest run" of a job (health, dashboard, job page): the first entry of these,
            # never a sort of the job's history. Both columns of the ORDER BY, in its direction.
            models.Index(fields=["job", "-started_at", "-id"], name="jobrun_job_latest"),
            models.Index(fields=["job", "outcome", "-started_at", "-id"], name="jobrun_job_outcome_latest"),
            # The first run on record (ticks.install_time, on every health view).
            models.Index(fields=["started_at"], name="jobrun_started"),
            # /metrics: a job's runs above its tally's watermark (run_totals.job_totals).
            models.Index(fields=["job", "id"], name="jobrun_job_id"),
        ]
        constraints = [models.UniqueConstraint(fields=["job", "slot", "attempt"], name="jobrun_one_run_per_attempt")]

    def __str__(self) -> str:
        return f"{self.job} {self.started_at:%Y-%m-%d %H:%M:%S} {self.outcome}"

    @property
    def duration(self):
        return self.finished_at - self.started_at if self.finished_at else None


class JobLock(models.Model):
    """A lease on a job shared by every host using this database.

    The holder renews ``expires_at`` while it runs; a holder that died (kill -9,
    host lost) stops renewing and the lease can be taken once it has expired.
    """

    job = models.CharField(max_length=100, primary_key=True)
    token = models.CharField(max_length=64, blank=True)
    host = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)
    run = models.ForeignKey(JobRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    acquired_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "basic_joblock"

    def __str__(self) -> str:
        return f"lock {self.job} ({self.host or 'free'})"

    # The one rule of a lease, in both forms: held while its holder's token is set and it has not
    # expired; free (anyone may take it) once released or expired.
    @staticmethod
    def free_at(now) -> Q:
        return Q(token="") | Q(expires_at__isnull=True) | Q(expires_at__lt=now)

    def held_at(self, now) -> bool:
        return bool(self.token) and self.expires_at is not None and self.expires_at >= now


class JobAlertState(models.Model):
    """Last alerted state of a job, so that ADMINS get one mail per change of state."""

    job = models.CharField(max_length=100, primary_key=True)
    failing = models.BooleanField(default=False)
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "basic_jobalertstate"


class JobPause(models.Model):
    """A job's pause (pausing.py): while ``paused`` (and before ``until``), no engine starts it.

    One row per job, kept after a resume: who paused it, when and why stay on record, and the
    end of the pause (``resumed_at``, or ``until``) is where its catch-up horizon starts again.
    """

    job = models.CharField(max_length=100, primary_key=True)
    paused = models.BooleanField(default=False)
    paused_at = models.DateTimeField()
    paused_by = models.CharField(max_length=150, help_text="a user name, or `host:user` for the command line")
    reason = models.CharField(max_length=500)
    until = models.DateTimeField(null=True, blank=True, help_text="resumes by itself then; empty = until resumed")
    resumed_at = models.DateTimeField(null=True, blank=True)
    resumed_by = models.CharField(max_length=150, blank=True)

    class Meta:
        db_table = "cron_runtime_jobpause"

    def __str__(self) -> str:
        return f"pause {self.job} ({'paused' if self.paused else 'resumed'})"


class TimedTaskStatus(models.IntegerChoices):
    # 0-3 are the tutorial's "celerytimer" numbers (kept); 4 is ours. A task being run is
    # still PENDING with a lease (claimed_by / lease_until): "running" is not a state a
    # task can be left in — a dispatcher that dies simply lets the lease run out.
    PENDING = 0, "pending"
    DONE = 1, "done"
    FAILED = 2, "failed"
    CANCELLED = 3, "cancelled"
    MISSED = 4, "missed"  # past its late window when a dispatcher got to it: recorded, not run


class TimedTaskQuerySet(models.QuerySet):
    def unheld(self, moment):
        """The tasks no dispatcher holds at ``moment``: never claimed, released, or their lease ran out."""
        return self.filter(Q(claimed_by__isnull=True) | Q(lease_until__lte=moment))


class TimedTask(models.Model):
    """A one-off call of a function at a time: scheduled by business code, run by the ``timed_tasks`` job."""

    func_path = models.CharField("function", max_length=255)
    name = models.CharField(max_length=200, blank=True)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    # Deduplication: scheduling the same key again moves the pending task instead of adding one.
    key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    run_at = models.DateTimeField()
    status = models.SmallIntegerField(choices=TimedTaskStatus.choices, default=TimedTaskStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0, help_text="attempts that finished (done or raised)")
    max_attempts = models.PositiveIntegerField(default=3)
    # The due column: run_at at first, the retry time after a failure. A dispatcher holding the
    # task leaves it alone (its hold is claimed_by and lease_until, columns no index carries, so a
    # claim writes no index entry): the due query is `status = 0 AND next_attempt_at <= now` on
    # the index, then skips the rows held by a lease that has not run out.
    next_attempt_at = models.DateTimeField()
    late_window = models.DurationField(
        null=True, blank=True, help_text="how late after run_at it may still run; empty = however late"
    )
    # A queue named in TIMED_TASK_QUEUES with a rate is drained at that rate by all dispatchers
    # together (queue_dispatch.py); "" and unnamed queues run as fast as dispatchers go.
    queue = models.CharField(max_length=50, blank=True, default="")
    # What the function returned (JSON, at most 64 KB), for a page that polls for the answer.
    result = models.JSONField(null=True, blank=True)
    claimed_by = models.CharField(max_length=64, null=True, blank=True, help_text="lease token of the dispatcher running it")
    lease_until = models.DateTimeField(null=True, blank=True)
    executed_time = models.DateTimeField(null=True, blank=True, help_text="start of the latest attempt")
    finish_time = models.DateTimeField(null=True, blank=True)
    host = models.CharField(max_length=255, blank=True)
    last_error = models.TextField(blank=True)
    created_time = models.DateTimeField(auto_now_add=True)
    updated_time = models.DateTimeField(auto_now=True)

    objects = TimedTaskQuerySet.as_manager()

    class Meta:
        ordering = ["-run_at", "-id"]
        indexes = [
            # The dispatcher's due query: WHERE status = 0 AND next_attempt_at <= now ORDER BY next_attempt_at, id.
            models.Index(fields=["status", "next_attempt_at"], name="timedtask_due"),
            models.Index(fields=["run_at"], name="timedtask_run_at"),
            # A rate-limited queue's due query and backlog: WHERE queue = q AND status = 0 AND next_attempt_at <= now.
            models.Index(fields=["queue", "status", "next_attempt_at"], name="timedtask_queue_due"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=TimedTaskStatus.values), name="timedtask_status_known"),
            models.CheckConstraint(condition=models.Q(max_attempts__gte=1), name="timedtask_max_attempts_positive"),
            models.CheckConstraint(condition=models.Q(attempts__lte=models.F("max_attempts")),
                                   name="timedtask_attempts_within_max"),
            # Only a pending task can be held by a dispatcher, and a hold always has its expiry.
            models.CheckConstraint(
                condition=models.Q(claimed_by__isnull=True, lease_until__isnull=True)
                | models.Q(status=TimedTaskStatus.PENDING, claimed_by__isnull=False, lease_until__isnull=False),
                name="timedtask_lease_only_when_pending",
            ),
            models.CheckConstraint(
                condition=models.Q(status=TimedTaskStatus.PENDING) | models.Q(finish_time__isnull=False),
                name="timedtask_finished_has_finish_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name or self.func_path} @ {self.run_at:%Y-%m-%d %H:%M} ({self.get_status_display()})"

    @property
    def running(self) -> bool:
        """A dispatcher holds it now (its lease has not run out)."""
        from django.utils import timezone

        return self.status == TimedTaskStatus.PENDING and self.lease_until is not None and self.lease_until > timezone.now()


class JobRunTally(models.Model):
    """What a job's finished runs up to ``through_id`` add up to (see run_totals.py).

    /metrics reads this plus the few runs above ``through_id``; pruning deletes only runs at or
    below it, so the counters (runs by outcome, the duration histogram) never go down.
    """

    job = models.CharField(max_length=100, primary_key=True)
    runs = models.JSONField(default=dict)  # outcome -> runs
    buckets = models.JSONField(default=dict)  # str(upper bound in seconds) -> worked runs at most that long
    worked = models.PositiveBigIntegerField(default=0)  # runs that did work (not skipped)
    worked_seconds = models.FloatField(default=0)  # their summed duration
    last_success = models.DateTimeField(null=True, blank=True)  # when the latest folded success finished
    through_id = models.PositiveBigIntegerField(default=0)  # every run of the job with id <= this is counted

    def __str__(self) -> str:
        return f"tally {self.job}"


class QueueRateWindow(models.Model):
    """The shared rate limiter of one queue when no Redis holds it: the times of its latest grants.

    One row per rate-limited queue, locked while a dispatcher takes a grant (queue_rates.py).
    """

    queue = models.CharField(max_length=50, primary_key=True)
    grants = models.JSONField(default=dict)  # grant token -> when its slot frees a period later (s, database clock)

    def __str__(self) -> str:
        return f"rate window {self.queue}"
