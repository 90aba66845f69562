from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "gateway"
    verbose_name = "模拟支付网关 (the simulated payment gateway)"
