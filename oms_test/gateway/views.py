"""The simulated gateway's HTTP API: its cashier (the customer's 确认支付) and the signed status query
(server to server, no session)."""
import hmac
import json
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode

from django.http import HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from oms_test.gateway.services import cashier_request_text, gateway_payment_take, gateway_sign, gateway_status_answer

MAX_QUERY_BYTES = 1024


def _back_with_callback(body: bytes, signature: str) -> tuple[bytes, str]:
    return body, signature


# The merchant's signature stands in for a CSRF token: a third party's page shares no token with the shop.
@csrf_exempt
@require_POST
def cashier(request):
    """确认支付 at the cashier: the merchant's signed request (query string) names the order number, the amount
    and the return URL. The payment is taken, then the customer goes back to the merchant with the signed
    callback, or without it when ``lose_callback`` (the form's checkbox) simulates its loss."""
    order_number, amount, return_url = (request.GET.get(name, "") for name in ("order_number", "amount", "return_url"))
    text = cashier_request_text(order_number=order_number, amount=amount, return_url=return_url)
    signature = request.GET.get("signature", "")
    if not hmac.compare_digest(gateway_sign(text).encode(), signature.encode("utf-8", "replace")):
        return HttpResponseForbidden("cashier: the request's signature does not match the merchant key")
    try:
        amount_paid = Decimal(amount)
    except InvalidOperation:
        return HttpResponseForbidden("cashier: the amount is not a number")
    # Back to this site only (the merchant signed it, but a simulator should not redirect anywhere).
    if not url_has_allowed_host_and_scheme(return_url, allowed_hosts={request.get_host()}):
        return HttpResponseForbidden("cashier: the return URL is not on this site")
    lose = request.POST.get("lose_callback") == "1"
    _payment, callback = gateway_payment_take(order_number=order_number, amount=amount_paid,
                                              deliver_callback=None if lose else _back_with_callback)
    if callback is None:
        return redirect(f"{return_url}?{urlencode({'callback': 'lost'})}")
    body, callback_signature = callback
    return redirect(f"{return_url}?{urlencode({'body': body.decode(), 'signature': callback_signature})}")


@csrf_exempt
@require_POST
def status_query(request):
    body = request.body[:MAX_QUERY_BYTES + 1]
    if len(body) > MAX_QUERY_BYTES:
        status, answer = 413, {"error": f"a status query is at most {MAX_QUERY_BYTES} bytes"}
    else:
        status, answer = gateway_status_answer(body=body, signature=request.headers.get("X-Signature"))
    payload = json.dumps(answer).encode()
    response = HttpResponse(payload, status=status, content_type="application/json")
    response["X-Signature"] = gateway_sign(payload)  # the shop checks the answer came from the gateway
    if status == 429:
        response["Retry-After"] = "1"
    return response
