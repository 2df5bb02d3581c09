"""Error bodies of the two APIs, for the schema."""

from __future__ import annotations

from rest_framework import serializers


class DetailErrorSerializer(serializers.Serializer):
    """An error of the Model Zoo API."""

    detail = serializers.CharField()


class ValidationProblemSerializer(serializers.Serializer):
    field = serializers.CharField(help_text='Where, e.g. "query.since"')
    message = serializers.CharField()
    value = serializers.CharField(allow_null=True, help_text="The value given, if any")


class ValidationEnvelopeSerializer(serializers.Serializer):
    code = serializers.CharField(help_text='"VALIDATION_ERROR"')
    message = serializers.CharField(help_text='"Request validation failed"')

    def get_fields(self) -> dict[str, serializers.Field]:
        # Declared here: a class attribute "errors" would shadow Serializer.errors.
        return {**super().get_fields(), "errors": ValidationProblemSerializer(many=True)}


class QueryValidationErrorSerializer(serializers.Serializer):
    """A 422 of the Model Zoo API: the document's ``detail``, and the validation envelope
    of the home-security backend whose client this API serves."""

    detail = serializers.CharField()
    error = ValidationEnvelopeSerializer()


class ErrorSerializer(serializers.Serializer):
    """An error of the Model Management API: the document's ``error``, and the same
    message under ``detail`` for clients (and proxies) that read that key."""

    error = serializers.CharField()
    detail = serializers.CharField(help_text="The same message as error")
