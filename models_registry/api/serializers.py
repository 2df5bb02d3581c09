"""Response shapes of both APIs, field for field as their documents give them.

These serializers only render (and document) what the selectors compute.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from fleet.models import EventKind, ModelEvent, ModelStatus


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


class DetailErrorSerializer(serializers.Serializer):
    """An error of the Model Zoo API."""

    detail = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    """An error of the Model Management API."""

    error = serializers.CharField()


# --- Model Zoo API -------------------------------------------------------------------


class ZooModelSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="Unique model identifier")
    display_name = serializers.CharField(help_text="Human-readable display name")
    vram_mb = serializers.IntegerField(help_text="Estimated memory when loaded, in MB")
    status = serializers.ChoiceField(choices=ModelStatus.choices, help_text="Current status")
    category = serializers.CharField(help_text="Model category (detection, classification, ...)")
    enabled = serializers.BooleanField(help_text="Whether the model is enabled for use")
    available = serializers.BooleanField(
        help_text="Whether the model has been successfully loaded at least once"
    )
    path = serializers.CharField(help_text="Hugging Face repo path or local file path")
    load_count = serializers.IntegerField(
        help_text="Current reference count: leases held on the model (0 if not loaded)"
    )


class ZooRegistrySerializer(serializers.Serializer):
    vram_budget_mb = serializers.IntegerField(
        source="budget.budget_mb",
        help_text="Memory budget of the zoo: its pool on each live device (excludes core models)",
    )
    vram_used_mb = serializers.IntegerField(
        source="budget.used_mb",
        help_text=(
            "Memory held by zoo models loaded or loading, each counted at the larger of its "
            "estimate and its measured size"
        ),
    )
    vram_available_mb = serializers.IntegerField(
        source="budget.available_mb", help_text="Budget left for more models; never negative"
    )
    models = ZooModelSerializer(source="rows", many=True)
    loading_strategy = serializers.SerializerMethodField(help_text='Always "sequential"')
    max_concurrent_models = serializers.SerializerMethodField(
        help_text="Loads in flight at once per device (always 1)"
    )

    def get_loading_strategy(self, obj: object) -> str:
        return "sequential"

    def get_max_concurrent_models(self, obj: object) -> int:
        return 1


class ZooCompactModelSerializer(serializers.Serializer):
    name = serializers.CharField()
    display_name = serializers.CharField()
    category = serializers.CharField(
        source="ui_category", help_text="UI category (Detection, Classification, ..., Other)"
    )
    status = serializers.ChoiceField(choices=ModelStatus.choices)
    vram_mb = serializers.IntegerField()
    last_used_at = serializers.DateTimeField(
        allow_null=True, help_text="Last usage timestamp (null if never used)"
    )
    enabled = serializers.BooleanField()


class ZooCompactStatusSerializer(serializers.Serializer):
    models = ZooCompactModelSerializer(source="rows", many=True)
    total_models = serializers.SerializerMethodField()
    loaded_count = serializers.IntegerField()
    disabled_count = serializers.IntegerField()
    vram_budget_mb = serializers.IntegerField(source="budget.budget_mb")
    vram_used_mb = serializers.IntegerField(source="budget.used_mb")
    timestamp = serializers.DateTimeField(source="taken_at", help_text="UTC time of the snapshot")

    def get_total_models(self, obj: object) -> int:
        return len(obj.rows)  # type: ignore[attr-defined]


class ModelEventSerializer(serializers.ModelSerializer):
    """One entry of the manager's decision log."""

    timestamp = serializers.DateTimeField(source="created_at")
    model = serializers.CharField(source="model_name")
    device = serializers.SerializerMethodField()
    kind = serializers.ChoiceField(choices=EventKind.choices)

    class Meta:
        model = ModelEvent
        fields = ["id", "timestamp", "model", "device", "kind", "reason", "memory_mb", "duration_s"]

    def get_device(self, event: ModelEvent) -> str | None:
        return str(event.device) if event.device else None


class ModelEventPageSerializer(serializers.Serializer):
    """One page of the decision log (cursor pagination)."""

    next = serializers.URLField(allow_null=True, help_text="The next (older) page, or null")
    previous = serializers.URLField(allow_null=True, help_text="The previous page, or null")
    results = ModelEventSerializer(many=True)


# --- Model Management API ------------------------------------------------------------


class TaskOptionSerializer(serializers.Serializer):
    model_id = serializers.CharField(help_text="Hugging Face model ID or local name")
    framework = serializers.CharField(
        required=False, help_text="Inference framework (sglang, vllm, transformers, ...)"
    )
    vram_mb = serializers.IntegerField(required=False, help_text="Memory requirement in MB")
    vram_gb = serializers.FloatField(required=False, help_text="Memory requirement in GB")
    speed = serializers.CharField(required=False, help_text="fast, medium or slow")
    description = serializers.CharField(required=False)
    fps = serializers.FloatField(required=False, help_text="Frames per second (VLMs)")


class TaskConfigSerializer(serializers.Serializer):
    selected = serializers.CharField(allow_null=True)
    options = serializers.DictField(child=TaskOptionSerializer())


class InferenceConfigSerializer(serializers.Serializer):
    max_memory_per_model = serializers.FloatField(help_text="GB")
    offload_threshold = serializers.FloatField()
    warmup_on_startup = serializers.BooleanField()
    default_batch_size = serializers.IntegerField()
    max_batch_size = serializers.IntegerField()


class ManagementConfigSerializer(serializers.Serializer):
    models = serializers.DictField(child=TaskConfigSerializer(), help_text="By task type")
    inference = InferenceConfigSerializer()
    cuda_available = serializers.BooleanField()
    total_vram_gb = serializers.FloatField(
        help_text="Total memory of the device (on the CPU: the machine's memory)"
    )


class LoadedModelSerializer(serializers.Serializer):
    model_id = serializers.CharField()
    memory_usage_gb = serializers.FloatField(
        help_text="Memory counted for the model: the larger of its estimate and measured size"
    )
    load_time = serializers.FloatField(help_text="How long the load took, in seconds")


class ManagementStatusSerializer(serializers.Serializer):
    loaded_models = serializers.DictField(child=LoadedModelSerializer(), help_text="By task")
    total_vram_allocated_gb = serializers.FloatField()
    total_vram_available_gb = serializers.FloatField(help_text="Total capacity of the device")
    cuda_available = serializers.BooleanField()
    device = serializers.CharField(help_text="PyTorch device string (cpu, cuda:0, ...)")


class SelectResultSerializer(serializers.Serializer):
    status = serializers.CharField(help_text='"success"')
    task_type = serializers.CharField()
    selected_model = serializers.CharField()
    model_id = serializers.CharField()
    message = serializers.CharField()


class RequirementSerializer(serializers.Serializer):
    model_name = serializers.CharField()
    vram_gb = serializers.FloatField()


class BudgetValidationSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    total_vram_gb = serializers.FloatField()
    total_required_gb = serializers.FloatField()
    threshold = serializers.FloatField()
    max_allowed_gb = serializers.FloatField(help_text="total_vram_gb × threshold")
    model_requirements = serializers.DictField(child=RequirementSerializer())
    warnings = serializers.ListField(child=serializers.CharField())
