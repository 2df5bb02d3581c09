"""The operator's editing UI: models, task selections, settings, trigger rules, devices."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from models_registry import services
from models_registry.models import (
    Device,
    InferenceSettings,
    ModelEntry,
    ModelEvent,
    ModelState,
    ModelStatus,
    Task,
    TaskOption,
    TriggerRule,
)


class StatusFilter(admin.SimpleListFilter):
    """Filter models by their runtime status on any device."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return list(ModelStatus.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if not value:
            return queryset
        if value == ModelStatus.DISABLED:
            return queryset.filter(enabled=False)
        if value == ModelStatus.UNLOADED:
            return queryset.exclude(
                states__status__in=[ModelStatus.LOADED, ModelStatus.LOADING, ModelStatus.ERROR]
            )
        return queryset.filter(states__status=value).distinct()


class TaskOptionInline(admin.TabularInline):
    model = TaskOption
    extra = 0
    autocomplete_fields = ["model"]


_STATE_FIELDS = (
    "device",
    "status",
    "load_count",
    "measured_mb",
    "loaded_at",
    "last_used_at",
    "load_duration_s",
    "last_error",
    "error_count",
)


class ModelStateInline(admin.TabularInline):
    model = ModelState
    extra = 0
    can_delete = False
    fields = _STATE_FIELDS
    readonly_fields = _STATE_FIELDS

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(ModelEntry)
class ModelEntryAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "display_name",
        "category",
        "vram_mb",
        "in_zoo",
        "enabled",
        "disabled_reason",
        "pinned",
        "priority",
    ]
    list_filter = ["category", "task_options__task", "in_zoo", "enabled", StatusFilter, "loader"]
    list_editable = ["pinned", "priority"]
    search_fields = ["name", "display_name", "model_id", "description", "path"]
    actions = ["enable_models", "disable_models"]
    inlines = [ModelStateInline]
    fieldsets = [
        (None, {"fields": ["name", "display_name", "description", "category", "in_zoo"]}),
        ("Weights", {"fields": ["loader", "model_id", "path", "framework"]}),
        ("Memory and speed", {"fields": ["vram_mb", "vram_unit", "speed", "fps"]}),
        ("Operation", {"fields": ["enabled", "disabled_reason", "pinned", "priority", "position"]}),
    ]

    @admin.action(description="Enable selected models")
    def enable_models(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = services.models_set_enabled(
            names=queryset.values_list("name", flat=True), enabled=True
        )
        self.message_user(request, f"Enabled {count} model(s).", messages.SUCCESS)

    @admin.action(description="Disable selected models")
    def disable_models(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = services.models_set_enabled(
            names=queryset.values_list("name", flat=True),
            enabled=False,
            reason=f"Disabled by {request.user.get_username()} in the admin",
        )
        self.message_user(request, f"Disabled {count} model(s).", messages.SUCCESS)


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["name", "selected", "updated_at"]
    inlines = [TaskOptionInline]
    autocomplete_fields = ["selected"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # the three tasks are fixed by the API

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(InferenceSettings)
class InferenceSettingsAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "offload_threshold",
        "zoo_vram_budget_mb",
        "max_memory_per_model",
        "warmup_on_startup",
        "cpu_fallback",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not InferenceSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(TriggerRule)
class TriggerRuleAdmin(admin.ModelAdmin):
    list_display = ["label", "model", "position"]
    list_filter = ["label"]
    search_fields = ["label", "model__name"]
    autocomplete_fields = ["model"]


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ["name", "host", "kind", "total_memory_mb", "budget_mb", "heartbeat_at"]
    list_filter = ["kind", "host"]
    readonly_fields = ["heartbeat_at"]


@admin.register(ModelState)
class ModelStateAdmin(admin.ModelAdmin):
    list_display = [
        "model",
        "device",
        "status",
        "load_count",
        "measured_mb",
        "last_used_at",
        "load_duration_s",
        "error_count",
    ]
    list_filter = ["status", "device"]
    search_fields = ["model__name", "last_error"]
    list_select_related = ["model", "device"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # written by the workers

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(ModelEvent)
class ModelEventAdmin(admin.ModelAdmin):
    """The decision log, read-only: what the managers did and why."""

    list_display = ["created_at", "kind", "model_name", "device", "memory_mb", "reason"]
    list_filter = ["kind", "device"]
    search_fields = ["model_name", "reason"]
    date_hierarchy = "created_at"
    list_select_related = ["device"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
