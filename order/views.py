"""The customer's order pages: thin views over order.services and order.selectors."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from basic.models import Coupon, CouponStatus, Product
from basic.cron_runtime.running.transactions import TransactionRetriesExhausted
from order.forms import PlaceOrderForm
from order.models import OrderStatus
from order.selectors import order_learn_url, order_of_user, orders_of_user
from order.services import OrderRefused
from order.services.cancellation import order_cancel_by_user
from order.services.cashier import cashier_url
from order.services.gateway_query import gateway_query_state
from order.services.payment import BadSignature, InvalidCallback, payment_callback_handle
from order.services.placement import LineRequest, order_place

ORDERS_PER_PAGE = 20


def _own_order_or_404(request, order_number):
    order = order_of_user(user=request.user, order_number=order_number)
    if order is None:
        raise Http404("订单不存在")
    return order


def _annotate_for_display(order, now) -> None:
    """What _action.html needs: the status to show, the time left to pay, where 去学习 leads (None: no course)."""
    order.shown_status = order.effective_status(now)
    order.seconds_left = order.seconds_left_to_pay(now)
    order.learn_url = order_learn_url(order)


@login_required
def order_list(request):
    now = timezone.now()
    page = Paginator(orders_of_user(user=request.user), ORDERS_PER_PAGE).get_page(request.GET.get("page"))
    for order in page:
        _annotate_for_display(order, now)
    return render(request, "order/list.html", {"orders": page, "page": page, "Status": OrderStatus})


@login_required
def order_detail(request, order_number):
    order = _own_order_or_404(request, order_number)
    _annotate_for_display(order, timezone.now())
    return render(request, "order/detail.html",
                  {"order": order, "Status": OrderStatus, "query": gateway_query_state(order=order)})


def _int_param(request, name: str, default: int | None = None) -> int | None:
    value = request.POST.get(name) or request.GET.get(name)
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


@login_required
def order_new(request):
    """Confirm an order (quantity, coupon, points), then place it."""
    product_id = _int_param(request, "product")
    if product_id is None:
        raise Http404("请选择商品（缺少或无效的 product 参数）")
    product = get_object_or_404(Product, pk=product_id)
    coupons = Coupon.objects.filter(user=request.user, status=CouponStatus.UNUSED, valid_until__gt=timezone.now())
    initial = {"quantity": max(1, _int_param(request, "quantity", 1))}
    form = PlaceOrderForm(request.POST or None, coupons=coupons, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            order = order_place(
                user=request.user,
                lines=[LineRequest(product_id=product.pk, quantity=form.cleaned_data["quantity"])],
                coupon_id=form.cleaned_data["coupon"].pk if form.cleaned_data["coupon"] else None,
                points=form.cleaned_data["points"] or 0,
            )
        except OrderRefused as exc:
            messages.error(request, f"下单失败：{exc}")
        except TransactionRetriesExhausted:
            messages.error(request, "下单失败：系统繁忙，请稍后重试")
        else:
            messages.success(request, f"下单成功，请在 {timezone.localtime(order.pay_deadline):%H:%M} 前支付")
            return redirect("order:pay", order_number=order.order_number)
    points = getattr(getattr(request.user, "profile", None), "points", 0)
    return render(request, "order/new.html", {"form": form, "product": product, "points": points})


@login_required
def order_pay(request, order_number):
    """The cashier page of the simulated gateway: 确认支付 goes on to the gateway, which takes the payment
    and sends the customer back with its signed callback (or, ticked, loses it: the order stays unpaid
    until the gateway query finds the payment)."""
    order = _own_order_or_404(request, order_number)
    if order.effective_status() != OrderStatus.UNPAID:
        messages.error(request, "无法支付：" + ("订单已超时取消" if order.is_expired() else f"订单{order.get_order_status_display()}"))
        return redirect("order:list")
    if request.method == "POST":
        # 307: the browser posts the same form (its lose_callback choice) to the gateway's cashier.
        return HttpResponseRedirect(cashier_url(order=order), status=307)
    return render(request, "order/pay.html", {"order": order, "seconds_left": order.seconds_left_to_pay()})


@login_required
def order_pay_return(request, order_number):
    """Back from the gateway's cashier, with its signed callback (applied once, like the server-to-server
    one) or word that the callback was lost."""
    order = _own_order_or_404(request, order_number)
    if request.GET.get("callback") == "lost":
        messages.warning(request, "支付平台已扣款，但回调未送达商户（模拟）：订单仍显示去支付，可点「我已支付，查询结果」")
        return redirect("order:detail", order_number=order.order_number)
    try:
        callback = payment_callback_handle(body=request.GET.get("body", "").encode(),
                                           signature=request.GET.get("signature"))
    except TransactionRetriesExhausted:
        messages.error(request, "支付繁忙，未入账，请稍后重试")
        return redirect("order:pay", order_number=order.order_number)
    except (BadSignature, InvalidCallback) as exc:
        messages.error(request, f"支付结果无效：{exc}")
        return redirect("order:detail", order_number=order.order_number)
    if callback.outcome == "applied":
        messages.success(request, "支付成功")
    else:
        messages.error(request, f"支付未入账（{callback.reason}），款项将原路退回")
    return redirect("order:list")


@login_required
@require_POST
def order_cancel(request, order_number):
    try:
        order_cancel_by_user(user=request.user, order_number=order_number)
    except OrderRefused as exc:
        messages.error(request, f"取消失败：{exc}")
    except TransactionRetriesExhausted:
        messages.error(request, "取消失败：系统繁忙，请稍后重试")
    else:
        messages.success(request, "订单已取消，库存、优惠券和积分已退回")
    return redirect("order:list")
