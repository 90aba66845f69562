from django.contrib import admin

from basic.models import BirthdayGreeting, Coupon, PointsEntry, Product, Profile


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "mobile", "birthday", "points")
    search_fields = ("user__username", "mobile")
    readonly_fields = ("points",)  # changes go through the points ledger


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("name", "price", "stock", "is_course")
    list_filter = ("is_course",)
    search_fields = ("name",)


@admin.register(Coupon)
class CouponAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "amount", "status", "valid_until")
    list_filter = ("status",)
    search_fields = ("user__username",)


@admin.register(PointsEntry)
class PointsEntryAdmin(admin.ModelAdmin):
    list_display = ("user", "delta", "reason", "order_id", "created_time")
    list_filter = ("reason",)
    search_fields = ("user__username", "=order_id")

    # The ledger is append-only: balances are derived from it.
    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(BirthdayGreeting)
class BirthdayGreetingAdmin(admin.ModelAdmin):
    list_display = ("user", "year", "birthday_date", "sent_time", "attempts")
    list_filter = ("year",)

