from django.core.management.base import BaseCommand

from order.services.demo import CUSTOMERS, STAFF, demo_load


class Command(BaseCommand):
    help = "Load demo users, products, coupons, points, orders, enrolments, live classes and timed tasks (idempotent)."

    def handle(self, *args, **options):
        result = demo_load()
        self.stdout.write(
            f"demo data: {result['users']} users, {result['products']} products, "
            f"{result['orders_made']} new orders, {result['timed_tasks_made']} new timed tasks, "
            f"{result['live_classes_made']} new live classes"
        )
        self.stdout.write("demo logins (username / password):")
        for login in [STAFF, *CUSTOMERS]:
            self.stdout.write(f"  {login.username:<8} {login.password:<16} {login.note}")
