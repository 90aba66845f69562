from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "oms_test.gateway"
    label = "gateway"  # its tables and migrations kept the name it had as a top-level app
    verbose_name = "模拟支付网关 (the simulated payment gateway)"
