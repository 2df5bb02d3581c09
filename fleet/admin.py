"""The runtime truth in the admin, read-only: devices, model states, the decision log.

It also adds to the registry's model pages what only the fleet knows: each model's
state on every device (an inline) and a filter by runtime status.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from fleet.models import Device, ModelEvent, ModelState, ModelStatus
from models_registry.admin import ModelEntryAdmin
from models_registry.models import ModelEntry


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


class ModelEntryWithStateAdmin(ModelEntryAdmin):
    """The registry's model admin, with each model's runtime state beside it."""

    list_filter = [*ModelEntryAdmin.list_filter[:4], StatusFilter, *ModelEntryAdmin.list_filter[4:]]
    inlines = [*ModelEntryAdmin.inlines, ModelStateInline]


admin.site.unregister(ModelEntry)
admin.site.register(ModelEntry, ModelEntryWithStateAdmin)


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
