"""Error bodies of the two APIs, for the schema."""

from __future__ import annotations

from rest_framework import serializers


class DetailErrorSerializer(serializers.Serializer):
    """An error of the Model Zoo API."""

    detail = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    """An error of the Model Management API."""

    error = serializers.CharField()
