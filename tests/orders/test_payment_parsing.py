"""Bodies that are not the documented callback shape: a 400 (413 when too large) with a
one-line reason, whatever their depth, size or encoding; never a 500, nothing recorded."""
import json

import pytest
from django.test import Client

from order import payment_views
from order.models import Order, OrderStatus, PaymentCallback
from order.services import payment
from order.services.payment import CALLBACK_MAX_BYTES
from order.services.placement import LineRequest, order_place
from tests.factories import make_product, make_user
from tests.orders.helpers import CALLBACK_URL, SiteLog, callback_body, post_signed

pytestmark = pytest.mark.django_db

DEEP = 100_000


@pytest.fixture
def order():
    return order_place(user=make_user(), lines=[LineRequest(make_product(stock=3).pk, 1)])


def _fields(order, **override):
    fields = {"order_number": order.order_number, "transaction_id": "T-shape", "amount": str(order.pay_amount)}
    fields.update(override)
    return fields


def _refused(response, status, *words):
    assert response.status_code == status, response.content[:300]
    error = response.json()["error"]
    assert "\n" not in error and "\r" not in error and len(error) < 300, error
    for word in words:
        assert word in error, error
    assert not PaymentCallback.objects.exists()
    return error


@pytest.mark.parametrize(
    "body",
    [
        b"[" * DEEP + b"]" * DEEP,
        b"{" + b'"a":{' * DEEP + b"}" * (DEEP + 1),
        b'{"order_number": ' + b"[" * DEEP + b"]" * DEEP + b"}",
    ],
    ids=["deep-array", "deep-object", "deep-value"],
)
def test_a_body_nested_100000_levels_is_a_400_not_a_recursion_error(client, body, settings, monkeypatch):
    # Raise the size limits so that the body reaches the parser (at the real limit it is a 413).
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * len(body)
    monkeypatch.setattr(payment_views, "CALLBACK_MAX_BYTES", 10 * len(body))
    monkeypatch.setattr(payment, "CALLBACK_MAX_BYTES", 10 * len(body))
    _refused(post_signed(client, body), 400, "nested")


def test_a_deep_body_within_the_size_limit_is_a_400(client):
    depth = CALLBACK_MAX_BYTES // 2 - 1
    _refused(post_signed(client, b"[" * depth + b"]" * depth), 400, "nested")


@pytest.mark.parametrize(
    ("encode", "word"),
    [
        (lambda text: text.encode("utf-16"), "UTF-8"),
        (lambda text: text.encode("latin-1"), "UTF-8"),
        (lambda text: b"\xef\xbb\xbf" + text.encode(), "BOM"),
    ],
    ids=["utf-16", "latin-1", "utf-8-bom"],
)
def test_a_body_that_is_not_plain_utf8_is_a_400(client, order, encode, word):
    body = encode(json.dumps(_fields(order, transaction_id="Tést-é"), ensure_ascii=False))
    _refused(post_signed(client, body), 400, word)
    assert Order.objects.get(pk=order.pk).order_status == OrderStatus.UNPAID


@pytest.mark.parametrize("size", [CALLBACK_MAX_BYTES + 1, 3 * 1024 * 1024])
def test_an_oversize_body_is_a_413(client, order, size):
    fields = _fields(order)
    fields["padding"] = "x" * size
    body = json.dumps(fields).encode()
    _refused(post_signed(client, body), 413, str(len(body)), str(CALLBACK_MAX_BYTES))


