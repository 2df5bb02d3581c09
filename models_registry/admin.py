"""The operator's editing UI: models, task selections, settings, trigger rules.

What workers did with each model (its state on each device) is added to the model
pages by ``fleet.admin``."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from models_registry import services
from models_registry.models import InferenceSettings, ModelEntry, Task, TaskOption, TriggerRule


class TaskOptionInline(admin.TabularInline):
    model = TaskOption
    extra = 0
    autocomplete_fields = ["model"]


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
    list_filter = ["category", "task_options__task", "in_zoo", "enabled", "loader"]
    list_editable = ["pinned", "priority"]
    search_fields = ["name", "display_name", "model_id", "description", "path"]
    actions = ["enable_models", "disable_models"]
    fieldsets = [
        (None, {"fields": ["name", "display_name", "description", "category", "in_zoo"]}),
        ("Weights", {"fields": ["loader", "model_id", "path", "framework"]}),
        ("Memory and speed", {"fields": ["vram_mb", "vram_unit", "speed", "fps"]}),
        (
            "Remote (server-run and external API options)",
            {"fields": ["server_url", "server_device"]},
        ),
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
    list_display = ["name", "selected", "priority", "updated_at"]
    list_editable = ["priority"]
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
        "zoo_cpu_fallback",
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
