from django.urls import path

from order.learning import views

app_name = "course"
urlpatterns = [
    path("", views.course_list, name="list"),
    path("<int:course_id>/", views.course_detail, name="detail"),
]
