"""The simulated gateway's own records: what it was paid, and every status query it was asked.

A stand-in for a third party: its tables are its own, and nothing here knows the shop's orders
beyond the order number and amount the cashier page hands over.
"""
from django.db import models


class GatewayPayment(models.Model):
    transaction_id = models.CharField(max_length=64, unique=True)
    order_number = models.CharField(max_length=32, db_index=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    paid_at = models.DateTimeField()
    callback_sent = models.BooleanField(default=True, help_text="False: paid, but the callback was never sent")

    class Meta:
        ordering = ["-paid_at", "-id"]

    def __str__(self) -> str:
        return f"{self.transaction_id} {self.order_number} ¥{self.amount}"


class GatewayQueryAnswer(models.TextChoices):
    PAID = "paid", "paid"
    UNPAID = "unpaid", "unpaid"
    TOO_MANY = "429", "429 too many requests"
    REFUSED = "refused", "refused (bad signature or body)"


class GatewayQuery(models.Model):
    """One status query as it arrived (the record a provider keeps of its API's use)."""

    arrived_at = models.DateTimeField(db_index=True)
    order_number = models.CharField(max_length=32, blank=True)
    answer = models.CharField(max_length=8, choices=GatewayQueryAnswer.choices)

    class Meta:
        ordering = ["-arrived_at", "-id"]
