"""Paying for a course enrols the student, in the transaction that marks the order paid."""
from datetime import timedelta

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.utils import timezone

from order.learning.models import Enrollment
from order.models import CallbackOutcome, Order, OrderStatus
from order.services.cancellation import order_cancel_by_user
from order.services.payment import payment_callback_handle, payment_sign
from tests.factories import make_product, make_user
from tests.jobs.helpers import run_in_threads
from tests.learning.helpers import make_course, place
from tests.orders.helpers import callback, callback_body


def enrolments():
    return sorted(Enrollment.objects.values_list("user_id", "course_id", "order_id"))


@pytest.mark.django_db
def test_paying_for_a_course_enrols_the_buyer(client):
    course, other_course, mug = make_course(), make_course(), make_product()
    student = make_user()
    order = place(student, course, other_course, mug)

    assert callback(client, order).json()["outcome"] == CallbackOutcome.APPLIED

    assert enrolments() == sorted([(student.pk, course.pk, order.pk), (student.pk, other_course.pk, order.pk)])


@pytest.mark.django_db
def test_an_order_without_courses_enrols_nobody(client):
    order = place(make_user(), make_product())
    assert callback(client, order).json()["outcome"] == CallbackOutcome.APPLIED
    assert not Enrollment.objects.exists()


@pytest.mark.django_db
def test_enrolment_and_payment_commit_together_or_not_at_all(monkeypatch):
    order = place(make_user(), make_course())

    def broken(*args, **kwargs):
        raise RuntimeError("enrolment could not be written")

    monkeypatch.setattr(Enrollment.objects, "bulk_create", broken)
    body = callback_body(order.order_number, "T1", order.pay_amount)
    signature = payment_sign(body)
    with pytest.raises(RuntimeError):
        payment_callback_handle(body=body, signature=signature)

    order.refresh_from_db()
    assert order.order_status == OrderStatus.UNPAID and order.paid_time is None
    assert not order.payment_callbacks.exists()


@pytest.mark.django_db
def test_money_recorded_for_refund_never_enrols(client, settings):
    course = make_course()
    wrong_amount = place(make_user(), course)
    cancelled = place(make_user(), course)
    order_cancel_by_user(user=cancelled.user, order_number=cancelled.order_number)
    expired = place(make_user(), course)

    outcomes = [
        callback(client, wrong_amount, transaction_id="T-amount", amount=wrong_amount.pay_amount + 1),
        callback(client, cancelled, transaction_id="T-cancelled"),
    ]
    with time_machine.travel(timezone.now() + timedelta(seconds=settings.ORDER_TIMEOUT + 1)):
        outcomes.append(callback(client, expired, transaction_id="T-expired"))

    assert [r.json()["outcome"] for r in outcomes] == [CallbackOutcome.REFUND_REQUIRED] * 3
    assert not Enrollment.objects.exists()


@pytest.mark.django_db
def test_repeated_and_second_callbacks_never_enrol_twice(client):
    course = make_course()
    student = make_user()
    order = place(student, course)

    callback(client, order, transaction_id="T1")
    callback(client, order, transaction_id="T1")  # the gateway retries the same notification
    assert callback(client, order, transaction_id="T2").json()["outcome"] == CallbackOutcome.REFUND_REQUIRED

    assert enrolments() == [(student.pk, course.pk, order.pk)]


@pytest.mark.django_db
def test_buying_a_course_again_keeps_the_first_enrolment(client):
    course = make_course()
    student = make_user()
    first, second = place(student, course), place(student, course)

    callback(client, first, transaction_id="T1")
    assert callback(client, second, transaction_id="T2").json()["outcome"] == CallbackOutcome.APPLIED

    assert enrolments() == [(student.pk, course.pk, first.pk)]
    assert Order.objects.get(pk=second.pk).order_status == OrderStatus.PAID


@pytest.mark.django_db
def test_the_database_refuses_a_second_enrolment():
    course = make_course()
    student = make_user()
    order = place(student, course)
    Enrollment.objects.create(user=student, course=course, order=order)
    with pytest.raises(IntegrityError), transaction.atomic():
        Enrollment.objects.create(user=student, course=course, order=order)


@pytest.mark.django_db(transaction=True)
def test_simultaneous_callbacks_enrol_once():
    course = make_course()
    student = make_user()
    order = place(student, course)
    bodies = [callback_body(order.order_number, transaction_id, order.pay_amount) for transaction_id in ("T1", "T1", "T2", "T3")]

    results = run_in_threads(*[
        (lambda b=body: payment_callback_handle(body=b, signature=payment_sign(b)).outcome) for body in bodies
    ])

    assert results.count(CallbackOutcome.APPLIED) >= 1
    assert enrolments() == [(student.pk, course.pk, order.pk)]


@pytest.mark.django_db
def test_courses_paid_before_enrolments_existed_are_opened_by_the_migration():
    import importlib

    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    # The models as that migration knew them (Enrollment was the order app's then).
    apps = MigrationLoader(connection).project_state(("order", "0005_enrol_past_course_buyers")).apps
    backfill = importlib.import_module("order.migrations.0005_enrol_past_course_buyers").enrol_past_buyers
    course, mug = make_course(), make_product()
    student, unpaid_buyer = make_user(), make_user()
    first, again, mug_order = place(student, course), place(student, course, mug), place(student, mug)
    place(unpaid_buyer, course)
    now = timezone.now()
    for minutes, order in enumerate((first, again, mug_order)):
        # Paid the way it was before enrolments: no enrolment written.
        Order.objects.filter(pk=order.pk).update(order_status=OrderStatus.PAID, paid_time=now + timedelta(minutes=minutes))

    backfill(apps, None)
    backfill(apps, None)  # harmless when run again

    assert enrolments() == [(student.pk, course.pk, first.pk)]
