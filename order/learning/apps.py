from django.apps import AppConfig


class LearningConfig(AppConfig):
    name = "order.learning"
    label = "learning"
    verbose_name = "课程 (lessons, live classes, enrolments)"

    def ready(self):
        # Paying for a course opens it, in the transaction that marks the order paid.
        from order.learning.services.enrollments import enrollments_create_on_payment
        from order.signals import order_paid

        order_paid.connect(enrollments_create_on_payment, dispatch_uid="learning.enrollments_create_on_payment")
