"""What the order app tells the apps built on it (it imports none of them)."""
from django.dispatch import Signal

# Sent inside the transaction that marks an order paid, by its one winner (never for a replay or
# for money recorded as refund_required), with ``order``. A receiver's failure
# rolls the payment back: the order is paid if and only if what hangs on it is done.
order_paid = Signal()
