"""Admin for FinanceRecord: figures come from the orders, so they are regenerated, not typed in."""
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList

from order.models import FinanceRecord
from order.services.finance import FinanceMonthRefused, finance_regenerate


class FinanceChangeList(ChangeList):
    def get_filters(self, request):
        # Django turns only some bad date-hierarchy links into "?e=1": ?month__year=9999 (ValueError: year 10000)
        # and ?month__year=9999&month__month=12 or a 20-digit year (OverflowError) would be a 500.
        try:
            return super().get_filters(request)
        except (OverflowError, ValueError) as exc:
            raise IncorrectLookupParameters(exc) from exc


@admin.register(FinanceRecord)
class FinanceRecordAdmin(admin.ModelAdmin):
    list_display = ("month", "orders_created", "orders_paid", "orders_cancelled", "orders_timeout_cancelled",
                    "orders_unpaid", "revenue", "discounts", "points_used", "generated_time")
    date_hierarchy = "month"
    actions = ["regenerate_selected_months"]

    def get_changelist(self, request, **kwargs):
        return FinanceChangeList

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # viewing only; the action below recomputes from the orders

    def has_regenerate_permission(self, request):
        return request.user.has_perm("order.change_financerecord")

    @admin.action(description="重新生成所选月份 (regenerate selected months)", permissions=["regenerate"])
    def regenerate_selected_months(self, request, queryset):
        done = []
        for month in queryset.order_by("month").values_list("month", flat=True):
            try:
                finance_regenerate(month)
            except FinanceMonthRefused as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                done.append(f"{month:%Y-%m}")
        if done:
            self.message_user(request, f"已重新生成：{', '.join(done)}", messages.SUCCESS)
