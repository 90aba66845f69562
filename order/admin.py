from django.contrib import admin

from order.models import Enrollment, Lesson, LiveClass, Order, OrderItem, PaymentCallback
from order.services.live_classes import live_class_save, live_classes_delete


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


@admin.register(Lesson)
class LessonAdmin(admin.ModelAdmin):
    list_display = ("title", "course", "position")
    list_filter = ("course",)
    list_editable = ("position",)
    search_fields = ("title", "course__name")


@admin.register(LiveClass)
class LiveClassAdmin(admin.ModelAdmin):
    list_display = ("title", "course", "start_time")
    list_filter = ("course",)
    search_fields = ("title", "course__name")
    date_hierarchy = "start_time"

    # The class and its reminder mail change together (the reminder follows the start time).
    def save_model(self, request, obj, form, change):
        live_class_save(live_class=obj)

    def delete_model(self, request, obj):
        live_classes_delete(live_classes=LiveClass.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        live_classes_delete(live_classes=queryset)


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin):
    list_display = ("user", "course", "order", "created_time")
    list_filter = ("course",)
    search_fields = ("user__username", "course__name", "order__order_number")
    readonly_fields = ("user", "course", "order", "created_time")

    # Enrolments come from paid orders (in the payment's transaction); staff read them here.
    def has_add_permission(self, request):
        return False


# FinanceRecord (with the regenerate action) is registered in admin_finance.
from order import admin_finance  # noqa: F401
