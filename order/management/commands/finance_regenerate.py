from django.core.management.base import BaseCommand, CommandError

from order.services.finance import FinanceMonthRefused, finance_regenerate, parse_month


class Command(BaseCommand):
    help = "Recompute the finance record of one finished month (months in TIME_ZONE), replacing the stored one."

    def add_arguments(self, parser):
        parser.add_argument("month", help="the month to regenerate, as YYYY-MM (e.g. 2026-03); must have finished")

    def handle(self, *args, month: str, **options):
        try:
            record = finance_regenerate(parse_month(month))
        except FinanceMonthRefused as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"{record.month:%Y-%m}: {record.orders_created} orders created, {record.orders_paid} paid, "
            f"{record.orders_cancelled} cancelled, {record.orders_timeout_cancelled} timed out, "
            f"{record.orders_unpaid} unpaid; revenue ¥{record.revenue}, discounts ¥{record.discounts}, "
            f"{record.points_used} points used"
        )