@pytest.mark.parametrize(
    ("make_body", "word"),
    [
        (lambda o: b"", "malformed JSON"),
        (lambda o: b"   ", "malformed JSON"),
        (lambda o: b"not json", "malformed JSON"),
        (lambda o: b'{"order_number": "1"', "malformed JSON"),
        (lambda o: b"null", "JSON NoneType"),
        (lambda o: b'"a string"', "JSON str"),
        (lambda o: b"12", "JSON int"),
        (lambda o: b"[1, 2]", "JSON list"),
        (lambda o: json.dumps(_fields(o, amount={"v": 1})).encode(), "nested"),
        (lambda o: json.dumps({"order_number": o.order_number}).encode(), "missing transaction_id, amount"),
        (lambda o: json.dumps(_fields(o, order_number=int(o.order_number))).encode(), "order_number must be a JSON string"),
        (lambda o: json.dumps(_fields(o, transaction_id=None)).encode(), "transaction_id must be a JSON string"),
        (lambda o: json.dumps(_fields(o, transaction_id="")).encode(), "transaction_id must be 1-64"),
        (lambda o: json.dumps(_fields(o, transaction_id="T" * 65)).encode(), "transaction_id must be 1-64"),
        (lambda o: json.dumps(_fields(o, transaction_id="T\n1")).encode(), "control characters"),
        (lambda o: json.dumps(_fields(o, amount=True)).encode(), "amount must be a JSON string or number"),
        (lambda o: json.dumps(_fields(o, amount="ten")).encode(), "amount ten must be"),
        (lambda o: callback_body(o.order_number, "T-nan", "NaN"), "amount NaN"),
        (lambda o: json.dumps(_fields(o)).replace('"amount": "', '"amount": NaN, "x": "').encode(), "NaN is not a number"),
        (lambda o: json.dumps(_fields(o)).replace("}", ', "amount": "0.01"}').encode(), "duplicate key 'amount'"),
        (lambda o: json.dumps(_fields(o, amount=10**4000)).encode(), "must be a sum in yuan"),
    ],
    ids=[
        "empty", "blank", "not-json", "truncated", "null", "string", "number", "array", "object-amount",
        "missing", "numeric-order-number", "null-id", "empty-id", "long-id", "newline-id", "bool-amount",
        "word-amount", "nan-amount", "nan-constant", "duplicate-key", "huge-number",
    ],
)
def test_wrong_shapes_are_a_400_naming_the_problem(client, order, make_body, word):
    body = make_body(order)
    assert len(body) <= CALLBACK_MAX_BYTES
    _refused(post_signed(client, body), 400, word)
    assert Order.objects.get(pk=order.pk).order_status == OrderStatus.UNPAID


def test_a_refused_callback_logs_one_warning_line_and_no_traceback(order):
    client = Client(REMOTE_ADDR="203.0.113.9")
    for send, status, reason in [
        (lambda: post_signed(client, b"[" * 2000 + b"]" * 2000), 400, "nested objects or arrays are not accepted"),
        (lambda: post_signed(client, b"{}", signature="0" * 64), 403, "signature does not match the body"),
        (lambda: post_signed(client, b"x" * 5000), 413, "over the 4096-byte limit"),
        (lambda: client.get(CALLBACK_URL), 405, "Method Not Allowed (GET)"),
        (lambda: client.get("/no-such-page/%0AFAKE-LINE"), 404, "Not Found"),
    ]:
        log = SiteLog()
        assert send().status_code == status
        lines = log.new_lines()
        assert len(lines) == 1, lines
        assert "| WARNING  |" in lines[0] and f"refused {status} " in lines[0] and "from 203.0.113.9: " in lines[0]
        assert reason in lines[0], lines[0]
    assert "/no-such-page/\\x0aFAKE-LINE from" in lines[0]


def test_a_body_over_djangos_own_limit_elsewhere_is_one_line_too(settings):
    """Django's RequestDataTooBig (a 400 it logs with a traceback at ERROR) becomes one WARNING line."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client = Client(REMOTE_ADDR="203.0.113.10")
    log = SiteLog()
    response = client.post("/accounts/login/", {"username": "x" * 5000, "password": "y"})
    assert response.status_code == 400
    lines = log.new_lines()
    assert len(lines) == 1 and "| WARNING  |" in lines[0], lines
    assert "refused 400 POST /accounts/login/ from 203.0.113.10: " in lines[0]
    assert "DATA_UPLOAD_MAX_MEMORY_SIZE" in lines[0]


def test_a_500_keeps_its_traceback(order, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("a real bug")

    monkeypatch.setattr("order.payment_views.payment_callback_handle", broken)
    client = Client(REMOTE_ADDR="203.0.113.11", raise_request_exception=False)
    log = SiteLog()
    assert post_signed(client, callback_body(order.order_number, "T-bug", order.pay_amount)).status_code == 500
    text = "\n".join(log.new_lines())
    assert "| ERROR    |" in text and "Traceback (most recent call last)" in text and "RuntimeError: a real bug" in text
