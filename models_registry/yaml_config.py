"""The Model Management document's ``models.yaml`` format, parsed and checked.

``parse_config`` turns YAML text into a validated document or raises ``ConfigError``
with every problem named; nothing is written here (see ``services.config_import``).
"""

from __future__ import annotations

from typing import Any

import yaml
from rest_framework import serializers

from core.serializers import StrictSerializer, flatten
from models_registry.models import Speed, TaskType

MAX_MB = 2**31 - 1  # the largest PositiveIntegerField


class ConfigError(ValueError):
    """The file is not a valid models.yaml; the message says where and why."""


class OptionSerializer(StrictSerializer):
    model_id = serializers.CharField(max_length=300)
    framework = serializers.CharField(max_length=50, required=False, allow_blank=True)
    # Bounded by what the registry stores (a 32-bit count of MB): 1e308 GB is refused
    # with the field's name, not an overflow.
    vram_gb = serializers.FloatField(required=False, min_value=0, max_value=MAX_MB / 1024)
    vram_mb = serializers.IntegerField(required=False, min_value=0, max_value=MAX_MB)
    speed = serializers.ChoiceField(choices=Speed.values, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    fps = serializers.FloatField(required=False, min_value=0, max_value=1e6, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("vram_gb" in attrs) == ("vram_mb" in attrs):
            raise serializers.ValidationError("give exactly one of vram_gb and vram_mb")
        return attrs


class TaskSerializer(StrictSerializer):
    selected = serializers.CharField(allow_null=True, required=False)
    options = serializers.DictField(child=OptionSerializer(), allow_empty=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        selected = attrs.get("selected")
        if selected is not None and selected not in attrs["options"]:
            raise serializers.ValidationError(
                f"selected model '{selected}' is not one of this task's options"
            )
        return attrs


class InferenceSerializer(StrictSerializer):
    max_memory_per_model = serializers.FloatField(
        required=False, min_value=0, max_value=MAX_MB / 1024
    )
    offload_threshold = serializers.FloatField(required=False, min_value=0.05, max_value=1.0)
    warmup_on_startup = serializers.BooleanField(required=False)
    default_batch_size = serializers.IntegerField(required=False, min_value=1, max_value=MAX_MB)
    max_batch_size = serializers.IntegerField(required=False, min_value=1, max_value=MAX_MB)


class ConfigSerializer(StrictSerializer):
    tasks = serializers.DictField(child=TaskSerializer(), required=False)
    inference = InferenceSerializer(required=False)

    def validate_tasks(self, tasks: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(tasks) - set(TaskType.values))
        if unknown:
            raise serializers.ValidationError(
                f"unknown task(s) {', '.join(unknown)}; expected {', '.join(TaskType.values)}"
            )
        return tasks


def parse_config(text: str) -> dict[str, Any]:
    """The validated document, or ``ConfigError``."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError("the file must hold a mapping with 'tasks' and/or 'inference'")
    serializer = ConfigSerializer(data=data)
    if not serializer.is_valid():
        raise ConfigError(flatten(serializer.errors))
    return serializer.validated_data


def dump_config(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
