"""The payment gateway's callback endpoint (server to server, signed, no session)."""
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from basic.cron_runtime.running.transactions import TransactionRetriesExhausted
from oms_conf.logging import note_refusal
from order.services.payment import (
    CALLBACK_MAX_BYTES,
    BadSignature,
    CallbackTooLarge,
    InvalidCallback,
    payment_callback_handle,
)


def _refuse(request, status: int, reason: str, **extra) -> JsonResponse:
    note_refusal(request, reason)
    return JsonResponse({"ok": False, "error": reason, **extra}, status=status)


def _declared_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


@csrf_exempt
@require_POST
def payment_callback(request):
    # Refused before the body is read: Django would read up to DATA_UPLOAD_MAX_MEMORY_SIZE first.
    if (length := _declared_length(request)) > CALLBACK_MAX_BYTES:
        return _refuse(request, 413, f"body of {length} bytes is over the {CALLBACK_MAX_BYTES}-byte limit of a callback")
    try:
        callback = payment_callback_handle(body=request.body, signature=request.headers.get("X-Signature"))
    except BadSignature as exc:
        return _refuse(request, 403, str(exc))
    except CallbackTooLarge as exc:
        return _refuse(request, 413, str(exc))
    except InvalidCallback as exc:
        return _refuse(request, 400, str(exc))
    except TransactionRetriesExhausted as exc:
        # Nothing was recorded: the gateway must send it again (a replay is harmless).
        response = _refuse(request, 409, f"{exc}; nothing was recorded, send the callback again", retry=True)
        response["Retry-After"] = "1"
        return response
    # 200 for every recorded outcome: the gateway must stop retrying; refunds are handled from the record.
    return JsonResponse(
        {"ok": True, "transaction_id": callback.transaction_id, "outcome": callback.outcome, "reason": callback.reason}
    )
