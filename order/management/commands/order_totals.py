from django.core.management.base import BaseCommand, CommandError

from order.services.totals import totals_rebuild, totals_verify


class Command(BaseCommand):
    help = ("Check (or rebuild) the totals kept as orders are paid and cancelled: units sold and buyers per "
            "product (the home page), orders cancelled (/metrics).")

    def add_arguments(self, parser):
        action = parser.add_mutually_exclusive_group(required=True)
        action.add_argument("--verify", action="store_true",
                            help="recount everything from the orders (a full scan) and exit 1 if any total differs")
        action.add_argument("--rebuild", action="store_true",
                            help="recompute every total from the orders in chunks; run it while no payment or "
                                 "cancellation happens, then --verify")

    def handle(self, *args, verify: bool, rebuild: bool, **options):
        if rebuild:
            totals_rebuild(say=self.stdout.write if options["verbosity"] > 1 else None)
            self.stdout.write("totals rebuilt from the orders; check them with --verify")
            return
        check = totals_verify()
        for line in check.differences:
            self.stdout.write(line)
        if not check.ok:
            raise CommandError(f"{len(check.differences)} totals differ from a recount of the orders — "
                               "run `manage.py order_totals --rebuild` while no payment or cancellation happens")
        self.stdout.write(f"totals match a full recount: {check.products} products, cancelled orders by reason")
