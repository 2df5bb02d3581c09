"""How the OpenAPI schema describes who may call what."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.openapi import AutoSchema
from rest_framework.permissions import SAFE_METHODS

from api.permissions import ReadOnlyPost


class ZooAutoSchema(AutoSchema):
    """Marks open reads as callable without credentials (``{}`` in ``security``):
    drf-spectacular only knows DRF's own permission classes, not ours."""

    def get_auth(self) -> list[dict[str, Any]]:
        auths: list[dict[str, Any]] = super().get_auth()
        permissions = [type(permission) for permission in self.view.get_permissions()]
        reads = self.method in SAFE_METHODS or ReadOnlyPost in permissions
        if reads and not settings.ZOO_READS_REQUIRE_AUTH and {} not in auths:
            auths.append({})
        return auths
