"""Functions the rate-limited queue tests schedule (the dispatcher imports them by path)."""
from __future__ import annotations

from order.services.gateway_client import gateway_status


def ask_gateway(n: int) -> dict:
    """One signed status query to the gateway at GATEWAY_URL, through the shop's own client."""
    return {"n": n, "paid": gateway_status(f"RATE{n:05d}").paid}


def big_result(size: int) -> str:
    return "x" * size


def small_result() -> dict:
    return {"answer": "ok", "items": [1, 2, 3]}
