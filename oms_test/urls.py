from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from basic.cron_runtime import metrics_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("basic.urls")),
    path("orders/", include("order.urls")),
    path("staff/", include("basic.staff_urls")),
]
urlpatterns += [
    path("payment/", include("order.payment_urls")),
    path("healthz/", include("basic.health_urls")),
    path("metrics", metrics_views.metrics, name="metrics"),
]
