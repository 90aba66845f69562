"""The student's course pages: thin views over order.learning.selectors.

A course page is for its students only: anyone else gets 404 (the same answer as for a
course that does not exist, so the page does not even confirm it exists).
"""
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from order.learning.selectors import course_lessons, course_of_student, course_upcoming_live_classes, courses_of_user


@login_required
def course_list(request):
    return render(request, "order/courses/list.html", {"enrollments": courses_of_user(user=request.user)})


@login_required
def course_detail(request, course_id: int):
    course = course_of_student(user=request.user, course_id=course_id)
    if course is None:
        raise Http404("课程不存在，或你尚未购买该课程")
    return render(request, "order/courses/detail.html", {
        "course": course,
        "lessons": course_lessons(course=course),
        "live_classes": course_upcoming_live_classes(course=course, now=timezone.now()),
    })
