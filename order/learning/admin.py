from django.contrib import admin

from order.learning.models import Enrollment, Lesson, LiveClass
from order.learning.services.live_classes import live_class_save, live_classes_delete


@admin.register(Lesson)
class LessonAdmin(admin.ModelAdmin):
    list_display = ("title", "course", "position")
    list_filter = ("course",)
    list_editable = ("position",)
    search_fields = ("title", "course__name")


@admin.register(LiveClass)
class LiveClassAdmin(admin.ModelAdmin):
    list_display = ("title", "course", "start_time")
    list_filter = ("course",)
    search_fields = ("title", "course__name")
    date_hierarchy = "start_time"

    # The class and its reminder mail change together (the reminder follows the start time).
    def save_model(self, request, obj, form, change):
        live_class_save(live_class=obj)

    def delete_model(self, request, obj):
        live_classes_delete(live_classes=LiveClass.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        live_classes_delete(live_classes=queryset)


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin):
    list_display = ("user", "course", "order", "created_time")
    list_filter = ("course",)
    search_fields = ("user__username", "course__name", "order__order_number")
    readonly_fields = ("user", "course", "order", "created_time")

    # Enrolments come from paid orders (in the payment's transaction); staff read them here.
    def has_add_permission(self, request):
        return False
