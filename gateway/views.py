"""The simulated gateway's HTTP API: the signed status query (server to server, no session)."""
import json

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from gateway.services import gateway_sign, gateway_status_answer

MAX_QUERY_BYTES = 1024


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
