"""Who may do what: reads are open (unless closed by a setting), writes need staff."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request


def may_read(request: Request | HttpRequest) -> bool:
    """Whether reads are open, or the caller is logged in (API and dashboard alike)."""
    return not settings.ZOO_READS_REQUIRE_AUTH or bool(
        request.user and request.user.is_authenticated
    )


def _is_staff(request: Request) -> bool:
    user = request.user
    return bool(user and user.is_authenticated and user.is_active and user.is_staff)


class ReadOpenWriteStaff(BasePermission):
    """Safe methods follow the read setting; every other method needs a staff user."""

    message = "Staff credentials are required for this operation."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return may_read(request)
        return _is_staff(request)


class SelectOpenOrStaff(BasePermission):
    """``POST /api/models/select``: staff only, unless ``ZOO_OPEN_SELECT`` opens it to
    every caller (a deployment behind the annotation tool's own server).

    CSRF stays sound either way: DRF checks the CSRF token of every request
    authenticated by a session, so a staff browser session must still send it; an
    anonymous call carries no session to ride on, and the setting lets it in anyway.
    """

    message = "Staff credentials are required to select a model (ZOO_OPEN_SELECT is off)."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(settings.ZOO_OPEN_SELECT) or _is_staff(request)


class ReadOnlyPost(BasePermission):
    """For a POST that changes nothing (``/api/models/validate``): open like a read."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return may_read(request)
