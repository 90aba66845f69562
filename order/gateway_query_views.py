"""The customer's 我已支付，查询结果: queue an immediate gateway query, and the JSON the page polls."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from order.services.gateway_query import gateway_query_request, gateway_query_state
from order.views import _own_order_or_404


@login_required
@require_POST
def gateway_query_press(request, order_number):
    order = _own_order_or_404(request, order_number)
    if gateway_query_request(order=order) is None:
        messages.info(request, "订单已不需要查询")
    return redirect("order:detail", order_number=order.order_number)


@login_required
@require_GET
def gateway_query_poll(request, order_number):
    order = _own_order_or_404(request, order_number)
    response = JsonResponse(gateway_query_state(order=order))
    response["Cache-Control"] = "no-store"
    return response
