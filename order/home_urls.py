from django.urls import path

from order import home_views

urlpatterns = [
    path("", home_views.home, name="home"),
]
