from django.urls import path

from order import payment_views

urlpatterns = [
    path("callback/", payment_views.payment_callback, name="payment-callback"),
]
