"""Transaction ids and order numbers are compared exactly on every database.

MariaDB's default collation would make 'TxCase-Ab1' and 'txcase-ab1' one payment, and its
PAD SPACE rule would make 'abc' and 'abc ' one; these tests run on SQLite and on MariaDB.
"""
from decimal import Decimal

import pytest
from django.contrib.auth.forms import UserCreationForm
from django.db import connection
from django.db.models import Sum

from basic.fields import exact_collation
from order.models import CallbackOutcome, Order, OrderStatus, PaymentCallback
from order.services.placement import LineRequest, order_place
from tests.factories import make_product, make_user
from tests.orders.helpers import callback, callback_body, post_signed

pytestmark = pytest.mark.django_db


def _order(price):
    return order_place(user=make_user(), lines=[LineRequest(make_product(price=price, stock=5).pk, 1)])


@pytest.mark.parametrize(
    ("first", "second"),
    [("TxCase-Ab1", "txcase-ab1"), ("abc", "abc "), ("abc", "ABC "), ("支付-ß", "支付-SS")],
    ids=["case", "trailing-space", "case-and-space", "unicode-folding"],
)
def test_ids_that_differ_only_in_case_or_padding_are_two_payments(client, first, second):
    one, two = _order("30.00"), _order("45.50")

    answers = [callback(client, one, transaction_id=first).json(), callback(client, two, transaction_id=second).json()]

    assert [a["outcome"] for a in answers] == [CallbackOutcome.APPLIED, CallbackOutcome.APPLIED]
    assert [a["transaction_id"] for a in answers] == [first, second]
    assert PaymentCallback.objects.get(transaction_id=first).order_id == one.pk
    assert PaymentCallback.objects.get(transaction_id=second).order_id == two.pk
    assert set(Order.objects.filter(pk__in=[one.pk, two.pk]).values_list("order_status", flat=True)) == {OrderStatus.PAID}
    applied = PaymentCallback.objects.filter(outcome=CallbackOutcome.APPLIED).aggregate(s=Sum("amount"))["s"]
    assert applied == Decimal("75.50") == one.pay_amount + two.pay_amount
    # A replay of each is still recognised as that one, and changes nothing.
    assert callback(client, two, transaction_id=second).json() == answers[1]
    assert callback(client, one, transaction_id=first).json() == answers[0]
    assert PaymentCallback.objects.count() == 2


def test_an_order_number_with_a_trailing_space_is_not_that_order(client):
    order = _order("30.00")
    response = post_signed(client, callback_body(order.order_number + " ", "T-pad", order.pay_amount))
    assert response.status_code == 400 and response.json()["error"] == f"unknown order {order.order_number} "
    assert Order.objects.get(pk=order.pk).order_status == OrderStatus.UNPAID


@pytest.mark.mysql_only  # SQLite compares exactly with its default BINARY collation (proved above)
def test_identity_columns_use_the_servers_binary_no_pad_collation():
    expected = "utf8mb4_nopad_bin" if connection.mysql_is_mariadb else "utf8mb4_0900_bin"
    assert exact_collation(connection) == expected
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name, collation_name FROM information_schema.columns "
            "WHERE table_schema = DATABASE() AND (table_name, column_name) IN "
            "(('order_order', 'order_number'), ('order_paymentcallback', 'transaction_id')) ORDER BY table_name",
        )
        assert cursor.fetchall() == (
            ("order_order", "order_number", expected),
            ("order_paymentcallback", "transaction_id", expected),
        )


def test_usernames_that_differ_only_in_case_are_refused_on_every_backend():
    """Logins stay Django's (see docs/payments.md): new accounts cannot be look-alikes."""
    make_user().__class__.objects.create_user(username="alice", password="pw-123456")
    form = UserCreationForm(data={"username": "ALICE", "password1": "x-Secret-123!", "password2": "x-Secret-123!"})
    assert not form.is_valid() and "username" in form.errors
