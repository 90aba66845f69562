"""Template filters for money on the finance pages."""
from __future__ import annotations

from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def yuan(value) -> str:
    """Money as staff read it in reports: '¥3,800.74' (whatever the locale's number format)."""
    if value is None or value == "":
        return "—"
    return f"¥{Decimal(value):,.2f}"
