from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from basic.fields import ExactCharField


class OrderStatus(models.IntegerChoices):
    # The numbers are fixed: existing data uses them.
    UNPAID = 0, "待支付"
    PAID = 1, "已支付"
    CANCELLED = 2, "已取消"
    TIMEOUT_CANCELLED = 3, "超时取消"


def order_timeout() -> timedelta:
    return timedelta(seconds=settings.ORDER_TIMEOUT)


# The one rule for "past its payment deadline": created at or before now - ORDER_TIMEOUT.
# Order.is_expired, the timeout job, payment callbacks and finance all use it.
def expired_cutoff(now):
    return now - order_timeout()


def expired_q(now) -> models.Q:
    """Unpaid orders whose deadline has passed: shown as 超时取消, refused payment, cancelled by the job."""
    return models.Q(order_status=OrderStatus.UNPAID, created_time__lte=expired_cutoff(now))


def payable_q(now) -> models.Q:
    """Unpaid orders still within their deadline."""
    return models.Q(order_status=OrderStatus.UNPAID, created_time__gt=expired_cutoff(now))


class Order(models.Model):
    order_number = ExactCharField("订单号", max_length=32, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders")
    total = models.DecimalField("商品总额", max_digits=12, decimal_places=2)
    coupon = models.ForeignKey("basic.Coupon", null=True, blank=True, on_delete=models.PROTECT, related_name="orders")
    coupon_discount = models.DecimalField("优惠券抵扣", max_digits=12, decimal_places=2, default=0)
    points_used = models.PositiveIntegerField("使用积分", default=0)
    pay_amount = models.DecimalField("应付金额", max_digits=12, decimal_places=2)
    order_status = models.SmallIntegerField("状态", choices=OrderStatus.choices, default=OrderStatus.UNPAID)
    created_time = models.DateTimeField("下单时间", default=timezone.now)
    paid_time = models.DateTimeField("支付时间", null=True, blank=True)
    cancelled_time = models.DateTimeField("取消时间", null=True, blank=True)

    class Meta:
        ordering = ["-created_time", "-id"]
        indexes = [
            # cancel_timeouts: WHERE order_status = 0 AND created_time < cutoff
            models.Index(fields=["order_status", "created_time"], name="order_status_created"),
            # monthly_finance: WHERE created_time in [month start, next month start)
            models.Index(fields=["created_time"], name="order_created"),
            models.Index(fields=["user", "-created_time"], name="order_user_created"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(order_status__in=OrderStatus.values), name="order_status_known"),
            models.CheckConstraint(
                condition=models.Q(order_status=OrderStatus.PAID, paid_time__isnull=False)
                | (~models.Q(order_status=OrderStatus.PAID) & models.Q(paid_time__isnull=True)),
                name="order_paid_time_iff_paid",
            ),
            models.CheckConstraint(
                condition=models.Q(order_status__in=[OrderStatus.CANCELLED, OrderStatus.TIMEOUT_CANCELLED], cancelled_time__isnull=False)
                | (~models.Q(order_status__in=[OrderStatus.CANCELLED, OrderStatus.TIMEOUT_CANCELLED]) & models.Q(cancelled_time__isnull=True)),
                name="order_cancelled_time_iff_cancelled",
            ),
            models.CheckConstraint(condition=models.Q(pay_amount__gte=0), name="order_pay_amount_not_negative"),
        ]

    def __str__(self) -> str:
        return self.order_number

    @property
    def pay_deadline(self):
        return self.created_time + order_timeout()

    def is_expired(self, now=None) -> bool:
        """Past its payment deadline while still unpaid: shown and treated as 超时取消 at once."""
        return self.order_status == OrderStatus.UNPAID and self.created_time <= expired_cutoff(now or timezone.now())

    def effective_status(self, now=None) -> int:
        return OrderStatus.TIMEOUT_CANCELLED if self.is_expired(now) else self.order_status

    def seconds_left_to_pay(self, now=None) -> int:
        if self.order_status != OrderStatus.UNPAID:
            return 0
        return max(0, int((self.pay_deadline - (now or timezone.now())).total_seconds()))


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    product = models.ForeignKey("basic.Product", on_delete=models.PROTECT, related_name="order_items")
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)
    # Whether placing the order took these units off the product's stock. Cancelling gives
    # back exactly these: a product that was unlimited when ordered and got a stock later
    # must not receive units it never gave.
    stock_reserved = models.BooleanField(default=False, db_default=False)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(quantity__gt=0), name="order_item_quantity_positive")]
        indexes = [
            # Covers the cancellation's stock read (a chunk's reserved units per product) from the
            # index alone, without reading each item's row. On MySQL/MariaDB it also carries the
            # order foreign key, whose own implicit index InnoDB then drops (one index, not two).
            models.Index(fields=["order", "stock_reserved", "product", "quantity"], name="item_order_stock_read"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id} x{self.quantity}"


class CallbackOutcome(models.TextChoices):
    APPLIED = "applied", "已入账"
    DUPLICATE = "duplicate", "重复通知"
    REFUND_REQUIRED = "refund_required", "需退款"


class PaymentCallback(models.Model):
    """Every payment notification the gateway sent us, and what we did with it."""

    # The gateway's id: two ids that differ in case or a trailing space are two payments.
    transaction_id = ExactCharField(max_length=64, unique=True)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="payment_callbacks")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    outcome = models.CharField(max_length=20, choices=CallbackOutcome.choices)
    reason = models.CharField(max_length=200, blank=True)
    payload = models.TextField()
    received_time = models.DateTimeField(auto_now_add=True)

    class Meta:
        # /metrics counts callbacks by outcome at every scrape: from this index, not the table.
        indexes = [models.Index(fields=["outcome"], name="callback_outcome")]

    def __str__(self) -> str:
        return f"{self.transaction_id} → {self.order_id} ({self.outcome})"


