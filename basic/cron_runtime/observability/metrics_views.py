"""``GET /metrics``: Prometheus text format, for loopback clients or a bearer token (METRICS_TOKEN)."""
from __future__ import annotations

from django.db import DatabaseError
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from loguru import logger

from basic.cron_runtime.observability.metrics import CONTENT_TYPE, exposition
from basic.cron_runtime.observability.metrics_access import metrics_refusal
from oms_conf.logging import note_refusal


@never_cache
@require_safe
def metrics(request):
    refusal = metrics_refusal(request)
    if refusal:
        note_refusal(request, refusal)  # the site log's one WARNING line for this 403 gives the reason
        return HttpResponse("403 Forbidden: /metrics answers loopback clients and "
                            "'Authorization: Bearer $METRICS_TOKEN' only\n",
                            status=403, content_type="text/plain; charset=utf-8")
    try:
        body = exposition()
    except DatabaseError as exc:
        logger.error(f"{request.path} 503: the run records cannot be read ({type(exc).__name__}: {exc})")
        response = HttpResponse("503 Service Unavailable: the database cannot be read\n",
                                status=503, content_type="text/plain; charset=utf-8")
        response._has_been_logged = True  # the line above says why; Django would add a vaguer second one
        return response
    return HttpResponse(body, content_type=CONTENT_TYPE)
