"""Who may open the staff console: staff users only.

Anonymous visitors are sent to the login page (they may be staff who are not logged
in yet); a logged-in user without ``is_staff`` gets 403 — sending them to a login page
they have already passed would only loop.
"""
from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied


def staff_required(view):
    @wraps(view)
    def staff_only_view(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_staff:
            raise PermissionDenied("staff only")
        return view(request, *args, **kwargs)

    return staff_only_view