class FinanceRecord(models.Model):
    """Figures of one finished month (month boundaries in TIME_ZONE)."""

    month = models.DateField("月份", unique=True, help_text="first day of the month")
    orders_created = models.PositiveIntegerField(default=0)
    orders_paid = models.PositiveIntegerField(default=0)
    orders_cancelled = models.PositiveIntegerField(default=0)
    orders_timeout_cancelled = models.PositiveIntegerField(default=0)
    orders_unpaid = models.PositiveIntegerField(default=0)
    revenue = models.DecimalField("收入", max_digits=14, decimal_places=2, default=0)
    discounts = models.DecimalField("优惠券抵扣", max_digits=14, decimal_places=2, default=0)
    points_used = models.PositiveBigIntegerField("积分抵扣", default=0)
    generated_time = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-month"]

    def __str__(self) -> str:
        return f"finance {self.month:%Y-%m}"


# --- Totals kept up to date by the transactions that change them ------------------------------
# The home page and /metrics read these instead of counting every order ever placed
# (order/services/totals.py keeps them; `manage.py order_totals --verify` recounts).


class ProductSales(models.Model):
    """Units sold and distinct buyers of one product over its paid orders (the home page's figures)."""

    product = models.OneToOneField("basic.Product", primary_key=True, on_delete=models.CASCADE, related_name="sales")
    units_sold = models.PositiveBigIntegerField(default=0)
    buyers = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.product_id}: {self.units_sold} sold to {self.buyers}"


class ProductBuyer(models.Model):
    """One buyer of one product: their paid orders holding it. A buyer counts once, however many."""

    product = models.ForeignKey("basic.Product", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    paid_orders = models.PositiveIntegerField(default=0)
    units = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["product", "user"], name="one_buyer_row_per_product_user")]

    def __str__(self) -> str:
        return f"{self.user_id} bought {self.product_id} ({self.paid_orders} orders)"


class OrderTally(models.Model):
    """A count of orders that only grows (orders cancelled by timeout, by the user), for /metrics."""

    name = models.CharField(max_length=40, primary_key=True)
    value = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} = {self.value}"
