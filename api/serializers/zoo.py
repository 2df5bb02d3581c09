"""Response shapes of the Model Zoo API, field for field as its document gives them.

These serializers only render (and document) what the selectors compute.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from fleet.disclosure import public_device, public_path, public_reason
from fleet.models import EventKind, ModelEvent, ModelStatus

# Serializer context key: render for an anonymous reader (fleet.disclosure).
PUBLIC = "public"


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
    path = serializers.CharField(
        help_text=(
            "Hugging Face repo path or local file path; a local path is shown to signed-in "
            'readers only (anonymous readers get "")'
        )
    )
    load_count = serializers.IntegerField(
        help_text="Current reference count: leases held on the model (0 if not loaded)"
    )
    fits_pool = serializers.BooleanField(
        help_text=(
            "Whether vram_mb fits pool_mb. False: the model can never load on the GPU "
            "here (a load is refused before anything happens and batches skip it with "
            "the reason), unless zoo CPU fallback places it on the CPU; not a failure, "
            "its status stays unloaded. Beyond the document, additive"
        )
    )
    pool_mb = serializers.IntegerField(
        help_text=(
            "The room it is judged against: for a zoo model the zoo pool of one device "
            "(zoo_vram_budget_mb, or the device's whole budget where smaller; the "
            "largest over the live devices), for a task model the largest device budget. "
            "Beyond the document, additive"
        )
    )

    def to_representation(self, instance: Any) -> Any:
        data = super().to_representation(instance)
        if self.context.get(PUBLIC):
            data["path"] = public_path(data["path"])
        return data


class ZooModelDetailSerializer(ZooModelSerializer):
    """One model (``GET /api/system/models/{name}``): the document's fields, and why it
    is disabled (the reasons of the document's "Disabled Models" table)."""

    disabled_reason = serializers.SerializerMethodField(
        help_text="Why the model is disabled, as the registry records it; null when enabled"
    )

    def get_disabled_reason(self, row: object) -> str | None:
        if getattr(row, "enabled", True):
            return None
        return getattr(row, "disabled_reason", "") or None


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
    fits_pool = serializers.BooleanField(
        help_text="Whether vram_mb fits the zoo pool of one device (see the registry's)"
    )
    pool_mb = serializers.IntegerField(help_text="The zoo pool of one device, in MB")


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
        extra_kwargs = {
            "reason": {
                "help_text": (
                    "What happened and why; anonymous readers get the cause's label only "
                    '("Evicted to make room"), which names no batch, path or host'
                )
            }
        }

    def get_device(self, event: ModelEvent) -> str | None:
        """``host/device`` for signed-in readers, the device name alone for anonymous ones."""
        if self.context.get(PUBLIC):
            return public_device(event.device)
        return str(event.device) if event.device else None

    def to_representation(self, instance: Any) -> Any:
        data = super().to_representation(instance)
        if self.context.get(PUBLIC):
            data["reason"] = public_reason(instance)
        return data


class ModelEventPageSerializer(serializers.Serializer):
    """One page of the decision log (cursor pagination)."""

    next = serializers.URLField(allow_null=True, help_text="The next (older) page, or null")
    previous = serializers.URLField(allow_null=True, help_text="The previous page, or null")
    results = ModelEventSerializer(many=True)
