from django.urls import path

from order import gateway_query_views, views

app_name = "order"
urlpatterns = [
    path("", views.order_list, name="list"),
    path("new/", views.order_new, name="place"),
    path("<str:order_number>/", views.order_detail, name="detail"),
    path("<str:order_number>/pay/", views.order_pay, name="pay"),
    path("<str:order_number>/pay/return/", views.order_pay_return, name="pay-return"),
    path("<str:order_number>/cancel/", views.order_cancel, name="cancel"),
    path("<str:order_number>/gateway-query/", gateway_query_views.gateway_query_press, name="gateway-query"),
    path("<str:order_number>/gateway-query.json", gateway_query_views.gateway_query_poll, name="gateway-query-poll"),
]
