from django.urls import path

from oms_test.gateway import views

app_name = "gateway"
urlpatterns = [
    path("query/", views.status_query, name="query"),
    path("cashier/", views.cashier, name="cashier"),
]
