"""Validation shared by the API and by models.yaml import: a serializer that refuses
unknown keys, and DRF's nested error details flattened into one sentence."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class StrictSerializer(serializers.Serializer):
    """Refuses keys it does not know: a misspelt field is an error, not ignored."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {"non_field_errors": [f"unknown field(s): {', '.join(map(str, unknown))}"]}
                )
        return super().to_internal_value(data)


def flatten(detail: Any, where: str = "") -> str:
    """One readable sentence from DRF's nested error details, each message prefixed with
    where it applies: ``frames[0].detections[2].bbox: ...``."""
    if isinstance(detail, dict):
        parts = []
        for field, value in detail.items():
            inner = where
            if field not in ("non_field_errors", "detail"):
                inner = f"{where}[{field}]" if isinstance(field, int) else _join(where, field)
            parts.append(flatten(value, inner))
        return "; ".join(part for part in parts if part)
    if isinstance(detail, list):
        if any(isinstance(item, dict | list) for item in detail):
            parts = [flatten(item, f"{where}[{i}]") for i, item in enumerate(detail) if item]
            return "; ".join(parts)
        text = " ".join(str(item) for item in detail)
        return f"{where}: {text}" if where else text
    return f"{where}: {detail}" if where else str(detail)


def _join(where: str, field: object) -> str:
    return f"{where}.{field}" if where else str(field)
