from django.conf import settings
from django.db import models


class Profile(models.Model):
    """What the shop knows about a user beyond Django's auth user."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    mobile = models.CharField("手机", max_length=20, blank=True)
    birthday = models.DateField("生日", null=True, blank=True)
    # month * 100 + day of the birthday, kept by save(): an indexed column so that
    # "whose birthday is today" is an index lookup, not a scan of every user.
    # bulk_create() and QuerySet.update() skip save(): they must set it too (see mmdd_of).
    birthday_mmdd = models.PositiveSmallIntegerField(null=True, blank=True, editable=False, db_index=True)
    points = models.IntegerField("积分", default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(points__gte=0), name="profile_points_not_negative"),
        ]

    def __str__(self) -> str:
        return f"profile of {self.user}"

    @staticmethod
    def mmdd_of(birthday) -> int | None:
        return birthday.month * 100 + birthday.day if birthday else None

    def save(self, *args, **kwargs):
        self.birthday_mmdd = self.mmdd_of(self.birthday)
        if kwargs.get("update_fields") is not None and "birthday" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], "birthday_mmdd"}
        super().save(*args, **kwargs)


class PointsReason(models.TextChoices):
    GRANT = "grant", "赠送"
    ORDER_DEDUCT = "order_deduct", "下单抵扣"
    ORDER_REFUND = "order_refund", "取消退还"
    ADJUST = "adjust", "调整"


class PointsEntry(models.Model):
    """One change of a user's points; Profile.points always equals the sum of these."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="points_entries")
    delta = models.IntegerField()
    reason = models.CharField(max_length=20, choices=PointsReason.choices)
    # The order (order.Order's id) that spent or got back these points; a plain number, not a foreign
    # key, because basic sits below order and never names its models. Looked up by the unique index below.
    order_id = models.BigIntegerField(null=True, blank=True)
    created_time = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "points entries"
        constraints = [
            # An order deducts points once and refunds them once, whatever races for it.
            # (NULL orders are distinct in a unique index, so grants are not limited.)
            models.UniqueConstraint(fields=["order_id", "reason"], name="points_once_per_order_and_reason"),
            models.CheckConstraint(condition=~models.Q(delta=0), name="points_entry_not_zero"),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.delta:+d} ({self.reason})"
