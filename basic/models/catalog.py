from django.conf import settings
from django.db import models


class Product(models.Model):
    name = models.CharField("名称", max_length=200)
    price = models.DecimalField("价格", max_digits=10, decimal_places=2)
    # NULL = unlimited (an online course); otherwise units left to sell.
    stock = models.IntegerField("库存", null=True, blank=True)
    is_course = models.BooleanField("课程", default=False)
    description = models.TextField(blank=True)
    created_time = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(stock__gte=0) | models.Q(stock__isnull=True), name="product_stock_not_negative"),
            models.CheckConstraint(condition=models.Q(price__gte=0), name="product_price_not_negative"),
        ]

    def __str__(self) -> str:
        return self.name


class CouponStatus(models.TextChoices):
    UNUSED = "unused", "未使用"
    USED = "used", "已使用"
    EXPIRED = "expired", "已过期"


class Coupon(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="coupons")
    amount = models.DecimalField("面额", max_digits=10, decimal_places=2)
    status = models.CharField(max_length=10, choices=CouponStatus.choices, default=CouponStatus.UNUSED)
    valid_until = models.DateTimeField("有效期至")
    created_time = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="coupon_amount_positive"),
            models.CheckConstraint(condition=models.Q(status__in=CouponStatus.values), name="coupon_status_known"),
        ]

    def __str__(self) -> str:
        return f"¥{self.amount} coupon of {self.user} ({self.status})"
