from django.apps import AppConfig


class OrderConfig(AppConfig):
    name = "order"
    verbose_name = "订单 (orders, payment, finance)"

    def ready(self):
        # Orders cancelled and payment callbacks on the runtime's /metrics.
        from basic.cron_runtime.observability.metrics import register_collector
        from order.metrics import OrderMetricsCollector

        register_collector(OrderMetricsCollector())