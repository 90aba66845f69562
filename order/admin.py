from django.contrib import admin

from order.models import Order, OrderItem, PaymentCallback


class OrderItemInline(admin.TabularInline):
    model = OrderItem
    extra = 0
    readonly_fields = ("product", "quantity", "unit_price")
    can_delete = False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("order_number", "user", "pay_amount", "order_status", "created_time", "paid_time", "cancelled_time")
    list_filter = ("order_status",)
    search_fields = ("order_number", "user__username")
    inlines = [OrderItemInline]
    # Status, money and times change only through the services (they return stock,
    # coupons and points); the admin shows them.
    readonly_fields = (
        "order_number", "user", "total", "coupon", "coupon_discount", "points_used", "pay_amount",
        "order_status", "created_time", "paid_time", "cancelled_time",
    )

    def has_add_permission(self, request):
        return False  # orders are placed by customers through order_place (stock, coupon, points)

    def has_delete_permission(self, request, obj=None):
        # Deleting an unpaid order would keep its stock, coupon and points; a paid one would
        # vanish from finance. Orders end by being cancelled (order_cancel_by_user / the job).
        return False


@admin.register(PaymentCallback)
class PaymentCallbackAdmin(admin.ModelAdmin):
    list_display = ("transaction_id", "order", "amount", "outcome", "reason", "received_time")
    list_filter = ("outcome",)
    search_fields = ("transaction_id", "order__order_number")
    readonly_fields = ("transaction_id", "order", "amount", "outcome", "reason", "payload", "received_time")

    # The gateway's record of what it told us (refund_required among them): never typed in, never erased.
    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# FinanceRecord (with the regenerate action) is registered in admin_finance.
from order import admin_finance  # noqa: F401
