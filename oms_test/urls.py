from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from basic.cron_runtime.observability import metrics_views
from basic.cron_runtime.console import urls as cron_staff_urls

# The staff console (namespace "staff"): the cron runtime's pages, and finance from the order app.
staff_patterns = [
    *cron_staff_urls.urlpatterns,
    path("finance/", include("order.staff_urls")),
]

urlpatterns = [
    # The run records' admin pages lived under the basic app before the cron runtime became an app.
    re_path(r"^admin/basic/(?P<model>jobrun|joblock|jobalertstate)/(?P<rest>.*)$",
            RedirectView.as_view(url="/admin/cron_runtime/%(model)s/%(rest)s", query_string=True)),
    # Lessons, live classes and enrolments lived under the order app before courses became an app.
    re_path(r"^admin/order/(?P<model>lesson|liveclass|enrollment)/(?P<rest>.*)$",
            RedirectView.as_view(url="/admin/learning/%(model)s/%(rest)s", query_string=True)),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("order.home_urls")),
    path("orders/", include("order.urls")),
    path("courses/", include("order.learning.urls")),
    path("staff/", include((staff_patterns, cron_staff_urls.app_name))),
]
urlpatterns += [
    path("payment/", include("order.payment_urls")),
    path("gateway/", include("oms_test.gateway.urls")),
    path("healthz/", include("basic.cron_runtime.observability.health_urls")),
    path("metrics", metrics_views.metrics, name="metrics"),
]
