"""Run records, leases and alert states of the cron runtime.

The tables keep the names they had when these models lived in the ``basic`` app.
"""
from django.conf import settings
from django.db import models


class RunTrigger(models.TextChoices):
    CRON = "cron", "cron"
    MANUAL = "manual", "manual"
    CATCH_UP = "catch-up", "catch-up"
    TICKER = "ticker", "ticker"  # the embedded `cronjobs serve`
    CELERY = "celery", "celery"
    TIMED = "timed", "timed"  # a one-off timed task


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

    class Meta:
        db_table = "basic_jobrun"
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["job", "-started_at"], name="jobrun_job_started")]
        constraints = [models.UniqueConstraint(fields=["job", "slot"], name="jobrun_one_run_per_slot")]

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


class JobAlertState(models.Model):
    """Last alerted state of a job, so that ADMINS get one mail per change of state."""

    job = models.CharField(max_length=100, primary_key=True)
    failing = models.BooleanField(default=False)
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "basic_jobalertstate"
