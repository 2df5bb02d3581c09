"""Error bodies of the two APIs, for the schema."""

from __future__ import annotations

from rest_framework import serializers


class DetailErrorSerializer(serializers.Serializer):
    """An error of the Model Zoo API."""

    detail = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    """An error of the Model Management API: the document's ``error``, and the same
    message under ``detail`` for clients (and proxies) that read that key."""

    error = serializers.CharField()
    detail = serializers.CharField(help_text="The same message as error")
