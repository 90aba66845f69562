"""The payment gateway's callback endpoint (server to server, signed, no session)."""
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from order.services.payment import BadSignature, InvalidCallback, payment_callback_handle


@csrf_exempt
@require_POST
def payment_callback(request):
    try:
        callback = payment_callback_handle(body=request.body, signature=request.headers.get("X-Signature"))
    except BadSignature as exc:
        return JsonResponse({"ok": False, "error": str(exc)}, status=403)
    except InvalidCallback as exc:
        return JsonResponse({"ok": False, "error": str(exc)}, status=400)
    # 200 for every recorded outcome: the gateway must stop retrying; refunds are handled from the record.
    return JsonResponse(
        {"ok": True, "transaction_id": callback.transaction_id, "outcome": callback.outcome, "reason": callback.reason}
    )
