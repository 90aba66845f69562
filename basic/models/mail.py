from django.conf import settings
from django.db import models


class ClaimedMail(models.Model):
    """One email to one person that must go out at most once, even with two senders at once.

    A sender claims the row with a conditional UPDATE before it sends (see
    ``basic.services.mail_batch``), so two runs (two hosts) never mail the same person;
    a claim older than the stale limit belongs to a run that died and may be taken over.
    """

    sent_time = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    claim_token = models.CharField(max_length=32, blank=True, default="")
    claimed_at = models.DateTimeField(null=True, blank=True)
    created_time = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True


class BirthdayGreeting(ClaimedMail):
    """A birthday email sent (or being sent) to a user for one year: at most one per year."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="birthday_greetings")
    year = models.PositiveSmallIntegerField()
    birthday_date = models.DateField(help_text="the day (in TIME_ZONE) this greeting is for")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "year"], name="one_birthday_greeting_per_year")]

    def __str__(self) -> str:
        return f"birthday greeting {self.year} for {self.user}"
