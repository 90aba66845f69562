"""Staff finance pages, mounted under /staff/finance/ by the project's urls.py."""
from django.urls import path

from order import staff_views

app_name = "finance"
urlpatterns = [
    path("", staff_views.finance_index, name="index"),
    path("export.xlsx", staff_views.finance_export, name="export"),
    path("regenerate/", staff_views.finance_regenerate_month, name="regenerate"),
]
