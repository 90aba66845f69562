from django.contrib import admin

from oms_test.gateway.models import GatewayPayment, GatewayQuery


@admin.register(GatewayPayment)
class GatewayPaymentAdmin(admin.ModelAdmin):
    list_display = ("transaction_id", "order_number", "amount", "paid_at", "callback_sent")
    search_fields = ("order_number", "transaction_id")


@admin.register(GatewayQuery)
class GatewayQueryAdmin(admin.ModelAdmin):
    list_display = ("arrived_at", "order_number", "answer")
    list_filter = ("answer",)
