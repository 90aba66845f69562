from django.urls import path

from order import course_views

app_name = "course"
urlpatterns = [
    path("", course_views.course_list, name="list"),
    path("<int:course_id>/", course_views.course_detail, name="detail"),
]
