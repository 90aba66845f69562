from django.urls import path

from order import views

app_name = "order"
urlpatterns = [
    path("", views.order_list, name="list"),
    path("new/", views.order_new, name="place"),
    path("<str:order_number>/", views.order_detail, name="detail"),
    path("<str:order_number>/pay/", views.order_pay, name="pay"),
    path("<str:order_number>/cancel/", views.order_cancel, name="cancel"),
]
