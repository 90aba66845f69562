"""Who may read ``/metrics``: a loopback client that did not come through a proxy, or whoever
presents ``Authorization: Bearer <METRICS_TOKEN>`` (compared in constant time).

A reverse proxy on the same host makes every visitor's REMOTE_ADDR a loopback address, so a
request carrying a proxy's forwarding header is never taken for a local one.
"""
from __future__ import annotations

import hmac
import ipaddress


from basic.cron_runtime import conf

PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED")


def is_loopback(address: str | None) -> bool:
    try:
        ip = ipaddress.ip_address((address or "").split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1 from a dual-stack socket
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


def metrics_refusal(request) -> str | None:
    """Why ``request`` may not read the metrics (one short reason for the log), or None."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    token = conf.METRICS_TOKEN
    if header:
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer":
            return "Authorization is not a Bearer token"
        if not token:
            return "a bearer token was sent but METRICS_TOKEN is not set"
        if hmac.compare_digest(presented.strip().encode(), token.encode()):
            return None
        return "wrong bearer token"
    if not is_loopback(request.META.get("REMOTE_ADDR")):
        return "not a loopback client and no bearer token"
    if any(request.META.get(name) for name in PROXY_HEADERS):
        return "came through a proxy (forwarding header) and no bearer token"
    return None
